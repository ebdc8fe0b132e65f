// Command osr is Open Site Recovery: one binary for every role of the system (vault, configuration
// server, process server, mobility service) and its command-line client.
//
// This version carries the vault storage engine's commands under "osr store": init, put, ls,
// export, check, prune and passwd. The repository comes from --repo or OSR_REPO, the password from
// --password-file or OSR_PASSWORD.
package main
