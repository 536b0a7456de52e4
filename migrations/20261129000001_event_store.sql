-- The event store: postgres-es' `events` and `snapshots` tables, extended for the relay.
--
-- `events` is also the outbox (docs/architecture.md §1.3): the relay publishes rows in commit order.
-- `global_position` orders rows by insert, but positions are handed out before commit, so a
-- row with a lower position can become visible after a higher one. `transaction_id` records the
-- writing transaction, so the relay reads only rows whose transaction is older than every
-- transaction still running (`pg_snapshot_xmin(pg_current_snapshot())`), and never skips an
-- event that commits late.
CREATE TABLE events (
    aggregate_type  text        NOT NULL,
    aggregate_id    text        NOT NULL,
    sequence        bigint      NOT NULL CHECK (sequence >= 0),
    event_type      text        NOT NULL,
    event_version   text        NOT NULL,
    payload         jsonb       NOT NULL,
    metadata        jsonb       NOT NULL,
    global_position bigint      GENERATED ALWAYS AS IDENTITY,
    transaction_id  xid8        NOT NULL DEFAULT pg_current_xact_id(),
    recorded_at     timestamptz NOT NULL DEFAULT now(),
    -- Optimistic concurrency: two writers of the same aggregate version collide here (23505).
    PRIMARY KEY (aggregate_type, aggregate_id, sequence)
);

CREATE UNIQUE INDEX events_global_position ON events (global_position);
CREATE INDEX events_transaction_position ON events (transaction_id, global_position);

-- One row per aggregate: its state after `last_sequence`, written every N events.
CREATE TABLE snapshots (
    aggregate_type   text   NOT NULL,
    aggregate_id     text   NOT NULL,
    last_sequence    bigint NOT NULL CHECK (last_sequence >= 0),
    snapshot_version bigint NOT NULL CHECK (snapshot_version >= 0),
    payload          jsonb  NOT NULL,
    PRIMARY KEY (aggregate_type, aggregate_id)
);
