-- The notification names the writing transaction (`pg_current_xact_id()`, what its events'
-- `transaction_id` holds), so that the relay looks again soon only while a notified event is
-- still held back by an older open transaction, instead of every 2 ms after any wake-up
-- (relay/src/wake.rs, ADR 0018).
CREATE OR REPLACE FUNCTION causeway_events_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('causeway_events', pg_current_xact_id()::text);
    RETURN NULL;
END
$$;
