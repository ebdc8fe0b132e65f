// Package regkey encodes, decodes and verifies registration keys: the single-use, short-lived,
// Ed25519-signed tokens that admit a configuration server to a vault once. The text format is
// documented in docs/formats/registration-key.md.
//
// Parse reads a key without checking its signature (a configuration server has no way to: it only
// needs the vault URLs and the root CA fingerprint to pin). Verify checks the signature against the
// vault's signing keys and the expiry against a clock; single use is the vault's database's job.
package regkey
