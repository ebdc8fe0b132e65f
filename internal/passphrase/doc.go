// Package passphrase makes, stores and proves the configuration server's passphrase: the shared
// secret that admits process servers and mobility agents to their configuration server.
//
// The passphrase is always generated (never chosen by a person): 24 characters from a 32-letter
// alphabet, 120 bits of entropy, shown as four groups of six. Because it is that strong, proofs of
// knowledge can be plain HMACs over fresh nonces: recording a proof gives nothing an attacker can
// guess against. The passphrase itself never crosses the network, not even inside TLS:
//
//  1. the client sends a random client nonce;
//  2. the server answers with a server nonce and ServerProof over both nonces and the SHA-256 of the
//     TLS certificate it presented; the client checks it against the certificate it saw, so a
//     server that does not know the passphrase (or a relay in the middle) is refused before the
//     client proves anything;
//  3. the client sends its CSR with ClientProof over the nonces, that certificate hash, its role,
//     its name and the SHA-256 of the CSR; the server checks it and only then issues a certificate.
//
// The file format is in docs/formats/passphrase.md.
package passphrase
