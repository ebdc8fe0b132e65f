-- Vault metadata, version 1. Times are Unix nanoseconds (BIGINT), 0 = none.

CREATE TABLE secrets (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    created BIGINT NOT NULL
);

CREATE TABLE vaults (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    storage_url TEXT NOT NULL,
    store_password TEXT NOT NULL,
    target_provider TEXT NOT NULL,
    target_location TEXT NOT NULL,
    target_resource_group TEXT NOT NULL,
    target_network TEXT NOT NULL,
    desired_version BIGINT NOT NULL,
    created BIGINT NOT NULL
);

CREATE TABLE registration_keys (
    id TEXT PRIMARY KEY,
    vault_id TEXT NOT NULL REFERENCES vaults(id) ON DELETE CASCADE,
    created_by TEXT NOT NULL,
    issued BIGINT NOT NULL,
    expires BIGINT NOT NULL,
    used BIGINT NOT NULL,
    used_by TEXT NOT NULL
);

CREATE TABLE config_servers (
    id TEXT PRIMARY KEY,
    vault_id TEXT NOT NULL REFERENCES vaults(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    hostname TEXT NOT NULL,
    ca_sha256 TEXT NOT NULL UNIQUE,
    ca_cert_pem TEXT NOT NULL,
    registered BIGINT NOT NULL,
    last_heartbeat BIGINT NOT NULL,
    heartbeat TEXT NOT NULL,
    UNIQUE (vault_id, name)
);

CREATE TABLE machines (
    vault_id TEXT NOT NULL REFERENCES vaults(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    config_server_id TEXT NOT NULL REFERENCES config_servers(id) ON DELETE CASCADE,
    hostname TEXT NOT NULL,
    os TEXT NOT NULL,
    source TEXT NOT NULL,
    detail TEXT NOT NULL,
    updated BIGINT NOT NULL,
    PRIMARY KEY (vault_id, name)
);

CREATE TABLE policies (
    id TEXT PRIMARY KEY,
    vault_id TEXT NOT NULL REFERENCES vaults(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    rpo_threshold_s BIGINT NOT NULL,
    retention_s BIGINT NOT NULL,
    app_consistent_s BIGINT NOT NULL,
    crash_consistent_s BIGINT NOT NULL,
    failback_of TEXT NOT NULL,
    created BIGINT NOT NULL,
    UNIQUE (vault_id, name)
);

CREATE TABLE policy_associations (
    policy_id TEXT NOT NULL REFERENCES policies(id) ON DELETE CASCADE,
    config_server_id TEXT NOT NULL REFERENCES config_servers(id) ON DELETE CASCADE,
    created BIGINT NOT NULL,
    PRIMARY KEY (policy_id, config_server_id)
);

CREATE TABLE protected_items (
    vault_id TEXT NOT NULL REFERENCES vaults(id),
    machine TEXT NOT NULL,
    policy_id TEXT NOT NULL REFERENCES policies(id),
    process_server TEXT NOT NULL,
    config_server_id TEXT NOT NULL,
    state TEXT NOT NULL,
    initial_percent DOUBLE PRECISION NOT NULL,
    last_point_time BIGINT NOT NULL,
    last_point_id TEXT NOT NULL,
    error TEXT NOT NULL,
    created BIGINT NOT NULL,
    updated BIGINT NOT NULL,
    PRIMARY KEY (vault_id, machine)
);

CREATE TABLE jobs (
    id TEXT PRIMARY KEY,
    vault_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    target TEXT NOT NULL,
    state TEXT NOT NULL,
    progress DOUBLE PRECISION NOT NULL,
    result TEXT NOT NULL,
    error TEXT NOT NULL,
    created_by TEXT NOT NULL,
    started BIGINT NOT NULL,
    ended BIGINT NOT NULL
);
CREATE INDEX jobs_started ON jobs (started);

CREATE TABLE events (
    id TEXT PRIMARY KEY,
    time BIGINT NOT NULL,
    vault_id TEXT NOT NULL,
    severity TEXT NOT NULL,
    kind TEXT NOT NULL,
    subject TEXT NOT NULL,
    message TEXT NOT NULL
);
CREATE INDEX events_time ON events (time);

CREATE TABLE alerts (
    id TEXT PRIMARY KEY,
    vault_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    subject TEXT NOT NULL,
    severity TEXT NOT NULL,
    message TEXT NOT NULL,
    raised BIGINT NOT NULL,
    updated BIGINT NOT NULL,
    cleared BIGINT NOT NULL
);
CREATE INDEX alerts_open ON alerts (vault_id, kind, subject, cleared);

CREATE TABLE users (
    name TEXT PRIMARY KEY,
    role TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created BIGINT NOT NULL
);

CREATE TABLE tokens (
    id TEXT PRIMARY KEY,
    user_name TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
    hash TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    created BIGINT NOT NULL,
    expires BIGINT NOT NULL,
    revoked BIGINT NOT NULL
);

CREATE TABLE audit (
    id TEXT PRIMARY KEY,
    time BIGINT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    detail TEXT NOT NULL,
    remote TEXT NOT NULL
);
CREATE INDEX audit_time ON audit (time);

CREATE TABLE webhooks (
    id TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    created BIGINT NOT NULL
);

CREATE TABLE webhook_deliveries (
    id TEXT PRIMARY KEY,
    webhook_id TEXT NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
    payload TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    next_attempt BIGINT NOT NULL,
    delivered BIGINT NOT NULL,
    last_error TEXT NOT NULL,
    created BIGINT NOT NULL
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (delivered, next_attempt);
