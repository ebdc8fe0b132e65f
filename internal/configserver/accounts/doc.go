// Package accounts keeps the credentials the configuration server uses to reach source machines
// (ssh, windows) and vCenter servers: the seed's "Manage Accounts".
//
// Secrets are encrypted at rest with AES-256-GCM under a random 256-bit key held in its own file,
// readable by root alone (accounts.key, mode 0600), next to the account file (accounts.json, 0600).
// A key file rather than a key wrapped by the passphrase: the configuration server must read
// secrets unattended (push installation) and the passphrase can be regenerated at any time; the
// key file can be kept on a different, better protected volume with Options.KeyPath. Each secret is
// sealed with the account's name, type and user as associated data, so a record cannot be moved or
// altered without failing authentication. Secrets never leave this package except through Secret,
// are never sent to the vault and never logged. Formats: docs/formats/accounts.md.
package accounts
