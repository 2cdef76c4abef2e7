-- Events a projection could not apply, parked so that one poisoned event does not stop the
-- read model (balances going stale, due holds never found).
--
-- When a batch fails with an error that would fail again (a payload the projection cannot
-- decode, a value its tables refuse), the runner bisects the batch down to the event at fault,
-- records it here with the error, and moves its checkpoint past it, in one transaction. An
-- operator lists them (`loopync projections failed`), applies one again once the code is fixed
-- (`loopync projections retry NAME POSITION`), or accepts its loss (`... skip NAME POSITION`).
-- Transient errors (the database unreachable, a serialization failure) are never parked: the
-- batch is retried with back-off.

CREATE TABLE projection_dead_letters (
    projection text NOT NULL,
    generation int NOT NULL,
    -- The event's place in the log (its `global_position` is the operator's handle).
    transaction_id xid8 NOT NULL,
    global_position bigint NOT NULL,
    event_id uuid NOT NULL,
    event_type text NOT NULL,
    error text NOT NULL,
    parked_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (projection, generation, global_position)
);
