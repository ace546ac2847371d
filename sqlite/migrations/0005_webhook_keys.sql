-- Event Webhook verification keys, one per account: SendGrid's ECDSA P-256
-- public key as the base64 DER text SendGrid shows (webhook.go).
CREATE TABLE webhook_keys (
    account_id INTEGER PRIMARY KEY REFERENCES accounts(id),
    public_key TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);
