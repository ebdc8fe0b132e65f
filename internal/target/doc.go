// Package target holds what every failover target provider shares: the disks of a recovery point
// as a provider reads them (Disk), the machine definition it writes beside them (Definition), and
// the Provider interface. Providers live in sub-packages (local, azure); the failover service in
// internal/failover resolves the point, maps networks, builds the Request and runs a provider.
package target
