#!/usr/bin/env bash
# bench-pipeline.sh: figures of the replication pipeline (mobility agent -> process server over
# loopback TLS -> file:// vault store), against rsync over ssh in the same run. Prints a markdown
# table with absolute figures, ratios and goals, each marked PASS, FAIL or info.
#
#   scripts/bench-pipeline.sh            # as root; everything under /var/tmp/osr-bench-pipeline
#
# Steps:
#   a. the 2 GiB ext4 test image (scripts/mkimage.sh, cached), a working copy of it, cat to cache
#   b. initial replication: the agent protects the working copy; time from its start until the
#      first complete point is committed (the agent's POST /capture?wait=true answers then); against rsync -e ssh --whole-file of the same image to
#      127.0.0.1 (scripts/sshd-loopback.sh) + sync. Goal: osr <= 0.8 x rsync.
#   c. delta cycle: tools/mutate changes 1% of the 4 KiB blocks; time from the capture request
#      until the point is committed (one POST /capture?wait=true), against rsync --inplace --no-whole-file of the changed image
#      onto the copy rsync made in b. Goal <= 0.1 x. Bytes on the wire (TCP payload the process
#      server received on the agent's connection, from ss) against the zstd size of the changed
#      blocks that mutate reports. Goal <= 1.2 x.
#      Both b and c also report the CPU seconds each side used (control groups: rsync, ssh, sshd
#      and the remote rsync; the agent and the process server): on a shared machine the times
#      follow the other load, the CPU much less.
#   d. the agent's peak RSS (goal <= 64 MiB) and its tracking state per GiB (from its status).
#   e. one process server with BENCH_AGENTS (50) agents, each its own process with a small disk
#      (BENCH_SMALL, 32 MiB of random and text blocks): errors, aggregate throughput of their
#      initial replications, the process server's peak RSS.
#
# Environment (defaults in brackets): BENCH_DIR [/var/tmp/osr-bench-pipeline], BENCH_SIZE [2G],
# BENCH_IMAGE [BENCH_DIR/image-BENCH_SIZE.raw], BENCH_PERCENT [1], BENCH_AGENTS [50],
# BENCH_SMALL [32M], BENCH_TIMEOUT seconds for each wait [900], BENCH_ROUNDS of b and c [3; the
# figures are medians, every round is listed under the table], OSR_BIN (a prebuilt osr),
# BENCH_PROFILE (a directory: the process server and the 2 GiB agent write CPU profiles there,
# ps.pprof and agent.pprof, when they stop). BENCH_AGENTS=0 leaves out step e.
#
# Exit status: 0 when every step ran (goal misses are reported, not fatal); 1 when a step failed.
set -euo pipefail

ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_DIR=${BENCH_DIR:-/var/tmp/osr-bench-pipeline}
BENCH_SIZE=${BENCH_SIZE:-2G}
BENCH_IMAGE=${BENCH_IMAGE:-$BENCH_DIR/image-$BENCH_SIZE.raw}
BENCH_PERCENT=${BENCH_PERCENT:-1}
BENCH_AGENTS=${BENCH_AGENTS:-50}
BENCH_SMALL=${BENCH_SMALL:-32M}
BENCH_TIMEOUT=${BENCH_TIMEOUT:-900}
BENCH_PROFILE=${BENCH_PROFILE:-}
BENCH_ROUNDS=${BENCH_ROUNDS:-3}
RUN=$BENCH_DIR/run
LOGS=$RUN/logs
BIN=$BENCH_DIR/bin
PASSWORD=osr-bench-password
export OSR_PASSWORD=$PASSWORD OSR_REPO=file://$RUN/vault

log() { echo "bench: $*" >&2; }
die() { echo "bench: error: $*" >&2; exit 1; }
banner() { echo >&2; echo "bench: ===== $* =====" >&2; }
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "inf" }'; }
verdict() { awk -v r="$1" -v l="$2" 'BEGIN { if (r <= l) print "PASS"; else print "FAIL" }'; }
mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }

