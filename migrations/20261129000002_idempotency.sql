-- Idempotency keys of the command API (docs/adr/0005-command-api-idempotency.md).
--
-- One row per (caller, key): the fingerprint of the first request (SHA-256 of method, path
-- and body), and once it has a final answer, that answer. A row is inserted, committed, as
-- `in_progress` before the command runs, so an attempt that dies leaves a trace; whoever
-- holds the key's advisory lock and finds the row still `in_progress` knows that attempt
-- ended without an answer and recovers (see the ADR).
CREATE TABLE idempotency_keys (
    caller          text        NOT NULL,
    idempotency_key text        NOT NULL,
    request_hash    bytea       NOT NULL CHECK (length(request_hash) = 32),
    status          text        NOT NULL CHECK (status IN ('in_progress', 'completed')),
    response_status smallint,
    response_body   jsonb,
    created_at      timestamptz NOT NULL DEFAULT now(),
    completed_at    timestamptz,
    PRIMARY KEY (caller, idempotency_key),
    -- A completed row has its whole answer; an in-progress row has none of it.
    CHECK ((status = 'completed') = (response_status IS NOT NULL)),
    CHECK ((status = 'completed') = (response_body IS NOT NULL)),
    CHECK ((status = 'completed') = (completed_at IS NOT NULL))
);

-- For purging old keys.
CREATE INDEX idempotency_keys_created_at ON idempotency_keys (created_at);
