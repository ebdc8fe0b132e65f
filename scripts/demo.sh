#!/usr/bin/env bash
# A vault store round trip on the embedded default (a local directory): builds osr, makes a small
# ext4 disk image, stores it, changes it, stores the change, exports both points and compares.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
command -v mkfs.ext4 >/dev/null || { apt-get update -qq && apt-get install -y -qq e2fsprogs >/dev/null; }
work=${OSR_DEMO_DIR:-$(mktemp -d /var/tmp/osr-demo.XXXXXX)}
mkdir -p "$work"
go build -o "$work/osr" ./cmd/osr
osr=$work/osr
export OSR_REPO=$work/vault OSR_PASSWORD=${OSR_PASSWORD:-demo-password}
scripts/mkimage.sh "$work/disk.img" 256M >/dev/null
"$osr" store init
p1=$("$osr" store put --machine demo --disk sda="$work/disk.img" | tail -n 1)
cp --sparse=always "$work/disk.img" "$work/disk-v1.img"
go run ./tools/mutate --image "$work/disk.img" --percent 2 --seed 1
p2=$("$osr" store put --machine demo --disk sda="$work/disk.img" --app-consistent | tail -n 1)
"$osr" store ls --machine demo
"$osr" store export --point "$p1" --machine demo --disk sda --out "$work/export-v1.raw"
"$osr" store export --point "$p2" --machine demo --disk sda --out "$work/export-v2.raw"
cmp "$work/disk-v1.img" "$work/export-v1.raw"
cmp "$work/disk.img" "$work/export-v2.raw"
e2fsck -fn "$work/export-v1.raw" >/dev/null # v2 has random blocks written over the file system
"$osr" store check --read-data
echo "demo: both points exported byte-exact, the first fsck-clean; files in $work"
