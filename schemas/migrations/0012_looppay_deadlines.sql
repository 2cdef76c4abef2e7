-- LoopPay's deadlines, kept current by the event store itself.
--
-- Two things in LoopPay must happen at a time rather than on a request: a hold that reaches its
-- expiry gives its credits back, and a top-up left unconfirmed past the pending window expires.
-- The jobs that do them need to find what is due. A read model is the wrong place to look: it
-- lags, and a projection that stalls (a poisoned event, a dead worker) would leave due holds
-- unfound and credits locked. So the two indexes below are filled and cleared by triggers on
-- `events`, in the transaction that appends the event: the moment a hold or a pending top-up is
-- committed, so is its deadline, and the moment it is settled its row is gone.
--
-- They only *find* candidates. Whether a hold or a top-up expires is decided by its aggregate
-- against the event store, with expected versions, so a stale or duplicated row can cause
-- nothing but a decision that appends nothing.
--
-- The triggers read the payloads of schema version 1 of the event types they watch
-- (`payment.authorized`'s `payer` and `expiresAt`, the wallet entries' `topUpId`, `account`,
-- `amount` and `occurredAt`). A new version of one of these types must update them; a test in
-- the workers (`deadline_triggers_read_the_current_event_versions`) fails until it is looked at.

-- Holds not yet captured, voided or expired, by expiry.
CREATE TABLE looppay_hold_deadlines (
    -- The hold's payment (its stream is `payment-<id>`).
    payment_id uuid PRIMARY KEY,
    -- The paying account, whose wallet the release credits back (a user id or `system.escrow`).
    payer text NOT NULL,
    expires_at timestamptz NOT NULL
);

-- The expiry job reads the earliest deadlines first.
CREATE INDEX looppay_hold_deadlines_due ON looppay_hold_deadlines (expires_at, payment_id);

-- Top-ups requested from a provider that confirms later and not yet confirmed, failed or expired.
CREATE TABLE looppay_pending_top_ups (
    top_up_id uuid PRIMARY KEY,
    -- The wallet's account (a user id).
    account text NOT NULL,
    amount bigint NOT NULL,
    -- When it was requested (the event's `occurredAt`): the pending window runs from here.
    requested_at timestamptz NOT NULL
);

CREATE INDEX looppay_pending_top_ups_due ON looppay_pending_top_ups (requested_at, top_up_id);

-- Both functions skip an event whose ids are not UUIDs rather than fail its append: every
-- payment stream and top-up id the product writes is one, and a trigger must never be the reason
-- a command is refused.
CREATE FUNCTION looppay_track_hold_deadline() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.stream_name !~ '^payment-[0-9a-fA-F-]{36}$' THEN
        RETURN NULL;
    END IF;
    IF NEW.event_type = 'payment.authorized' THEN
        INSERT INTO looppay_hold_deadlines (payment_id, payer, expires_at)
        VALUES (
            substr(NEW.stream_name, length('payment-') + 1)::uuid,
            NEW.payload->>'payer',
            (NEW.payload->>'expiresAt')::timestamptz
        )
        ON CONFLICT (payment_id) DO NOTHING;
    ELSE
        -- payment.captured, payment.voided, payment.expired: the hold is settled.
        DELETE FROM looppay_hold_deadlines
        WHERE payment_id = substr(NEW.stream_name, length('payment-') + 1)::uuid;
    END IF;
    RETURN NULL;
END;
$$;

CREATE FUNCTION looppay_track_pending_top_up() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF coalesce(NEW.payload->>'topUpId', '') !~ '^[0-9a-fA-F-]{36}$' THEN
        RETURN NULL;
    END IF;
    IF NEW.event_type = 'wallet.top_up_requested' THEN
        INSERT INTO looppay_pending_top_ups (top_up_id, account, amount, requested_at)
        VALUES (
            (NEW.payload->>'topUpId')::uuid,
            NEW.payload->>'account',
            (NEW.payload->>'amount')::bigint,
            (NEW.payload->>'occurredAt')::timestamptz
        )
        ON CONFLICT (top_up_id) DO NOTHING;
    ELSE
        -- wallet.topped_up, wallet.top_up_failed, wallet.top_up_expired: settled. (A top-up
        -- confirmed at once has no row; the delete finds nothing.)
        DELETE FROM looppay_pending_top_ups WHERE top_up_id = (NEW.payload->>'topUpId')::uuid;
    END IF;
    RETURN NULL;
END;
$$;

-- AFTER, so that only rows really inserted count (an append that loses its version race inserts
-- nothing); WHEN, so that every other event costs one comparison and no function call.
-- Creating the triggers first also locks `events` against appends until this migration commits,
-- so the backfill below cannot miss an event appended while it runs.
CREATE TRIGGER looppay_hold_deadlines_track
    AFTER INSERT ON events
    FOR EACH ROW
    WHEN (NEW.event_type IN ('payment.authorized', 'payment.captured', 'payment.voided', 'payment.expired'))
    EXECUTE FUNCTION looppay_track_hold_deadline();

CREATE TRIGGER looppay_pending_top_ups_track
    AFTER INSERT ON events
    FOR EACH ROW
    WHEN (NEW.event_type IN ('wallet.top_up_requested', 'wallet.topped_up', 'wallet.top_up_failed', 'wallet.top_up_expired'))
    EXECUTE FUNCTION looppay_track_pending_top_up();

-- Backfill from the events already stored: holds authorized and not settled since, top-ups
-- requested and not settled since.
INSERT INTO looppay_hold_deadlines (payment_id, payer, expires_at)
SELECT substr(held.stream_name, length('payment-') + 1)::uuid,
       held.payload->>'payer',
       (held.payload->>'expiresAt')::timestamptz
FROM events held
WHERE held.event_type = 'payment.authorized'
  AND held.stream_name ~ '^payment-[0-9a-fA-F-]{36}$'
  AND NOT EXISTS (
      SELECT 1 FROM events settled
      WHERE settled.stream_name = held.stream_name
        AND settled.event_type IN ('payment.captured', 'payment.voided', 'payment.expired')
  )
ON CONFLICT (payment_id) DO NOTHING;

INSERT INTO looppay_pending_top_ups (top_up_id, account, amount, requested_at)
SELECT (requested.payload->>'topUpId')::uuid,
       requested.payload->>'account',
       (requested.payload->>'amount')::bigint,
       (requested.payload->>'occurredAt')::timestamptz
FROM events requested
WHERE requested.event_type = 'wallet.top_up_requested'
  AND requested.payload->>'topUpId' ~ '^[0-9a-fA-F-]{36}$'
  AND NOT EXISTS (
      SELECT 1 FROM events settled
      WHERE settled.stream_name = requested.stream_name
        AND settled.event_type IN ('wallet.topped_up', 'wallet.top_up_failed', 'wallet.top_up_expired')
        AND settled.payload->>'topUpId' = requested.payload->>'topUpId'
  )
ON CONFLICT (top_up_id) DO NOTHING;

-- Roles (0010_roles.sql): the triggers run as whoever appends the event (the API, and the
-- workers, whose expiry jobs append), and the expiry jobs read what is due.
GRANT SELECT, INSERT, DELETE ON looppay_hold_deadlines, looppay_pending_top_ups TO loopync_app, loopync_workers;
