// Package vaultlink is the configuration server's client of the vault service
// (docs/control-plane.md): registration with a registration key over a TLS connection pinned to the
// vault's root CA, then heartbeats, inventory and desired state over mutual TLS.
//
// All traffic to the vault goes directly or through one HTTP(S) proxy (the seed's "Internet
// Settings"); the proxy sees only the CONNECT target, never the TLS content.
package vaultlink
