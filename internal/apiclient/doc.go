// Package apiclient is the typed client of the vault service's REST API (docs/api/openapi.yaml),
// used by the CLI. It finds its server, token and CA certificate from flags, then environment
// variables (OSR_SERVER, OSR_TOKEN_FILE, OSR_CA_FILE), then the files the vault service (or
// `osr up`) writes into its data directory (DataDir: --data-dir, OSR_DATA_DIR, or ~/.osr).
package apiclient
