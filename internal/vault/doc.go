// Package vault is the vault service: the control plane's REST API (/api/v1), its metadata
// database (internal/vault/db), the vault's root CA and registration-key signing key, vaults and
// their target settings, configuration-server registration and the mutual-TLS endpoints they call
// (heartbeat, inventory, desired state), replication policies, protected items and their state
// machine, jobs, events, alerts with webhook delivery, users, roles, API tokens and the audit log.
//
// New builds a Service from a Config; Service.Handler returns the whole HTTP handler, with the API
// under /api/v1 and, when Config.Portal is set, the portal under /. The contract with the
// configuration server is docs/control-plane.md; the API is docs/api/openapi.yaml.
package vault
