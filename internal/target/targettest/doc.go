// Package targettest builds recovery points from raw disk images for the tests and benchmarks of
// the failover providers: a file:// store with a fast key derivation, and an image committed into
// it as a machine's disk. It is imported by tests only.
package targettest
