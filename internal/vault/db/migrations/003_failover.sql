-- Failover (internal/failover): network mappings, per-NIC IP settings, named failover targets,
-- failover records and the per-machine operation lock. Times are Unix nanoseconds, 0 = none.

-- A source network mapped to a target network (failover) and a test network (test failover).
-- ip_mode is the default for NICs on it: keep (the source's address) or dhcp.
CREATE TABLE network_mappings (
    vault_id TEXT NOT NULL REFERENCES vaults(id) ON DELETE CASCADE,
    source_network TEXT NOT NULL,
    target_network TEXT NOT NULL,
    test_network TEXT NOT NULL,
    ip_mode TEXT NOT NULL,
    created BIGINT NOT NULL,
    PRIMARY KEY (vault_id, source_network)
);

-- IP settings of one NIC of a protected machine, overriding its network mapping's ip_mode.
CREATE TABLE failover_nics (
    vault_id TEXT NOT NULL REFERENCES vaults(id) ON DELETE CASCADE,
    machine TEXT NOT NULL,
    nic TEXT NOT NULL,
    ip_mode TEXT NOT NULL,
    address TEXT NOT NULL,
    gateway TEXT NOT NULL,
    updated BIGINT NOT NULL,
    PRIMARY KEY (vault_id, machine, nic)
);

-- A named place failed-over machines go to. settings: the provider's JSON settings (no
-- secrets); secret: sealed under the master key (purpose "target:<vault id>/<name>"), or ''.
CREATE TABLE failover_targets (
    vault_id TEXT NOT NULL REFERENCES vaults(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    provider TEXT NOT NULL,
    settings TEXT NOT NULL,
    secret TEXT NOT NULL,
    created BIGINT NOT NULL,
    PRIMARY KEY (vault_id, name)
);

-- One failover (kind failover) or test failover (kind test) of a machine. run names what the
-- provider created (target.Request.Run); definition and result are JSON (target.Definition,
-- target.Result; result '' until the provider's Create succeeded).
CREATE TABLE failovers (
    id TEXT PRIMARY KEY,
    vault_id TEXT NOT NULL,
    machine TEXT NOT NULL,
    kind TEXT NOT NULL,
    state TEXT NOT NULL,
    run TEXT NOT NULL,
    point_id TEXT NOT NULL,
    point_time BIGINT NOT NULL,
    target TEXT NOT NULL,
    network TEXT NOT NULL,
    shutdown_source BIGINT NOT NULL,
    job_id TEXT NOT NULL,
    definition TEXT NOT NULL,
    result TEXT NOT NULL,
    bytes_done BIGINT NOT NULL,
    bytes_total BIGINT NOT NULL,
    error TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created BIGINT NOT NULL,
    updated BIGINT NOT NULL
);
CREATE INDEX failovers_machine ON failovers (vault_id, machine, kind);

-- At most one failover operation runs on a machine at a time. The holder refreshes heartbeat;
-- a lock whose holder is gone (its process on this host is dead, or its heartbeat is older than
-- the lease) is taken over and its job failed.
CREATE TABLE failover_locks (
    vault_id TEXT NOT NULL,
    machine TEXT NOT NULL,
    operation TEXT NOT NULL,
    job_id TEXT NOT NULL,
    owner TEXT NOT NULL,
    host TEXT NOT NULL,
    pid BIGINT NOT NULL,
    heartbeat BIGINT NOT NULL,
    PRIMARY KEY (vault_id, machine)
);
