#!/usr/bin/env bash
# Builds the osr binary for every supported platform and vets the Windows build, failing on any
# error: linux/amd64, linux/arm64 and windows/amd64 (the mobility service runs as a Windows
# service there). The test script calls it; it needs nothing beyond Go.
#
# Usage: scripts/cross-build.sh [OUTDIR]   (binaries are kept in OUTDIR when given)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

out=${1:-}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
[ -n "$out" ] && mkdir -p "$out"

for target in linux/amd64 linux/arm64 windows/amd64; do
	goos=${target%/*} goarch=${target#*/}
	bin="$tmp/osr-$goos-$goarch"
	[ "$goos" = windows ] && bin+=.exe
	echo "build $target"
	CGO_ENABLED=0 GOOS=$goos GOARCH=$goarch go build -trimpath -o "$bin" ./cmd/osr
	[ -n "$out" ] && cp "$bin" "$out/"
done

# Every package (tools included) builds for Windows, and the agent's code and tests vet clean there.
echo "build ./... for windows/amd64"
GOOS=windows GOARCH=amd64 go build ./...
echo "vet ./cmd/osr ./internal/... for windows/amd64"
GOOS=windows GOARCH=amd64 go vet ./cmd/osr/ ./internal/...
echo "cross-build: ok"
