// Package configserver is the configuration server of a source site: it registers with the vault
// (Install), admits process servers and mobility agents with the passphrase and issues their
// certificates (package enroll), keeps the accounts (package accounts), assigns machines to process
// servers, hands agents their process server and policy, collects heartbeats and forwards a summary
// to the vault (Server). docs/config-server.md describes the API and the data directory.
package configserver
