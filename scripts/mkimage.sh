#!/usr/bin/env bash
# mkimage.sh OUT [SIZE] [--force]
#
# Builds a fully allocated (not sparse) ext4 disk image of SIZE bytes (default 2G; any size that
# `numfmt --from=iec` understands, e.g. 512M, 2G, 10G) filled to about 85-90% with regular files
# copied from /usr. It is the test image of the vault store benchmark (scripts/bench-store.sh).
#
# How: the file is created with fallocate (dd of zeros where fallocate is not supported), an empty
# ext4 is made on it once to learn its metadata overhead, files from MKIMAGE_SOURCES are picked in
# sorted order until the data would reach MKIMAGE_FILL percent of the blocks, they are staged
# (hard links where possible, copies otherwise) in a temporary directory, and `mkfs.ext4 -d` builds
# the final file system from the staging directory. -E nodiscard keeps mke2fs from punching holes
# into the file, so it stays fully allocated. The result is checked with `e2fsck -fn`.
#
# Idempotent: if OUT already exists with the right size it is kept (and only checked) unless
# --force is given. The image is built as OUT.tmp and renamed at the end, so an interrupted run
# leaves no OUT behind.
#
# Deterministic enough for benchmarks: fixed UUID, hash seed and mkfs time, and a sorted file list,
# so two builds from the same /usr hold the same files at the same places; they differ only in the
# inodes' atime and ctime (and so inode checksums), which mkfs.ext4 -d takes from the staged files.
#
# Environment:
#   MKIMAGE_SOURCES  directories to copy files from, in this order (default: /usr/bin /usr/sbin
#                    /usr/share /usr/lib)
#   MKIMAGE_FILL     target fill level in percent of the file system's blocks (default 87)
#   MKIMAGE_TMP      where the staging directory is made (default: the directory of OUT)
set -euo pipefail

die() { echo "mkimage: error: $*" >&2; exit 1; }
log() { echo "mkimage: $*" >&2; }

usage() { echo "usage: $0 OUT [SIZE] [--force]   (SIZE default 2G)" >&2; exit 2; }

force=0
args=()
for a in "$@"; do
	case "$a" in
	--force) force=1 ;;
	-h|--help) usage ;;
	-*) echo "mkimage: unknown option $a" >&2; usage ;;
	*) args+=("$a") ;;
	esac
done
if [ "${#args[@]}" -lt 1 ] || [ "${#args[@]}" -gt 2 ]; then usage; fi
out=${args[0]}
size_arg=${args[1]:-2G}
size=$(numfmt --from=iec "$size_arg") || die "bad SIZE '$size_arg'"
[ $((size % 4096)) -eq 0 ] || die "SIZE must be a multiple of 4096 (got $size)"
[ "$size" -ge $((64 << 20)) ] || die "SIZE must be at least 64M"
fill=${MKIMAGE_FILL:-87}
sources=${MKIMAGE_SOURCES:-/usr/bin /usr/sbin /usr/share /usr/lib}

# Tools: e2fsprogs (mkfs.ext4, e2fsck, dumpe2fs) and util-linux (fallocate) on a fresh Debian.
PATH=$PATH:/usr/sbin:/sbin
need=()
for t in mkfs.ext4 e2fsck dumpe2fs; do command -v "$t" >/dev/null || need+=(e2fsprogs); done
command -v fallocate >/dev/null || need+=(util-linux)
if [ "${#need[@]}" -gt 0 ]; then
	[ "$(id -u)" -eq 0 ] || die "missing ${need[*]}; run as root or install them"
	log "installing ${need[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

# fs_facts IMG: prints "blocks free" of the ext4 file system in IMG.
fs_facts() {
	dumpe2fs -h "$1" 2>/dev/null | awk -F: '
		/^Block count:/ { b = $2 + 0 }
		/^Free blocks:/ { f = $2 + 0 }
		END { printf "%.0f %.0f\n", b, f }'
}

check_and_report() {
	local img=$1 apparent allocated blocks free
	log "checking $img with e2fsck -fn"
	if ! e2fsck -fn "$img" >&2; then
		die "e2fsck found problems in $img (rebuild with --force)"
	fi
	apparent=$(du -B1 --apparent-size "$img" | cut -f1)
	allocated=$(du -B1 "$img" | cut -f1)
	read -r blocks free < <(fs_facts "$img")
	awk -v a="$apparent" -v d="$allocated" -v b="$blocks" -v f="$free" -v img="$img" 'BEGIN {
		printf "mkimage: %s: apparent %.0f bytes, allocated %.0f bytes (%.1f%%), ext4 %.0f blocks, %.0f free, %.1f%% full\n",
			img, a, d, 100 * d / a, b, f, 100 * (b - f) / b }'
	[ "$allocated" -ge "$apparent" ] || die "$img is sparse: allocated $allocated < apparent $apparent"
}

if [ -e "$out" ] && [ "$force" -eq 0 ]; then
	have=$(stat -c %s "$out")
	if [ "$have" -eq "$size" ]; then
		log "$out exists with size $size, keeping it (use --force to rebuild)"
		check_and_report "$out"
		exit 0
	fi
	log "$out exists with size $have, not $size: rebuilding"
fi

start=$(date +%s.%N)
outdir=$(dirname -- "$out")
mkdir -p -- "$outdir"
tmp="$out.tmp"
stage=$(mktemp -d "${MKIMAGE_TMP:-$outdir}/.mkimage-stage.XXXXXX")
lists=$(mktemp -d "${TMPDIR:-/tmp}/mkimage-lists.XXXXXX")
cleanup() { rm -rf -- "$stage" "$lists" "$tmp"; }
trap cleanup EXIT

