-- Payment-provider webhook deliveries already accepted, by the SHA-256 of their signature
-- header: a delivery replayed verbatim is refused even inside the signature's time tolerance.
-- (A provider's genuine retry is signed afresh, and the wallet applies a confirmation once
-- whatever arrives.) Rows older than a day are swept by the worker's housekeeping.
CREATE TABLE looppay_webhook_receipts (
    provider text NOT NULL,
    signature_sha256 bytea NOT NULL,
    -- The provider's id of the notice, for support questions.
    notice_id text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (provider, signature_sha256)
);

CREATE INDEX looppay_webhook_receipts_received_at ON looppay_webhook_receipts (received_at);
