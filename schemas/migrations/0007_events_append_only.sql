-- The event log is append-only, by the database's own rule and not only by the code's habit.
--
-- Every fact of Loopync (money moved, accounts made, sessions ended) is a row of `events`, and
-- the ledger's hash chains prove that no row was edited. This trigger makes editing or deleting
-- one fail outright for every role the application and its workers use: an UPDATE, DELETE or
-- TRUNCATE of `events` raises an error and changes nothing. Only the table's owner can switch
-- the trigger off (`ALTER TABLE events DISABLE TRIGGER ...`), which is itself visible in the
-- server's log; the ledger audit then still catches what was changed.

CREATE FUNCTION events_are_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the event log is append-only: % on events is refused', TG_OP
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'events are never changed: append a compensating event instead';
END;
$$;

CREATE TRIGGER events_append_only_rows
    BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION events_are_append_only();

CREATE TRIGGER events_append_only_truncate
    BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_are_append_only();
