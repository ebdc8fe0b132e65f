// Package enroll admits process servers and mobility agents to a configuration server with the
// passphrase and issues their mutual-TLS certificates from the configuration server's intermediate
// CA (vault root CA → configuration server CA → leaf).
//
// The protocol (package passphrase explains the proofs) is two JSON calls on the configuration
// server's HTTPS API, before the client has a certificate:
//
//	POST /v1/enroll/challenge  {"client_nonce"}                         → {"challenge_id","server_nonce","server_proof"}
//	POST /v1/enroll            {"challenge_id","role","name","csr_pem","proof","info"} → {"certificate_pem","ca_pem","root_ca_pem","config"}
//
// The passphrase never crosses the network. A challenge is used once and expires after two minutes.
// Failed proofs are rate limited per client address and in total; while limited, attempts are
// refused before their proof is checked. A refused attempt issues nothing and records nothing.
// Certificates name their role and holder in a URI SAN osr:<role>/<name> (the CN repeats the name).
// Wire format: docs/formats/enrollment.md.
package enroll
