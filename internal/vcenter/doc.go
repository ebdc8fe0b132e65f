// Package vcenter discovers the virtual machines of a vCenter Server (or a standalone ESXi host)
// for the configuration server, and keeps the source-site inventory: the vCenters it was told
// about, the machines each one holds, and the physical servers added by address.
//
// A sync logs in with a stored vcenter account (its secret is decrypted only for the login), reads
// every virtual machine with one property-collector pass (name, BIOS and instance UUID, guest OS,
// IP addresses, power state, host, cluster, datastores, each virtual disk with its size and file),
// and replaces that vCenter's list whole: a VM that was removed disappears, a new one appears, a
// powered-off one shows its new state. The changes are returned so that callers can raise events.
// A failed sync (wrong credentials, unreachable address, certificate changed) keeps the last list,
// marks the vCenter Disconnected and stores the error word for word.
//
// TLS: vCenter certificates are usually self-signed, so the vCenter's certificate is pinned by
// its SHA-256 thumbprint, taken when the vCenter is added (shown to the operator to compare) or
// given explicitly. A different certificate later is refused, never silently trusted.
//
// The inventory lives in one file of the configuration server's data directory (format:
// docs/formats/inventory.md), changed under an exclusive lock and replaced atomically, so the CLI
// and a running configuration server can use it at once.
package vcenter
