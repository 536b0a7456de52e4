-- The relay waits for new events on NOTIFY instead of polling (relay/src/wake.rs, ADR 0018).
-- One notification per inserting statement; Postgres folds repeats within a transaction.
CREATE FUNCTION causeway_events_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('causeway_events', '');
    RETURN NULL;
END
$$;

CREATE TRIGGER events_notify
AFTER INSERT ON events
FOR EACH STATEMENT EXECUTE FUNCTION causeway_events_notify();
