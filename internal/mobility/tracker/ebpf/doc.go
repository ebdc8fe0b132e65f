// Package ebpf is the Linux block-layer write tracker of the mobility service.
//
// An eBPF program on the block_bio_queue tracepoint (BTF-typed, no tracefs, no kernel module) sees
// every bio queued to a protected disk and, for those that change data (writes, FUA and flushes
// with data, discards, secure erases, write-zeroes), sets the bits of their 4 KiB blocks in an
// in-kernel bitmap with atomic ORs. Changes swaps the bitmap's words out atomically through the
// mmap'ed map, so nothing written between two calls is missed. The program's source is in bpf/;
// the generated object is committed so that building needs no clang. Kernel requirements and the
// fallback are in docs/ebpf.md.
package ebpf
