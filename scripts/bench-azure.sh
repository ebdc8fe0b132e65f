#!/usr/bin/env bash
# bench-azure.sh: the azure failover target's figures against Azurite: upload throughput of the
# 2 GiB ext4 test image as a fixed-VHD page blob (from the image file, with several zero-gap and
# worker settings, and from a recovery point in a file:// store), bytes written and skipped as
# zero pages, and the number of page writes.
#
#   scripts/bench-azure.sh        # as root (mkimage.sh builds the image with mkfs.ext4 -d)
#
# Environment: BENCH_IMAGE [/var/tmp/osr-bench/image-2G.raw] (built by scripts/mkimage.sh when
# missing), BENCH_DIR [/var/tmp/osr-bench-azure] for the store, OSR_SERVICES_DIR as for
# scripts/services.sh. Azurite is started if it is not running, and left running.
set -euo pipefail

ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_IMAGE=${BENCH_IMAGE:-/var/tmp/osr-bench/image-2G.raw}
BENCH_DIR=${BENCH_DIR:-/var/tmp/osr-bench-azure}

log() { echo "bench-azure: $*" >&2; }

"$ROOT/scripts/mkimage.sh" "$BENCH_IMAGE" 2G >&2
"$ROOT/scripts/services.sh" start >&2
# shellcheck disable=SC1090 # the env file is written by services.sh
source "$("$ROOT/scripts/services.sh" env)"
mkdir -p "$BENCH_DIR"
log "image $BENCH_IMAGE, Azurite at $AZURE_STORAGE_ENDPOINT"
cd "$ROOT"
OSR_BENCH_IMAGE=$BENCH_IMAGE OSR_BENCH_DIR=$BENCH_DIR \
	go test -run XXX -bench 'Upload2GiB|FailoverFromStore2GiB' -benchtime 1x ./internal/target/azure/ 2>&1 |
	grep -E '^(Benchmark|goos|cpu|PASS|FAIL|ok|---)' || { log "benchmark failed"; exit 1; }
