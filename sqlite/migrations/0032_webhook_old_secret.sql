-- segmentd schema, version 32: a rotated webhook secret's grace
-- (docs/webhooks.md, "Rotating the secret"). old_secret is the secret the
-- last rotation replaced ('' when none), which signs every message beside
-- the new one until old_secret_until (Unix milliseconds).
ALTER TABLE webhook_subscriptions ADD COLUMN old_secret TEXT NOT NULL DEFAULT '';
ALTER TABLE webhook_subscriptions ADD COLUMN old_secret_until INTEGER NOT NULL DEFAULT 0;
