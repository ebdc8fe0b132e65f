// Package store is the vault storage engine: the replica store where replicated disks and their
// recovery points live, on top of any storage.Backend.
//
// Data is split into blobs named by a keyed hash of their plaintext, compressed with zstd,
// encrypted with AES-256-GCM and packed into pack objects; index objects say where each blob is, so
// that no lookup scans packs. Each disk of a recovery point is a persistent radix tree over its 4 KiB
// blocks: leaves hold per-block fingerprints (XXH3-128) and extents that point into data blobs,
// interior nodes point to children. A new point rewrites only the nodes on the paths to what
// changed, so a point costs what changed, not the size of the disk.
//
// Safety rules:
//   - A point is visible only when its object is written, and that happens last, after every pack
//     and index it needs is durable. A crash at any moment leaves earlier points intact.
//   - Nothing is deleted while a writer or reader that started before the deletion was decided may
//     still need it (see prune.go).
//   - Every read is authenticated (GCM, with the blob ID as associated data) and every 4 KiB block
//     is checked against its fingerprint before it is returned.
//
// The format is documented in docs/formats/store.md.
package store
