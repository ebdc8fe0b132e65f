// Package extraapi holds what the services that serve endpoints under the vault's API (through
// vault.Config.ExtraRoutes: recovery plans, drills) have in common: a service bound after the
// vault is built, with 503 until then, and the strict reading of a JSON request body with the
// vault's error messages.
package extraapi
