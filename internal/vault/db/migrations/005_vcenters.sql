-- vCenters of the vault's configuration servers: what each one last reported (reported, JSON;
-- '' = not reported yet) and the requests of the API still to be carried out (action 'add' until
-- the configuration server reports the vCenter, 'remove' until it no longer does; a refresh is
-- pending while the reported "refreshed" is below refresh). Names are unique in a vault.
CREATE TABLE vcenters (
    vault_id TEXT NOT NULL REFERENCES vaults(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    config_server_id TEXT NOT NULL REFERENCES config_servers(id) ON DELETE CASCADE,
    address TEXT NOT NULL,
    port BIGINT NOT NULL,
    account TEXT NOT NULL,
    thumbprint TEXT NOT NULL,
    action TEXT NOT NULL,
    refresh BIGINT NOT NULL,
    reported TEXT NOT NULL,
    created BIGINT NOT NULL,
    updated BIGINT NOT NULL,
    PRIMARY KEY (vault_id, name)
);