# 1. A fully allocated file.
rm -f -- "$tmp"
if ! fallocate -l "$size" "$tmp" 2>/dev/null; then
	log "fallocate not supported here, writing zeros with dd"
	dd if=/dev/zero of="$tmp" bs=4M count=$((size / 4194304)) status=none
	rem=$((size % 4194304))
	[ "$rem" -eq 0 ] || head -c "$rem" /dev/zero >>"$tmp"
fi

# Fixed identity and time, so two builds from the same /usr are alike.
export E2FSPROGS_FAKE_TIME=1700000000
# shellcheck disable=SC2054 # the commas separate mke2fs's extended options
mkfs_opts=(-F -q -t ext4 -b 4096 -m 0 -L osr-bench
	-U 6f737262-656e-4368-8000-000000000001
	-E nodiscard,hash_seed=6f737262-656e-4368-8000-000000000002,root_owner=0:0)

# 2. The metadata overhead of this file system, from an empty one.
mkfs.ext4 "${mkfs_opts[@]}" "$tmp"
read -r blocks free < <(fs_facts "$tmp")
if [ -z "${blocks:-}" ] || [ "$blocks" -le 0 ]; then
	die "could not read the block count of the empty file system"
fi
overhead=$((blocks - free))
target=$((blocks * fill / 100 - overhead))
log "size $size: $blocks blocks, $overhead metadata blocks, filling to $fill% ($target data blocks)"

# 3. All candidate files, sorted: regular, readable, on the sources' own file systems. The lists
#    are one name a line (awk here may be mawk, which cannot print NUL bytes).
# shellcheck disable=SC2086 # sources is a word list on purpose
for s in $sources; do [ -d "$s" ] || die "source directory $s does not exist"; done
# shellcheck disable=SC2086
find $sources -xdev -type f -readable -printf '%s\t%p\n' 2>/dev/null |
	LC_ALL=C sort -t$'\t' -k2,2 >"$lists/all"

# pick BUDGET: writes $lists/pick with the files, in sorted order, that fit in BUDGET blocks when
# each costs its size rounded up to blocks and each new directory one block; prints
# "files bytes blocks". Files too big for what is left are skipped; the first small one that does
# not fit ends the list.
pick() {
	LC_ALL=C awk -F'\t' -v budget="$1" -v pick="$lists/pick" '
		function new_dirs(p,   i, k) {
			k = 0
			while ((i = match(p, /\/[^\/]*$/)) > 1) {
				p = substr(p, 1, i - 1)
				if (p in seen) break
				seen[p] = 1; k++
			}
			return k
		}
		BEGIN { printf "" > pick }
		{
			cost = int(($1 + 4095) / 4096)
			if (stop) next
			if (used + cost > budget) { if (cost <= 16) stop = 1; next }
			used += cost + new_dirs($2)
			files++; bytes += $1
			print $2 > pick
		}
		END { printf "%.0f %.0f %.0f\n", files, bytes, used }' "$lists/all"
}

# stage: links (or, on another file system, copies) the picked files into a fresh $stage.
link_mode=-l
stage_files() {
	rm -rf -- "$stage"; mkdir -p -- "$stage"
	if [ -n "$link_mode" ] &&
		! xargs -d '\n' -r cp -l --parents -t "$stage" -- <"$lists/pick" 2>"$lists/cp.err"; then
		log "hard links failed ($(head -n1 "$lists/cp.err")), copying instead"
		link_mode=
		rm -rf -- "$stage"; mkdir -p -- "$stage"
	fi
	if [ -z "$link_mode" ]; then
		xargs -d '\n' -r cp -p --parents -t "$stage" -- <"$lists/pick"
	fi
}

# 4. Build, measure, adjust. mkfs.ext4 -d leaves all-zero blocks of files unallocated, so files
#    take fewer blocks than their sizes say: the budget is scaled by what the last build used, a
#    few times, until the fill level is within 1.5 points of the target.
budget=$target
for attempt in 1 2 3 4; do
	read -r nfiles nbytes _ < <(pick "$budget")
	[ "$nfiles" -gt 0 ] || die "no files picked from $sources"
	stage_files
	entries=$(find "$stage" | wc -l)
	inodes=$((size / 16384))
	[ "$inodes" -ge $((entries * 5 / 4 + 1024)) ] || inodes=$((entries * 5 / 4 + 1024))
	mkfs.ext4 "${mkfs_opts[@]}" -N "$inodes" -d "$stage" "$tmp"
	read -r blocks free < <(fs_facts "$tmp")
	used=$((blocks - free))
	log "build $attempt: $nfiles files, $nbytes bytes, $entries entries, $inodes inodes:" \
		"$used of $blocks blocks used ($((used * 100 / blocks))%)"
	# Close enough?
	lo=$((blocks * (fill * 10 - 15) / 1000))
	hi=$((blocks * (fill * 10 + 15) / 1000))
	if [ "$used" -ge "$lo" ] && [ "$used" -le "$hi" ]; then break; fi
	if [ "$used" -lt "$lo" ] && [ "$(wc -l <"$lists/pick")" -eq "$(wc -l <"$lists/all")" ]; then
		log "warning: all files of $sources are in and the image is still below the target"
		break
	fi
	data=$((used - overhead))
	[ "$data" -gt 0 ] || die "the build used no data blocks"
	budget=$((budget * target / data))
done
sync -- "$tmp"

check_and_report "$tmp"
mv -f -- "$tmp" "$out"
sync -- "$outdir" 2>/dev/null || true
awk -v s="$start" -v e="$(date +%s.%N)" -v o="$out" 'BEGIN { printf "mkimage: built %s in %.1f s\n", o, e - s }'
