#!/usr/bin/env bash
# Builds the mobility service (the osr binary) for every platform of the install repository and,
# with a configuration server data directory, adds the builds to its repository.
#
# Usage: scripts/build-agents.sh OUT-DIR [DATA-DIR]
#   OUT-DIR gets osr-linux-amd64, osr-linux-arm64, osr-windows-amd64.exe and SHA256SUMS.
#   DATA-DIR (e.g. /var/lib/osr/config-server): each build is added with osr mobility repo add.
# Exit code 1 if any platform fails to build (the others are still built and listed).
set -uo pipefail
out=${1:?usage: $0 OUT-DIR [DATA-DIR]}
data=${2:-}
cd "$(dirname "$0")/.."
mkdir -p "$out"
failed=0
for plat in linux/amd64 linux/arm64 windows/amd64; do
	os=${plat%/*} arch=${plat#*/}
	name="osr-$os-$arch"
	[[ $os == windows ]] && name+=.exe
	if CGO_ENABLED=0 GOOS=$os GOARCH=$arch go build -trimpath -o "$out/$name" ./cmd/osr; then
		echo "built $plat: $out/$name"
	else
		echo "build of $plat failed" >&2
		failed=1
		rm -f "$out/$name"
	fi
done
(cd "$out" && sha256sum osr-* >SHA256SUMS)
if [[ -n $data ]]; then
	osr=$out/osr-$(go env GOOS)-$(go env GOARCH)
	for plat in linux/amd64 linux/arm64 windows/amd64; do
		f=$out/osr-${plat/\//-}
		[[ $plat == windows/* ]] && f+=.exe
		[[ -f $f ]] && "$osr" mobility repo add --data-dir "$data" --platform "$plat" --file "$f"
	done
fi
exit $failed
