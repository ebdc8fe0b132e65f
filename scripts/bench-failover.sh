#!/usr/bin/env bash
# bench-failover.sh: the RTO figure of the local failover target. A 2 GiB ext4 image full of files
# (scripts/mkimage.sh, cached) is committed to a file:// vault store; the local provider then
# creates the machine from that point as raw, fixed VHD and qcow2, each timed from the start of
# Create until the disks and machine.json are synced, against `cp --sparse=always` of the same
# image plus an fsync, in the same run. The raw and VHD outputs are compared with the image.
# cp and the three formats alternate for 3 rounds (OSR_BENCH_ROUNDS) and each step's best wall
# time counts; the CPU time (user+sys) of each step is printed too, since on a shared machine the
# wall times swing with the other load. Prints a markdown table; the goal is raw and VHD
# throughput >= 0.6 x cp.
#
#   scripts/bench-failover.sh            # as root; everything under /var/tmp/osr-bench-failover
#
# Environment (defaults in brackets): BENCH_DIR [/var/tmp/osr-bench-failover], BENCH_SIZE [2G],
# BENCH_IMAGE [BENCH_DIR/image-BENCH_SIZE.raw].
#
# Exit status: 0 when the run completed (a goal miss is reported as FAIL in the table, not fatal);
# 1 when a step failed or an output differs from the image.
set -euo pipefail

ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_DIR=${BENCH_DIR:-/var/tmp/osr-bench-failover}
BENCH_SIZE=${BENCH_SIZE:-2G}
BENCH_IMAGE=${BENCH_IMAGE:-$BENCH_DIR/image-$BENCH_SIZE.raw}
RUN=$BENCH_DIR/run

mkdir -p "$BENCH_DIR"
"$ROOT/scripts/mkimage.sh" "$BENCH_IMAGE" "$BENCH_SIZE" >&2
rm -rf "$RUN"
mkdir -p "$RUN"
cat "$BENCH_IMAGE" >/dev/null # the image in the page cache, for cp and the store put alike

out=$RUN/bench.txt
cd "$ROOT"
if ! OSR_BENCH_IMAGE=$BENCH_IMAGE OSR_BENCH_DIR=$RUN \
	go test -run XXX -bench Failover2GiB -benchtime 1x -timeout 30m ./internal/target/local/ >"$out" 2>&1; then
	cat "$out" >&2
	echo "bench-failover: the benchmark failed" >&2
	exit 1
fi
grep '^|' "$out"
grep '^(data extents' "$out" || true
line=$(grep '^BenchmarkFailover2GiB' "$out")
metric() { awk -v m="$1" '{for (i = 2; i <= NF; i++) if ($i == m) print $(i-1)}' <<<"$line"; }
echo
echo "| goal | measured | result |"
echo "|---|---|---|"
for f in raw vhd; do
	r=$(metric "$f/cp")
	res=$(awk -v r="$r" 'BEGIN { print (r >= 0.6) ? "PASS" : "FAIL" }')
	echo "| local $f throughput >= 0.6 x cp | $r x | $res |"
done
rm -rf "$RUN"
