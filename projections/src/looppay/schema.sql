-- LoopPay ledger read model (projection `looppay_ledger`): created in each generation's schema
-- (`proj_looppay_ledger_g<n>`); readers use the views `read_models.<table>`.
-- One row per wallet (user wallets and system.escrow): its balances after its last event.
CREATE TABLE IF NOT EXISTS wallet_balances (
    account text PRIMARY KEY,
    available bigint NOT NULL,
    held bigint NOT NULL,
    -- The wallet's last event sequence (its chain length) and that event's hash.
    sequence bigint NOT NULL,
    last_hash text NOT NULL,
    last_position bigint NOT NULL,
    -- When the wallet's last event occurred.
    updated_at timestamptz NOT NULL
);
-- One row per wallet event that moved credits, with the balances it left behind.
CREATE TABLE IF NOT EXISTS wallet_transactions (
    account text NOT NULL,
    sequence bigint NOT NULL,
    global_position bigint NOT NULL,
    -- top_up, transfer_sent, transfer_received, payment_sent, payment_received, hold_placed,
    -- hold_captured, hold_released, refund_sent or refund_received.
    kind text NOT NULL,
    entry_id uuid NOT NULL,
    amount bigint NOT NULL,
    available_delta bigint NOT NULL,
    held_delta bigint NOT NULL,
    available_after bigint NOT NULL,
    held_after bigint NOT NULL,
    counterparty text,
    payment_id uuid,
    top_up_id uuid,
    reference text,
    note text,
    occurred_at timestamptz NOT NULL,
    PRIMARY KEY (account, sequence)
);
-- Statements by period, and balances at an instant.
CREATE INDEX IF NOT EXISTS wallet_transactions_by_time ON wallet_transactions (account, occurred_at, sequence);
-- One row per payment stream.
CREATE TABLE IF NOT EXISTS ledger_payments (
    payment_id uuid PRIMARY KEY,
    payer text NOT NULL,
    payee text NOT NULL,
    -- held, paid, voided or expired.
    status text NOT NULL,
    -- Held (while held) or paid amount.
    amount bigint NOT NULL,
    refunded bigint NOT NULL,
    reference text NOT NULL,
    expires_at timestamptz,
    updated_at timestamptz NOT NULL
);
-- One row per top-up.
CREATE TABLE IF NOT EXISTS ledger_top_ups (
    top_up_id uuid PRIMARY KEY,
    account text NOT NULL,
    amount bigint NOT NULL,
    -- pending, confirmed, failed or expired.
    status text NOT NULL,
    requested_at timestamptz NOT NULL,
    settled_at timestamptz
);
