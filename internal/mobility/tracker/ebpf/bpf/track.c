// SPDX-License-Identifier: GPL-2.0
//
// Block-layer write tracker of the osr mobility service (docs/ebpf.md).
//
// Every bio that changes data on a tracked whole disk sets the bits of its 4 KiB blocks in that
// disk's dirty bitmap, with atomic ORs, and the summary bit of each bitmap word it touched (one
// summary bit per 64 words). User space swaps words out atomically through the mmap'ed array, so
// no bit is ever lost and the in-kernel path never drops. Ranges too long to walk here (huge
// discards) go to a ring buffer without a wakeup; a full ring is counted as a drop, which user
// space turns into a tracking gap.

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

typedef __u32 u32;
typedef __u64 u64;
typedef __u32 dev_t;
typedef __u64 sector_t;

// Only the fields used here; CO-RE relocates them against the running kernel's BTF.
struct gendisk;
struct block_device {
	dev_t bd_dev;
	struct gendisk *bd_disk;
} __attribute__((preserve_access_index));

struct gendisk {
	struct block_device *part0;
} __attribute__((preserve_access_index));

struct bvec_iter {
	sector_t bi_sector;
	unsigned int bi_size;
} __attribute__((preserve_access_index));

struct bio {
	struct block_device *bi_bdev;
	unsigned int bi_opf;
	struct bvec_iter bi_iter;
} __attribute__((preserve_access_index));

struct request_queue {
	struct gendisk *disk;
} __attribute__((preserve_access_index));

struct request {
	struct request_queue *q;
	unsigned int cmd_flags;
	sector_t __sector;
} __attribute__((preserve_access_index));

#define REQ_OP_MASK 0xff
#define MAX_WORDS_INLINE 1024 // longer ranges (256 MiB and more) go to the ring buffer

// A tracked whole disk: where its summary and bitmap words start in bits, and its block count.
struct target {
	u64 summary_off;
	u64 words_off;
	u64 nblocks;
};

// A range the program did not walk itself: user space marks it.
struct range {
	u32 dev;
	u32 pad;
	u64 first; // block
	u64 last;  // block, inclusive
};

enum counter {
	C_BIOS = 0,     // data-changing bios on tracked disks
	C_RANGES = 1,   // ranges sent to the ring buffer
	C_DROPS = 2,    // ranges lost because the ring buffer was full
	C_OUTSIDE = 3,  // bios beyond the end of their disk (clipped)
	C_MAX = 4,
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, u32); // whole-disk dev_t, kernel encoding (major<<20 | minor)
	__type(value, struct target);
} targets SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 1); // sized by user space at load
	__type(key, u32);
	__type(value, u64);
} bits SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY); // per CPU: no shared cache line on the I/O path
	__uint(max_entries, C_MAX);
	__type(key, u32);
	__type(value, u64);
} counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} ranges SEC(".maps");

static __always_inline void count(u32 c)
{
	u64 *v = bpf_map_lookup_elem(&counters, &c);
	if (v)
		*v += 1;
}

static __always_inline void or_word(u64 idx, u64 mask)
{
	u32 k = idx;
	u64 *w = bpf_map_lookup_elem(&bits, &k);
	// A plain read first: a hot block's bits are usually set already, and the atomic OR, which
	// takes the cache line, is skipped.
	if (w && (*w & mask) != mask)
		__sync_fetch_and_or(w, mask);
}

struct walk {
	const struct target *t;
	u64 first, last; // blocks, inclusive
	u64 w0;          // first word
};

static long mark_word(u64 i, void *ctx)
{
	struct walk *wk = ctx;
	u64 w = wk->w0 + i;
	u64 lo = w * 64, hi = lo + 63;
	u64 mask = ~0ULL;
	if (wk->first > lo)
		mask &= ~0ULL << (wk->first - lo);
	if (wk->last < hi)
		mask &= ~0ULL >> (hi - wk->last);
	// The data bit first, then the summary bit: user space swaps the summary first, so a bit it
	// misses in this round keeps its summary bit set for the next one.
	or_word(wk->t->words_off + w, mask);
	or_word(wk->t->summary_off + w / 64, 1ULL << (w % 64));
	return 0;
}

// mark records that [sector, sector+size) of the whole disk dev changed.
static __always_inline void mark(u32 dev, u64 sector, u64 size)
{
	const struct target *t = bpf_map_lookup_elem(&targets, &dev);
	if (!t)
		return;
	count(C_BIOS);
	u64 first = sector / 8;
	u64 last = (sector + (size + 511) / 512 - 1) / 8;
	if (t->nblocks == 0 || first >= t->nblocks) {
		count(C_OUTSIDE);
		return;
	}
	if (last >= t->nblocks) {
		count(C_OUTSIDE);
		last = t->nblocks - 1;
	}
	u64 w0 = first / 64, w1 = last / 64;
	if (w1 - w0 < MAX_WORDS_INLINE) {
		struct walk wk = {.t = t, .first = first, .last = last, .w0 = w0};
		bpf_loop(w1 - w0 + 1, mark_word, &wk, 0);
		return;
	}
	struct range *r = bpf_ringbuf_reserve(&ranges, sizeof(*r), 0);
	if (!r) {
		count(C_DROPS);
		return;
	}
	r->dev = dev;
	r->pad = 0;
	r->first = first;
	r->last = last;
	bpf_ringbuf_submit(r, BPF_RB_NO_WAKEUP);
	count(C_RANGES);
}

// Writes, discards, secure erases, zone appends and write-zeroes have odd operation numbers;
// reads and flushes even ones. A flush that carries data is a write with the preflush flag.
static __always_inline int changes_data(u32 opf, u64 size)
{
	return (opf & REQ_OP_MASK & 1) && size != 0;
}

// A bio as it is queued: the sector is absolute on the whole disk here (a partition's bio is
// remapped before it is queued). tp_btf gives typed pointers: fields are read directly (CO-RE
// relocated), with no probe reads.
SEC("tp_btf/block_bio_queue")
int BPF_PROG(on_bio_queue, struct bio *bio)
{
	u32 size = bio->bi_iter.bi_size;
	if (!changes_data(bio->bi_opf, size))
		return 0;
	mark(bio->bi_bdev->bd_disk->part0->bd_dev, bio->bi_iter.bi_sector, size);
	return 0;
}

// A request as it completes, marked again: a write still in flight when user space read the
// block lands after the read, and its bits, set again here, bring it into the next point.
SEC("tp_btf/block_rq_complete")
int BPF_PROG(on_rq_complete, struct request *rq, int error, unsigned int nr_bytes)
{
	if (!changes_data(rq->cmd_flags, nr_bytes))
		return 0;
	mark(rq->q->disk->part0->bd_dev, rq->__sector, nr_bytes);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
