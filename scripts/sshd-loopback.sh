#!/usr/bin/env bash
# Runs a throwaway sshd on a loopback port for benchmarks that compare with rsync over ssh.
#
# Usage: scripts/sshd-loopback.sh start DIR | stop DIR | env DIR
#   start  makes DIR (host key, client key, authorized_keys, sshd_config), starts sshd on a free
#          port of 127.0.0.1 with key logins for the current user only, waits until it answers and
#          writes DIR/env, a file to source. It defines SSHD_PORT and SSH_CMD, the ssh command line
#          for rsync -e "$SSH_CMD" (the host key is checked against DIR/known_hosts).
#   stop   stops that sshd and removes DIR.
#   env    prints DIR/env (fails if sshd was not started).
#
# Needs openssh-server and openssh-client (installed with apt-get when missing and root).
set -euo pipefail

die() { echo "sshd-loopback: $*" >&2; exit 1; }

cmd=${1:-}
dir=${2:-}
[[ -n $cmd && -n $dir ]] || die "usage: $0 start|stop|env DIR"

start() {
	local need=()
	command -v /usr/sbin/sshd >/dev/null || need+=(openssh-server)
	command -v ssh >/dev/null || need+=(openssh-client)
	if ((${#need[@]})); then
		[[ $(id -u) == 0 ]] || die "missing ${need[*]}; install them or run as root"
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
	fi
	if [[ -f $dir/sshd.pid ]] && kill -0 "$(cat "$dir/sshd.pid")" 2>/dev/null; then
		echo "sshd-loopback: already running; env file: $dir/env" >&2
		return
	fi
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	chmod 700 "$dir"
	rm -f "$dir"/host_key* "$dir"/client_key*
	ssh-keygen -q -t ed25519 -N '' -f "$dir/host_key"
	ssh-keygen -q -t ed25519 -N '' -f "$dir/client_key"
	cp "$dir/client_key.pub" "$dir/authorized_keys"
	local port
	port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null ||
		echo $((20000 + RANDOM % 20000)))
	cat >"$dir/sshd_config" <<CONF
ListenAddress 127.0.0.1:$port
HostKey $dir/host_key
PidFile $dir/sshd.pid
AuthorizedKeysFile $dir/authorized_keys
AllowUsers $(id -un)
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin prohibit-password
StrictModes no
UsePAM no
X11Forwarding no
AllowTcpForwarding no
Subsystem sftp internal-sftp
LogLevel ERROR
CONF
	mkdir -p /run/sshd 2>/dev/null || true
	/usr/sbin/sshd -f "$dir/sshd_config" -E "$dir/sshd.log"
	echo "127.0.0.1 $(cut -d' ' -f1,2 "$dir/host_key.pub")" | sed "s/^127.0.0.1/[127.0.0.1]:$port/" >"$dir/known_hosts"
	local ssh_cmd="ssh -p $port -i $dir/client_key -o UserKnownHostsFile=$dir/known_hosts -o StrictHostKeyChecking=yes -o BatchMode=yes -o Compression=no"
	for _ in $(seq 50); do
		if $ssh_cmd 127.0.0.1 true 2>/dev/null; then
			cat >"$dir/env" <<ENV
export SSHD_PORT=$port
export SSH_CMD="$ssh_cmd"
ENV
			echo "sshd-loopback: sshd on 127.0.0.1:$port; env file: $dir/env" >&2
			return
		fi
		sleep 0.1
	done
	cat "$dir/sshd.log" >&2 || true
	die "sshd did not accept a key login on 127.0.0.1:$port"
}

stop() {
	if [[ -f $dir/sshd.pid ]]; then
		local pid
		pid=$(cat "$dir/sshd.pid")
		if tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "sshd"; then
			kill "$pid" 2>/dev/null || true
		fi
	fi
	[[ -f $dir/sshd_config ]] && rm -rf "$dir"
	return 0
}

case $cmd in
start) start ;;
stop) stop ;;
env) [[ -f $dir/env ]] || die "no env file: run $0 start $dir first"; echo "$dir/env" ;;
*) die "usage: $0 start|stop|env DIR" ;;
esac
