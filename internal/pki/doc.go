// Package pki is osr's certificate authority and the TLS settings every component uses.
//
// A certificate names its holder's role and name in a URI SAN osr:<role>/<name> (the subject CN
// repeats the name). Keys are ECDSA P-256. Connections are TLS 1.3 only, with mutual
// authentication; each side checks the other's role (and, where it matters, name).
//
// Today `osr pki init` makes a local root CA and `osr pki issue` signs leaves with it. With the
// control plane, the vault's root CA signs an intermediate CA per configuration server, which signs
// agent and process-server leaves. The code that uses certificates is the same in both cases: a
// certificate file holds the leaf followed by any intermediates, and peers are verified against a
// pool of roots (the CA file).
package pki
