-- Least privilege (docs/security.md "Postgres roles", ADR 0022). The owner that runs these
-- migrations owns every table; each Causeway role logs in as a user that is a member of one
-- of these group roles and can do what that role needs, nothing more:
--
--   causeway_command    command API and saga participants: append and load events and
--                       snapshots, idempotency records, order deadlines; no read model
--   causeway_relay      read the event table
--   causeway_projector  projection workers: write the read models and their offsets
--   causeway_reader     read API: read the read models
--
-- The group roles are cluster-wide. They are created here when the migrating user may
-- create roles; otherwise a DBA creates them (NOLOGIN) and runs `SELECT
-- causeway_grant_access()` as the owner. Login users are granted membership by whoever
-- manages credentials (see k8s/README.md).

DO $$
DECLARE
    role_name text;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = current_user
                   AND (rolsuper OR rolcreaterole)) THEN
        RAISE NOTICE 'causeway: % may not create roles; create the group roles yourself', current_user;
        RETURN;
    END IF;
    FOREACH role_name IN ARRAY ARRAY['causeway_command', 'causeway_relay',
                                     'causeway_projector', 'causeway_reader'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = role_name) THEN
            BEGIN
                EXECUTE format('CREATE ROLE %I NOLOGIN', role_name);
            EXCEPTION WHEN duplicate_object OR unique_violation THEN
                -- Another database's migration created it at the same moment.
                NULL;
            END;
        END IF;
    END LOOP;
END
$$;

-- Grants the group roles that exist what they need on this database's tables. Idempotent;
-- run again by a projection rebuild after it swaps in new tables (projections/src/rebuild),
-- which carry no grants.
CREATE OR REPLACE FUNCTION causeway_grant_access() RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    read_models text := 'customers, inventory_view, notifications, order_lines, orders, '
                        'payments, saga_timeline, projection_offsets';
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'causeway_command') THEN
        GRANT SELECT, INSERT ON events TO causeway_command;
        GRANT SELECT, INSERT, UPDATE ON snapshots TO causeway_command;
        GRANT SELECT, INSERT, UPDATE, DELETE ON idempotency_keys, order_deadlines
            TO causeway_command;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'causeway_relay') THEN
        GRANT SELECT ON events TO causeway_relay;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'causeway_projector') THEN
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %s TO causeway_projector',
                       read_models);
    END IF;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'causeway_reader') THEN
        EXECUTE format('GRANT SELECT ON %s TO causeway_reader', read_models);
    END IF;
END
$$;

SELECT causeway_grant_access();
