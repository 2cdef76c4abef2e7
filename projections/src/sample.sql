-- The sample wallet's read model (projection `sample_wallet_balances`), the core's reference
-- for its tests and bench-core; created in each generation's schema.
-- One row per wallet: the balance after its last event and how many events it has seen.
CREATE TABLE IF NOT EXISTS sample_wallet_balances (
    wallet_id text PRIMARY KEY,
    balance bigint NOT NULL,
    operations bigint NOT NULL,
    last_position bigint NOT NULL
);
-- Every movement in log order, with the balance it left behind.
CREATE TABLE IF NOT EXISTS sample_wallet_movements (
    global_position bigint PRIMARY KEY,
    wallet_id text NOT NULL,
    amount bigint NOT NULL,
    balance_after bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS sample_wallet_movements_by_wallet ON sample_wallet_movements (wallet_id, global_position);
