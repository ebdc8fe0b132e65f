#!/usr/bin/env bash
# Runs the whole osr test suite on a fresh machine: installs what the tests need, starts the real
# servers (Azurite, versitygw) on loopback, runs vet, the cross-builds (Linux arm64, Windows), the
# tests with the race detector (the suites start PostgreSQL, SSH hosts in network namespaces,
# Chromium and loop devices themselves), the kill -9 trials and a short fuzz of every decoder,
# then stops the servers.
#
# Usage: scripts/test.sh            (CI calls exactly this)
# Env:   OSR_FUZZTIME (default 2s per fuzz target), OSR_SKIP_FUZZ=1 to skip fuzzing locally.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

need_apt=()
command -v mkfs.ext4 >/dev/null || need_apt+=(e2fsprogs)
command -v losetup >/dev/null || need_apt+=(mount)
command -v fsfreeze >/dev/null || need_apt+=(util-linux)
command -v node >/dev/null || need_apt+=(nodejs)
command -v npm >/dev/null || need_apt+=(npm)
# PostgreSQL for the vault's database suite (the tests start their own server in a temp dir).
compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null || need_apt+=(postgresql)
# Headless Chromium for the portal's browser test.
command -v chromium >/dev/null || need_apt+=(chromium)
# SSH hosts in network namespaces for push install; curl runs the served install script.
command -v sshd >/dev/null || need_apt+=(openssh-server)
command -v ssh-keygen >/dev/null || need_apt+=(openssh-client)
command -v ip >/dev/null || need_apt+=(iproute2)
command -v curl >/dev/null || need_apt+=(curl)
# qemu-img is the oracle for failover images (raw, VHD, qcow2); qemu-system-x86_64 boots failed-over
# machines for the boot check.
command -v qemu-img >/dev/null || need_apt+=(qemu-utils)
command -v qemu-system-x86_64 >/dev/null || need_apt+=(qemu-system-x86)
# The boot check's test disk is built from Debian packages: syslinux's MBR and extlinux, a static
# busybox for the initramfs, and Debian's kernel.
command -v extlinux >/dev/null || need_apt+=(extlinux)
[[ -f /usr/lib/syslinux/mbr/mbr.bin ]] || need_apt+=(syslinux syslinux-common)
[[ -x /bin/busybox ]] || need_apt+=(busybox-static)
compgen -G '/boot/vmlinuz-*' >/dev/null || need_apt+=(linux-image-amd64)
# nft and tc inject link cuts, loss and rate caps in the multi-host fault suite.
command -v nft >/dev/null || need_apt+=(nftables)
command -v tc >/dev/null || need_apt+=(iproute2)
if ((${#need_apt[@]})); then
	echo "test.sh: installing ${need_apt[*]}" >&2
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

scripts/services.sh start
trap 'scripts/services.sh stop' EXIT
# shellcheck disable=SC1090
source "$(scripts/services.sh env)"

echo "== go vet" >&2
go vet ./...
echo "== cross-build (linux/amd64, linux/arm64, windows/amd64)" >&2
scripts/cross-build.sh
echo "== go test" >&2
# Four packages at a time: the end-to-end suites spend most of their time waiting on cadences,
# heartbeats and boots, not on the two cores.
go test -race -count=1 -p 4 -timeout 20m ./...
if [[ ${OSR_SKIP_FUZZ:-} != 1 ]]; then
	echo "== fuzz (${OSR_FUZZTIME:-2s} per target)" >&2
	scripts/fuzz-short.sh "${OSR_FUZZTIME:-2s}"
fi
echo "== all tests passed" >&2
