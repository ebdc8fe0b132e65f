#!/usr/bin/env bash
# bench-ebpf.sh: the ebpf write tracker's figures, in one run (as root; Linux with BTF).
#
#   scripts/bench-ebpf.sh
#
#   a. fio 4 KiB random writes (O_DIRECT, libaio, iodepth 32) on a loop device backed by tmpfs,
#      BENCH_ROUNDS rounds of BENCH_FIO_TIME each, interleaved: without the tracker, then with
#      it attached to the device; medians and their ratio (goal: >= 90%).
#   b. the delta cycle (ask the tracker, read and fingerprint what it reports) after 1% of a
#      2 GiB and of a 16 GiB sparse disk changed, and after the same 20 MiB on both; the scan
#      tracker's full read of the same disks (go test -bench BenchmarkDeltaCycle).
#   c. RPO under a steady random-write load on a 2 GiB disk, ebpf then scan, the agent in its own
#      process with the product's default cadence; agent CPU and peak RSS (BenchmarkRPO).
#
# Environment (defaults in brackets):
#   BENCH_ROUNDS     fio rounds per side [5]
#   BENCH_FIO_TIME   seconds per fio run [10]
#   BENCH_FIO_SIZE   loop device size for fio [1G]
#   OSR_BENCH_RPO_TIME  time per tracker for the RPO figure [2m]
#   OSR_BENCH_RATE_MB   write load for the RPO figure in MB/s [20]
#   BENCH_STEPS      which steps to run [fio delta rpo]
# Needs: fio (apt-get install fio), losetup, a Go toolchain.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "bench-ebpf.sh: needs root" >&2; exit 1; }
command -v fio >/dev/null || { echo "bench-ebpf.sh: fio is missing (apt-get install fio)" >&2; exit 1; }
ROUNDS=${BENCH_ROUNDS:-5}
FIO_TIME=${BENCH_FIO_TIME:-10}
FIO_SIZE=${BENCH_FIO_SIZE:-1G}
STEPS=${BENCH_STEPS:-fio delta rpo}
work=$(mktemp -d /dev/shm/osr-bench-ebpf.XXXXXX)
dev=""
helper=""
cleanup() {
	if [ -n "$helper" ]; then kill "$helper" 2>/dev/null; wait "$helper" 2>/dev/null || true; fi
	if [ -n "$dev" ]; then losetup -d "$dev" || true; fi
	rm -rf "$work"
}
trap cleanup EXIT

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

fio_iops() {
	fio --name=rw --filename="$dev" --rw=randwrite --bs=4k --direct=1 --ioengine=libaio --iodepth=32 \
		--runtime="$FIO_TIME" --time_based --randrepeat=0 --output-format=json >"$work/fio.json"
	grep '"iops" :' "$work/fio.json" | sed -n 2p | sed 's/[^0-9.]//g'
}

if [[ " $STEPS " == *" fio "* ]]; then
	go test -c -o "$work/ebpf.test" ./internal/mobility/tracker/ebpf
	truncate -s "$FIO_SIZE" "$work/fio.img"
	dev=$(losetup -f --show "$work/fio.img")
	# Fill the device once so that both sides write over allocated blocks.
	dd if=/dev/zero of="$dev" bs=1M oflag=direct status=none 2>/dev/null || true
	without=() with=()
	for r in $(seq "$ROUNDS"); do
		without+=("$(fio_iops)")
		OSR_TEST_ATTACH="$dev" "$work/ebpf.test" -test.run='^TestHelperAttach$' >"$work/helper.log" 2>&1 &
		helper=$!
		for _ in $(seq 100); do grep -q attached "$work/helper.log" && break; sleep 0.1; done
		grep -q attached "$work/helper.log" || { cat "$work/helper.log"; exit 1; }
		with+=("$(fio_iops)")
		kill "$helper"; wait "$helper" || true; helper=""
		echo "round $r: without ${without[-1]} IOPS, with the tracker ${with[-1]} IOPS; $(grep '^program' "$work/helper.log" | tr '\n' ' ')"
	done
	mw=$(printf '%s\n' "${without[@]}" | median)
	mt=$(printf '%s\n' "${with[@]}" | median)
	ratio=$(awk -v a="$mt" -v b="$mw" 'BEGIN {printf "%.1f", 100*a/b}')
	verdict=$(awk -v r="$ratio" 'BEGIN {print (r >= 90) ? "PASS" : "FAIL"}')
	echo "fio 4 KiB randwrite median IOPS: without $mw, with the ebpf tracker $mt: $ratio% (goal >= 90%: $verdict)"
	losetup -d "$dev"; dev=""
	rm -f "$work/fio.img"
fi
if [[ " $STEPS " == *" delta "* ]]; then
	go test -run XXX -bench '^BenchmarkDeltaCycle$' -benchtime 1x ./internal/mobility/tracker/ebpf | grep '^delta'
fi
if [[ " $STEPS " == *" rpo "* ]]; then
	go test -run XXX -bench '^BenchmarkRPO$' -benchtime 1x -timeout 60m ./internal/mobility | grep '^rpo'
fi
