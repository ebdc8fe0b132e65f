-- Webhook deliveries are signed: HMAC-SHA256 of the body under a per-webhook secret, sealed here
-- under the master key (purpose "webhook:<id>"). Webhooks added before have none (unsigned).
ALTER TABLE webhooks ADD COLUMN secret TEXT NOT NULL DEFAULT '';
