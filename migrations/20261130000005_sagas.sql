-- Durable order deadlines of the place-order saga (docs/architecture.md §2.7, ADR 0013).
--
-- The order participant schedules a row when it sees `OrderPlaced` and removes it when the
-- order is confirmed or final. The deadline watcher takes due rows with
-- `FOR UPDATE SKIP LOCKED` (so several watchers share the work), expires the order through
-- the event store, and deletes the row in the same transaction that held the lock: a crash
-- in between leaves the row, and expiring an order again changes nothing.
CREATE TABLE order_deadlines (
    order_id       text        PRIMARY KEY,
    deadline       timestamptz NOT NULL,
    -- Of the `OrderPlaced` event: the expiry continues its trace and flow.
    correlation_id uuid,
    causation_id   uuid,
    traceparent    text,
    scheduled_at   timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX order_deadlines_due ON order_deadlines (deadline);