[[ $(id -u) == 0 ]] || die "run as root (the process server and agents read disks and bind sockets)"

# ---------------------------------------------------------------------------------------------
# Tools and binaries

need=()
command -v rsync >/dev/null || need+=(rsync)
command -v /usr/sbin/sshd >/dev/null || need+=(openssh-server)
command -v ssh >/dev/null || need+=(openssh-client)
command -v curl >/dev/null || need+=(curl)
command -v ss >/dev/null || need+=(iproute2)
command -v mkfs.ext4 >/dev/null || need+=(e2fsprogs)
if ((${#need[@]})); then
	log "installing ${need[*]}"
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

mkdir -p "$BENCH_DIR" "$BIN"
if [[ -n ${OSR_BIN:-} ]]; then cp "$OSR_BIN" "$BIN/osr"; else (cd "$ROOT" && go build -o "$BIN/osr" ./cmd/osr); fi
(cd "$ROOT" && go build -o "$BIN/mutate" ./tools/mutate)
OSR=$BIN/osr

PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	"$ROOT/scripts/sshd-loopback.sh" stop "$RUN/sshd" >/dev/null 2>&1 || true
	cg_clean
}
trap cleanup EXIT

rm -rf "$RUN"
mkdir -p "$RUN" "$LOGS"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# cpu PID: user+system CPU seconds the process used so far.
TCK=$(getconf CLK_TCK)
cpu() { awk -v t="$TCK" '{ sub(/^.*\) /, ""); printf "%.2f\n", ($12 + $13) / t }' "/proc/$1/stat" 2>/dev/null || echo 0; }

# CPU of a group of processes, with their children: each side of the comparison runs in its own
# control group (cgroup v1 cpuacct, else cgroup v2), so the figure counts rsync, ssh, sshd and the
# remote rsync, and the agent and the process server, whatever else runs on the machine.
if [[ -d /sys/fs/cgroup/cpuacct ]]; then
	CG_ROOT=/sys/fs/cgroup/cpuacct
elif [[ -f /sys/fs/cgroup/cgroup.controllers ]]; then
	CG_ROOT=/sys/fs/cgroup
else
	die "no cgroup file system for CPU accounting (/sys/fs/cgroup/cpuacct or cgroup v2)"
fi
# cg_join NAME PID: moves PID (and its future children) into the group osr-bench-NAME.
cg_join() { mkdir -p "$CG_ROOT/osr-bench-$1" && echo "$2" >"$CG_ROOT/osr-bench-$1/cgroup.procs"; }
# cg_cpu NAME: CPU seconds the group used so far.
cg_cpu() {
	local d=$CG_ROOT/osr-bench-$1
	if [[ -f $d/cpuacct.usage ]]; then awk '{ printf "%.2f\n", $1 / 1e9 }' "$d/cpuacct.usage"
	else awk '$1 == "usage_usec" { printf "%.2f\n", $2 / 1e6 }' "$d/cpu.stat"; fi
}
cg_clean() {
	local n d
	for n in rsync osr; do
		d=$CG_ROOT/osr-bench-$n
		[[ -d $d ]] || continue
		while read -r p; do echo "$p" >"$CG_ROOT/cgroup.procs" 2>/dev/null || true; done <"$d/cgroup.procs"
		rmdir "$d" 2>/dev/null || true
	done
}

# peak_rss PID: VmHWM in KiB.
peak_rss() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }

# ---------------------------------------------------------------------------------------------
# The pipeline's processes (the commands of docs/pipeline.md)

PKI=$RUN/pki
PS_PORT=$(free_port)
PS_ADDR=127.0.0.1:$PS_PORT

# reset_pipeline: stops the agent and the process server of an earlier round, and starts a process
# server on a new store and an empty cache (the first call also makes the certificates).
reset_pipeline() {
	local p
	for p in ${BENCH_AGENT_PID:-} ${PS_PID:-}; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
	rm -rf "$RUN/vault" "$RUN/ps-cache" "$RUN"/state-*
	[[ -f $PKI/ps1.crt ]] || setup_pki
	"$OSR" store init >"$LOGS/store-init.log" 2>&1
	start_ps
}

setup_pki() {
	printf '%s\n' "$PASSWORD" >"$RUN/vault-password"
	"$OSR" pki init --dir "$PKI" >"$LOGS/pki.log" 2>&1
	"$OSR" pki issue --dir "$PKI" --role process-server --name ps1 --host 127.0.0.1 >>"$LOGS/pki.log" 2>&1
	cat >"$RUN/ps.yaml" <<EOF
name: ps1
listen: $PS_ADDR
tls:
  ca: $PKI/ca.crt
  cert: $PKI/ps1.crt
  key: $PKI/ps1.key
cache:
  dir: $RUN/ps-cache
  # A budget, so that a shared disk that is already full elsewhere does not hold reading.
  max_bytes: 17179869184
store:
  repo: $OSR_REPO
  password_file: $RUN/vault-password
EOF
}

start_ps() {
	if [[ -n $BENCH_PROFILE ]]; then mkdir -p "$BENCH_PROFILE"; fi
	(cg_join osr "$BASHPID" && OSR_CPUPROFILE=${BENCH_PROFILE:+$BENCH_PROFILE/ps.pprof} exec "$OSR" process-server serve --config "$RUN/ps.yaml" >"$LOGS/ps.log" 2>&1) &
	PS_PID=$!
	PIDS+=("$PS_PID")
	local deadline=$((SECONDS + 30))
	until (exec 3<>"/dev/tcp/127.0.0.1/$PS_PORT") 2>/dev/null; do
		kill -0 "$PS_PID" 2>/dev/null || { tail "$LOGS/ps.log" >&2; die "process server exited"; }
		((SECONDS < deadline)) || die "process server did not listen on $PS_ADDR"
		sleep 0.1
	done
}

# agent_config MACHINE DISK_PATH INTERVAL: writes RUN/agent-MACHINE.yaml (and its certificate).
agent_config() {
	local m=$1 disk=$2 interval=$3
	[[ -f $PKI/$m.crt ]] || "$OSR" pki issue --dir "$PKI" --role agent --name "$m" >>"$LOGS/pki.log" 2>&1
	cat >"$RUN/agent-$m.yaml" <<EOF
machine: $m
process_server: $PS_ADDR
tls:
  ca: $PKI/ca.crt
  cert: $PKI/$m.crt
  key: $PKI/$m.key
  server_name: 127.0.0.1
state_dir: $RUN/state-$m
tracker: scan
crash_consistent_interval: $interval
app_consistent_interval: 24h
log_level: info
disks:
  - name: disk0
    path: $disk
EOF
}

start_agent() {
	local prof=
	if [[ -n $BENCH_PROFILE && $1 == bench ]]; then prof=$BENCH_PROFILE/agent.pprof; fi
	(cg_join osr "$BASHPID" && OSR_CPUPROFILE=$prof exec "$OSR" mobility serve --config "$RUN/agent-$1.yaml" >"$LOGS/agent-$1.log" 2>&1) &
	AGENT_PID=$!
	PIDS+=("$AGENT_PID")
}

# status MACHINE: the agent's status as JSON.
status() { "$OSR" mobility status --config "$RUN/agent-$1.yaml" --json 2>/dev/null; }

# jfield JSON FIELD: one top-level field of a JSON object.
jfield() { python3 -c 'import json,sys; v=json.loads(sys.argv[1]).get(sys.argv[2]); print("" if v is None else v)' "$1" "$2"; }

# wait_committed MACHINE MIN_SEQ: waits until the agent's committed seq is at least MIN_SEQ and
# its state is protected; prints the committed seq.
wait_committed() {
	local m=$1 want=$2 deadline=$((SECONDS + BENCH_TIMEOUT)) st seq state next=$((SECONDS + 15))
	while :; do
		st=$(status "$m" || true)
		if [[ -n $st ]]; then
			seq=$(jfield "$st" committed_seq)
			state=$(jfield "$st" state)
			if [[ $state == protected && ${seq:-0} -ge $want ]]; then
				echo "$seq"
				return
			fi
		fi
		((SECONDS < deadline)) || die "agent $m: no committed point $want within ${BENCH_TIMEOUT}s (status: $st)"
		if ((SECONDS >= next)) && [[ -n $st ]]; then # a slow wait says where it is
			next=$((SECONDS + 15))
			log "agent $m: state $state, initial $(jfield "$st" initial_replication_percent)%, committed seq ${seq:-0}," \
				"process server status '$(jfield "$st" process_server_status)', last error '$(jfield "$st" last_error)'"
		fi
		sleep 0.1
	done
}

# capture_wait MACHINE: asks the agent for a point and returns once a complete point begun after
# the request is committed (POST /capture?wait=true on its socket, which is waited for: the agent
# may be starting). Prints the point as JSON.
capture_wait() {
	local sock=$RUN/state-$1/mobility.sock deadline=$((SECONDS + 30))
	until [[ -S $sock ]]; do
		((SECONDS < deadline)) || die "agent $1: no socket $sock"
		sleep 0.005
	done
	curl -fsS --max-time "$BENCH_TIMEOUT" --unix-socket "$sock" -X POST 'http://agent/capture?wait=true' ||
		die "agent $1: capture failed (status: $(status "$1"))"
}

# ps_received: TCP payload bytes the process server received on its established connections.
ps_received() {
	ss -tinH state established "( sport = :$PS_PORT )" 2>/dev/null |
		grep -o 'bytes_received:[0-9]*' | awk -F: '{ s += $2 } END { printf "%.0f\n", s }'
}

# ---------------------------------------------------------------------------------------------
banner "a. image"
"$ROOT/scripts/mkimage.sh" "$BENCH_IMAGE" "$BENCH_SIZE" >&2
IMAGE=$RUN/image.raw
cp --sparse=never "$BENCH_IMAGE" "$IMAGE"
IMAGE_BYTES=$(stat -c %s "$IMAGE")
sync
cat "$IMAGE" >/dev/null

"$ROOT/scripts/sshd-loopback.sh" start "$RUN/sshd" >&2
# shellcheck disable=SC1091
source "$RUN/sshd/env"
cg_join rsync "$(cat "$RUN/sshd/sshd.pid")"
COPY=$RUN/rsync-copy.raw

# median VALUES...: the median (the lower middle one of an even count).
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# Rounds alternate the peers, so that a slow spell of the machine falls on both; each figure is
# the median of its rounds, and every round is listed.
T_RSYNC_FULLS=() T_OSR_FULLS=() CPU_RSYNC_FULLS=() CPU_AGENT_FULLS=() CPU_PS_FULLS=()
for round in $(seq 1 "$BENCH_ROUNDS"); do
	banner "b. initial replication, round $round of $BENCH_ROUNDS: rsync over ssh"
	rm -f "$COPY"
	sync
	t0=$(now)
	c0=$(cg_cpu rsync)
	(cg_join rsync "$BASHPID" && rsync -e "$SSH_CMD" --whole-file "$IMAGE" "127.0.0.1:$COPY" && sync -f "$COPY")
	T_RSYNC_FULLS+=("$(secs "$t0" "$(now)")")
	CPU_RSYNC_FULLS+=("$(awk -v a="$(cg_cpu rsync)" -v b="$c0" 'BEGIN { printf "%.2f", a - b }')")
	log "rsync whole file: ${T_RSYNC_FULLS[-1]} s, CPU ${CPU_RSYNC_FULLS[-1]} s"

	banner "b. initial replication, round $round of $BENCH_ROUNDS: osr"
	reset_pipeline
	agent_config bench "$IMAGE" 1h
	cat "$IMAGE" >/dev/null
	sync
	t0=$(now)
	start_agent bench
	BENCH_AGENT_PID=$AGENT_PID
	POINT=$(capture_wait bench)
	T_OSR_FULLS+=("$(secs "$t0" "$(now)")")
	CPU_AGENT_FULLS+=("$(cpu "$BENCH_AGENT_PID")")
	CPU_PS_FULLS+=("$(cpu "$PS_PID")")
	log "osr initial replication: ${T_OSR_FULLS[-1]} s (committed seq $(jfield "$POINT" seq)), CPU agent ${CPU_AGENT_FULLS[-1]} s, PS ${CPU_PS_FULLS[-1]} s"
done
T_RSYNC_FULL=$(median "${T_RSYNC_FULLS[@]}")
T_OSR_FULL=$(median "${T_OSR_FULLS[@]}")
CPU_RSYNC_FULL=$(median "${CPU_RSYNC_FULLS[@]}")
CPU_AGENT_FULL=$(median "${CPU_AGENT_FULLS[@]}")
CPU_PS_FULL=$(median "${CPU_PS_FULLS[@]}")

# c. The delta rounds run on the last round's agent and rsync copy; each changes other blocks.
# rsync gets --ignore-times: the copy and the image can have the same size and modification time
# (to its resolution), and rsync would skip the file instead of sending the change.
T_OSR_DELTAS=() T_RSYNC_DELTAS=() WIRE_ALL=() R_WIRES=() CPU_OSR_DELTAS=() CPU_RSYNC_DELTAS=()
for round in $(seq 1 "$BENCH_ROUNDS"); do
	banner "c. delta cycle, round $round of $BENCH_ROUNDS"
	MUTATE_OUT=$("$BIN/mutate" --image "$IMAGE" --percent "$BENCH_PERCENT" --seed "$round")
	log "$MUTATE_OUT"
	ZSTD_BYTES=$(sed -n 's/.* zstd_bytes=\([0-9]*\).*/\1/p' <<<"$MUTATE_OUT")
	CHANGED_BYTES=$(sed -n 's/.* bytes=\([0-9]*\) .*/\1/p' <<<"$MUTATE_OUT")
	cat "$IMAGE" >/dev/null
	ca0=$(cpu "$BENCH_AGENT_PID") cp0=$(cpu "$PS_PID")
	rx0=$(ps_received)
	t0=$(now)
	capture_wait bench >/dev/null
	T_OSR_DELTAS+=("$(secs "$t0" "$(now)")")
	rx1=$(ps_received)
	WIRE_BYTES=$((rx1 - rx0))
	# A reconnect in between resets the counters: then the figure is unknown.
	((WIRE_BYTES > 0)) || { log "the agent reconnected during the delta cycle: no wire figure"; WIRE_BYTES=0; }
	WIRE_ALL+=("$WIRE_BYTES")
	R_WIRES+=("$(ratio "$WIRE_BYTES" "$ZSTD_BYTES")")
	CPU_OSR_DELTAS+=("$(awk -v a="$(cpu "$BENCH_AGENT_PID")" -v b="$ca0" -v c="$(cpu "$PS_PID")" -v d="$cp0" 'BEGIN { printf "%.2f", a - b + c - d }')")
	log "osr delta: ${T_OSR_DELTAS[-1]} s, $WIRE_BYTES bytes on the wire, CPU ${CPU_OSR_DELTAS[-1]} s"
	t0=$(now)
	c0=$(cg_cpu rsync)
	RSYNC_STATS=$(cg_join rsync "$BASHPID" && rsync -e "$SSH_CMD" --inplace --no-whole-file --ignore-times --stats "$IMAGE" "127.0.0.1:$COPY" && sync -f "$COPY")
	T_RSYNC_DELTAS+=("$(secs "$t0" "$(now)")")
	CPU_RSYNC_DELTAS+=("$(awk -v a="$(cg_cpu rsync)" -v b="$c0" 'BEGIN { printf "%.2f", a - b }')")
	RSYNC_SENT=$(sed -n 's/^Total bytes sent: \([0-9,]*\).*/\1/p' <<<"$RSYNC_STATS" | tr -d ,)
	log "rsync delta: ${T_RSYNC_DELTAS[-1]} s, $RSYNC_SENT bytes sent"
	cmp "$IMAGE" "$COPY" || die "rsync's copy differs from the image"
done
T_OSR_DELTA=$(median "${T_OSR_DELTAS[@]}")
T_RSYNC_DELTA=$(median "${T_RSYNC_DELTAS[@]}")
CPU_OSR_DELTA=$(median "${CPU_OSR_DELTAS[@]}")
CPU_RSYNC_DELTA=$(median "${CPU_RSYNC_DELTAS[@]}")
PS_RSS_ONE=$(peak_rss "$PS_PID")

banner "d. agent memory and tracking state"
AGENT_RSS=$(peak_rss "$BENCH_AGENT_PID")
ST=$(status bench)
TRACK_PER_GIB=$(jfield "$ST" tracking_state_bytes_per_gib)
log "agent peak RSS $((AGENT_RSS / 1024)) MiB, tracking state $TRACK_PER_GIB bytes/GiB"
# Check the last point against the image: the export must equal it byte for byte.
"$OSR" store export --point latest --machine bench --disk disk0 --out "$RUN/export.raw" >>"$LOGS/export.log" 2>&1
if cmp "$IMAGE" "$RUN/export.raw"; then EXPORT_OK=PASS; else EXPORT_OK=FAIL; fi
rm -f "$RUN/export.raw" "$COPY"
kill "$BENCH_AGENT_PID" 2>/dev/null || true
wait "$BENCH_AGENT_PID" 2>/dev/null || true

T_MANY=0 THROUGHPUT=n/a ERRORS=0 PS_RSS=0 CHECK=n/a
if ((BENCH_AGENTS > 0)); then
banner "e. $BENCH_AGENTS agents on one process server"
small=$(numfmt --from=iec "$BENCH_SMALL")
python3 - "$RUN/small" "$BENCH_AGENTS" "$small" <<'EOF'
import os, random, sys
d, n, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
os.makedirs(d, exist_ok=True)
text = (b"osr small disk block " * 200)[:4096]
for i in range(n):
    r = random.Random(i)
    with open(os.path.join(d, "disk%03d.img" % i), "wb") as f:
        for b in range(size // 4096):
            k = r.randrange(3)
            f.write(os.urandom(4096) if k == 0 else (text if k == 1 else bytes(4096)))
EOF
sync
AGENT_PIDS=()
for i in $(seq 0 $((BENCH_AGENTS - 1))); do
	m=$(printf 'many%03d' "$i")
	agent_config "$m" "$RUN/small/disk$(printf %03d "$i").img" 1h
done
t0=$(now)
for i in $(seq 0 $((BENCH_AGENTS - 1))); do
	start_agent "$(printf 'many%03d' "$i")"
	AGENT_PIDS+=("$AGENT_PID")
done
ERRORS=0
for i in $(seq 0 $((BENCH_AGENTS - 1))); do
	m=$(printf 'many%03d' "$i")
	if ! (wait_committed "$m" 1 >/dev/null); then ERRORS=$((ERRORS + 1)); fi
done
T_MANY=$(secs "$t0" "$(now)")
for i in $(seq 0 $((BENCH_AGENTS - 1))); do
	m=$(printf 'many%03d' "$i")
	le=$(jfield "$(status "$m" || echo '{}')" last_error)
	[[ -z $le ]] || { log "agent $m: last error: $le"; ERRORS=$((ERRORS + 1)); }
	kill -0 "${AGENT_PIDS[$i]}" 2>/dev/null || { log "agent $m exited"; ERRORS=$((ERRORS + 1)); }
done
PS_RSS=$(peak_rss "$PS_PID")
MANY_BYTES=$((BENCH_AGENTS * small))
THROUGHPUT=$(awk -v b="$MANY_BYTES" -v t="$T_MANY" 'BEGIN { printf "%.1f MiB/s", b / 1048576 / t }')
fi
"$OSR" store check >"$LOGS/check.log" 2>&1 && CHECK=PASS || CHECK=FAIL

# ---------------------------------------------------------------------------------------------
banner "table"
R_FULL=$(ratio "$T_OSR_FULL" "$T_RSYNC_FULL")
R_DELTA=$(ratio "$T_OSR_DELTA" "$T_RSYNC_DELTA")
R_WIRE=$(printf '%s\n' "${R_WIRES[@]}" | sort -g | tail -1) # the worst round
FULL_MIBS=$(awk -v b="$IMAGE_BYTES" -v t="$T_OSR_FULL" 'BEGIN { printf "%.0f MiB/s", b / 1048576 / t }')
echo
echo "osr replication pipeline, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, load average $(cut -d" " -f1-3 /proc/loadavg) at the end, image $(mib "$IMAGE_BYTES"), $BENCH_PERCENT% of blocks changed ($(mib "$CHANGED_BYTES"))"
echo
echo "| figure | osr | peer | ratio | goal | result |"
echo "|---|---|---|---|---|---|"
echo "| initial replication (agent → PS → file://) | ${T_OSR_FULL} s ($FULL_MIBS) | rsync -e ssh --whole-file ${T_RSYNC_FULL} s | $R_FULL | ≤ 0.8 | $(verdict "$R_FULL" 0.8) |"
CPU_OSR_FULL=$(awk -v a="$CPU_AGENT_FULL" -v b="$CPU_PS_FULL" 'BEGIN { printf "%.2f", a + b }')
echo "| CPU of the initial replication | ${CPU_OSR_FULL} s (agent ${CPU_AGENT_FULL} s, PS ${CPU_PS_FULL} s) | rsync, ssh, sshd ${CPU_RSYNC_FULL} s | $(ratio "$CPU_OSR_FULL" "$CPU_RSYNC_FULL") | | info |"
echo "| delta cycle, capture to commit | ${T_OSR_DELTA} s | rsync --inplace --no-whole-file ${T_RSYNC_DELTA} s | $R_DELTA | ≤ 0.1 | $(verdict "$R_DELTA" 0.1) |"
echo "| delta bytes on the wire (worst round; last round shown) | $(mib "$WIRE_BYTES") | zstd of the changed blocks $(mib "$ZSTD_BYTES") (rsync sent $(mib "${RSYNC_SENT:-0}")) | $R_WIRE | ≤ 1.2 | $(verdict "$R_WIRE" 1.2) |"
echo "| CPU of the delta cycle | ${CPU_OSR_DELTA} s (agent and PS) | rsync, ssh, sshd ${CPU_RSYNC_DELTA} s | $(ratio "$CPU_OSR_DELTA" "$CPU_RSYNC_DELTA") | | info |"
echo "| PS peak RSS, one agent, 2 GiB | $((PS_RSS_ONE / 1024)) MiB | | | | info |"
echo "| agent peak RSS, 2 GiB disk | $((AGENT_RSS / 1024)) MiB | | | ≤ 64 MiB | $(verdict "$AGENT_RSS" 65536) |"
echo "| tracking state per GiB | ${TRACK_PER_GIB:-n/a} bytes | | | | info |"
echo "| export of the last point equals the image | | | | byte-exact | $EXPORT_OK |"
echo "| $BENCH_AGENTS agents × $BENCH_SMALL, one PS | $T_MANY s, $THROUGHPUT aggregate, $ERRORS errors | | | 0 errors | $([[ $ERRORS == 0 ]] && echo PASS || echo FAIL) |"
echo "| PS peak RSS with $BENCH_AGENTS agents | $((PS_RSS / 1024)) MiB | | | | info |"
echo "| store check after the run | | | | no problems | $CHECK |"
echo
echo "Medians of $BENCH_ROUNDS rounds. Rounds, osr / rsync in seconds: initial replication ${T_OSR_FULLS[*]} / ${T_RSYNC_FULLS[*]}; delta ${T_OSR_DELTAS[*]} / ${T_RSYNC_DELTAS[*]}."
