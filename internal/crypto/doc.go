// Package crypto holds the vault store's keys and primitives: the master key, the keyed hash that
// names content, authenticated encryption (AES-256-GCM) and password-wrapped key files.
//
// Formats are described in docs/formats/store.md.
package crypto
