-- Run once by the postgres:15 image (compose.yaml) on an empty data volume,
-- after it created the role and database `causeway` from POSTGRES_USER/DB.
-- The schema registry (Apicurio) keeps its schemas in their own database,
-- and so does the OpenID Connect provider (Hydra).
CREATE DATABASE apicurio OWNER causeway;
CREATE DATABASE hydra OWNER causeway;
