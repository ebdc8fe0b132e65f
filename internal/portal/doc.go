// Package portal is the web portal of the vault service: server-rendered pages (html/template and
// htmx, all embedded in the binary) that follow the seed's flow: dashboard, vaults, prepare
// infrastructure (protection goal, source, target, replication policy, capacity planning),
// servers and their health, replicated items with their recovery points and events, jobs, alerts
// and events.
//
// The portal is a client of the REST API and nothing else: every page is built from API answers,
// every form is an API call made in-process with the signed-in user's token, so the API enforces
// roles, validates input and writes the audit log exactly as for the CLI. The portal never opens
// the database.
//
// Sign-in exchanges a user name and password for an API token, kept in an HttpOnly, Secure,
// SameSite=Strict cookie; sign-out revokes it. Every POST carries a CSRF token derived from the
// session's API token (HMAC), so the portal keeps no server-side state and any replica of the
// vault service accepts it. Pages send a strict Content-Security-Policy: no inline script or
// style, nothing loaded from another origin. See docs/portal.md.
package portal
