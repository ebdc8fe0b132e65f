#!/usr/bin/env bash
# bench-store.sh: compares osr's vault store with its peers in one run and prints a markdown table
# with absolute times, ratios and the goals, each marked PASS or FAIL.
#
#   scripts/bench-store.sh                 # everything, 2 GiB image under /var/tmp/osr-bench
#   BENCH_OSR=0 scripts/bench-store.sh     # the peers only (cp, restic, rsync, cat)
#
# Steps, each with the image in the page cache (read with cat just before) and dirty pages flushed
# (sync) just before the clock starts:
#   a. cp IMAGE copy + sync -f copy                      (peer of the full put)
#   b. osr store put of IMAGE into a fresh repository    (time, peak RSS, bytes stored)
#   c. restic backup of IMAGE into a fresh repository    (peer of the full put)
#   d. tools/mutate changes BENCH_PERCENT% of IMAGE's 4 KiB blocks, then
#        cat IMAGE >/dev/null                            (peer of the incremental put)
#        incremental osr store put                       (time, RSS, bytes added to the repository)
#        rsync --inplace --no-whole-file IMAGE copy + sync -f copy  (for information)
#        incremental restic backup                       (time, bytes added; for information)
#      bytes added are compared with the zstd size of the changed blocks as mutate reports it.
#   e. osr store export --point latest to a file + sync -f (both sides are synced), against
#      cp IMAGE file + sync -f; then cmp of the export with IMAGE, which must match.
#   f. the table.
#
# IMAGE is a working copy (BENCH_DIR/run/image.raw) of the cached image that scripts/mkimage.sh
# builds once (BENCH_DIR/image-SIZE.raw); the run directory is made anew each run.
#
# Environment (defaults in brackets):
#   BENCH_DIR      work directory [/var/tmp/osr-bench]
#   BENCH_SIZE     image size for mkimage.sh [2G]
#   BENCH_IMAGE    the cached pristine image [BENCH_DIR/image-BENCH_SIZE.raw]
#   BENCH_PERCENT  share of blocks mutate changes [1]
#   BENCH_SEED     mutate's seed [1]
#   BENCH_CONTENT  mutate's new content: random or text [random]
#   BENCH_MACHINE, BENCH_DISK  machine and disk names given to osr [bench, root]
#   BENCH_OSR      1 to run the osr steps, 0 for the peers only [1]
#   OSR_BIN        a prebuilt osr binary [built from ./cmd/osr into BENCH_DIR/bin]
#   BENCH_OSR_REPO the osr repository URL [file://BENCH_DIR/run/osr-repo]; bytes are measured
#                  when it is a local directory (file://PATH or PATH)
#   OSR_PASSWORD, RESTIC_PASSWORD  repository passwords [fixed bench passwords]
#
# Exit status: 0 when every step ran (goal misses are reported, not fatal); 1 when a correctness
# check failed (the export differs from the image) or a peer step failed; 2 when osr steps failed
# or osr could not be built (the peers' numbers are still printed).
# shellcheck disable=SC2016 # the bash -c scripts below expand their own arguments
set -euo pipefail

ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_DIR=${BENCH_DIR:-/var/tmp/osr-bench}
BENCH_SIZE=${BENCH_SIZE:-2G}
BENCH_IMAGE=${BENCH_IMAGE:-$BENCH_DIR/image-$BENCH_SIZE.raw}
BENCH_PERCENT=${BENCH_PERCENT:-1}
BENCH_SEED=${BENCH_SEED:-1}
BENCH_CONTENT=${BENCH_CONTENT:-random}
BENCH_MACHINE=${BENCH_MACHINE:-bench}
BENCH_DISK=${BENCH_DISK:-root}
BENCH_OSR=${BENCH_OSR:-1}
RUN=$BENCH_DIR/run
LOGS=$RUN/logs
BENCH_OSR_REPO=${BENCH_OSR_REPO:-file://$RUN/osr-repo}
export OSR_REPO=$BENCH_OSR_REPO
export OSR_PASSWORD=${OSR_PASSWORD:-osr-bench-password}
export RESTIC_PASSWORD=${RESTIC_PASSWORD:-restic-bench-password}
IMAGE=$RUN/image.raw
COPY=$RUN/copy.raw
RESTIC_REPO=$RUN/restic-repo
RESTIC=(restic -r "$RESTIC_REPO" --cache-dir "$RUN/restic-cache")

log() { echo "bench: $*" >&2; }
die() { echo "bench: error: $*" >&2; exit 1; }
banner() { echo >&2; echo "bench: ===== $* =====" >&2; }

# ---------------------------------------------------------------------------------------------
# Tools

install_missing() {
	local pkgs=() t
	command -v restic >/dev/null || pkgs+=(restic)
	command -v rsync >/dev/null || pkgs+=(rsync)
	command -v zstd >/dev/null || pkgs+=(zstd)
	[ -x /usr/bin/time ] || pkgs+=(time)
	for t in mkfs.ext4 e2fsck; do
		command -v "$t" >/dev/null || [ -x "/usr/sbin/$t" ] || { pkgs+=(e2fsprogs); break; }
	done
	[ "${#pkgs[@]}" -eq 0 ] && return 0
	[ "$(id -u)" -eq 0 ] || die "missing packages ${pkgs[*]}: run as root or install them"
	log "installing ${pkgs[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${pkgs[@]}" >/dev/null
}

# ---------------------------------------------------------------------------------------------
# Measuring

declare -A T=() RSS=() STATUS=()
OSR_ERRORS=()
PEER_ERRORS=()

# secs A B: B - A in seconds, 3 decimals.
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }

# warm FILE: reads FILE into the page cache.
warm() { cat -- "$1" >/dev/null; }

# timed KEY CMD...: flushes dirty pages, then runs CMD under /usr/bin/time -v with its standard
# output in LOGS/KEY.log and its standard error in LOGS/KEY.err; sets T[KEY] (wall seconds) and RSS[KEY] (peak RSS in KiB, of the largest process
# of the command's tree). Returns CMD's status.
timed() {
	local key=$1 t0 t1 rc=0
	shift
	sync
	t0=$(date +%s.%N)
	/usr/bin/time -v -o "$LOGS/$key.time" "$@" >"$LOGS/$key.log" 2>"$LOGS/$key.err" || rc=$?
	t1=$(date +%s.%N)
	T[$key]=$(secs "$t0" "$t1")
	RSS[$key]=$(awk -F': *' '/Maximum resident set size/ { print $2 }' "$LOGS/$key.time")
	log "$key: ${T[$key]} s, peak RSS ${RSS[$key]:-?} KiB, exit status $rc (output: $LOGS/$key.log, .err)"
	return "$rc"
}

# peer KEY CMD...: a timed peer step; a failure is recorded and shown, and the run goes on.
peer() {
	local key=$1
	if timed "$@"; then
		STATUS[$key]=ok
	else
		STATUS[$key]=error
		PEER_ERRORS+=("$key")
		log "PEER STEP $key FAILED; last lines of its output:"
		tail -n 20 "$LOGS/$key.log" "$LOGS/$key.err" >&2 || true
	fi
}

# osr_step KEY CMD...: a timed osr step, skipped when osr is not available; a failure is recorded
# and shown, and the run goes on. Returns non-zero when the step did not succeed.
osr_step() {
	local key=$1
	if [ -z "$OSR" ]; then
		STATUS[$key]=n/a
		log "OSR STEP $key SKIPPED: $OSR_WHY"
		return 1
	fi
	if timed "$@"; then
		STATUS[$key]=ok
		return 0
	fi
	STATUS[$key]=error
	OSR_ERRORS+=("$key")
	log "OSR STEP $key FAILED; last lines of its output:"
	tail -n 20 "$LOGS/$key.log" "$LOGS/$key.err" >&2 || true
	return 1
}

# dir_bytes DIR: the sum of the sizes of the files under DIR.
dir_bytes() { find "$1" -type f -printf '%s\n' | awk '{ s += $1 } END { printf "%.0f\n", s }'; }

# osr_repo_dir: the osr repository's local directory, or nothing when it is not local.
osr_repo_dir() {
	case "$BENCH_OSR_REPO" in
	file://*) echo "${BENCH_OSR_REPO#file://}" ;;
	/*) echo "$BENCH_OSR_REPO" ;;
	esac
}

osr_repo_bytes() {
	local d
	d=$(osr_repo_dir)
	if [ -n "$d" ] && [ -d "$d" ]; then dir_bytes "$d"; fi
}

# ---------------------------------------------------------------------------------------------
# Setup

install_missing
command -v go >/dev/null || die "go is needed to build tools/mutate and cmd/osr"
mkdir -p "$BENCH_DIR/bin"

banner "image"
"$ROOT/scripts/mkimage.sh" "$BENCH_IMAGE" "$BENCH_SIZE"

banner "build"
(cd "$ROOT" && go build -o "$BENCH_DIR/bin/mutate" ./tools/mutate) || die "cannot build tools/mutate"
OSR=
OSR_WHY=
if [ "$BENCH_OSR" != 1 ]; then
	OSR_WHY="BENCH_OSR=$BENCH_OSR (peers only)"
elif [ -n "${OSR_BIN:-}" ]; then
	[ -x "$OSR_BIN" ] || die "OSR_BIN=$OSR_BIN is not an executable"
	OSR=$OSR_BIN
elif [ ! -d "$ROOT/cmd/osr" ]; then
	OSR_WHY="$ROOT/cmd/osr does not exist yet"
elif (cd "$ROOT" && go build -o "$BENCH_DIR/bin/osr" ./cmd/osr) >"$BENCH_DIR/build-osr.log" 2>&1; then
	OSR=$BENCH_DIR/bin/osr
else
	OSR_WHY="go build ./cmd/osr failed (see $BENCH_DIR/build-osr.log)"
	tail -n 20 "$BENCH_DIR/build-osr.log" >&2 || true
fi
if [ -n "$OSR" ]; then log "osr: $OSR"; else log "osr UNAVAILABLE: $OSR_WHY; its steps are skipped"; fi

log "fresh run directory $RUN"
rm -rf -- "$RUN"
mkdir -p -- "$RUN" "$LOGS"
cp -- "$BENCH_IMAGE" "$IMAGE"
sync
IMAGE_BYTES=$(stat -c %s "$IMAGE")
cd "$RUN"

# ---------------------------------------------------------------------------------------------
# a. cp + sync

banner "a. cp IMAGE copy + sync -f copy"
warm "$IMAGE"
peer cp_full bash -c 'cp -- "$1" "$2" && sync -f -- "$2"' _ "$IMAGE" "$COPY"

# ---------------------------------------------------------------------------------------------
# b. osr store put (full)

banner "b. osr store put (full)"
OSR_POINT1=
OSR_BYTES_FULL=
if [ -n "$OSR" ]; then
	d=$(osr_repo_dir)
	[ -z "$d" ] || rm -rf -- "$d"
	if ! "$OSR" store init >"$LOGS/osr_init.log" 2>&1; then
		log "osr store init FAILED:"; tail -n 20 "$LOGS/osr_init.log" >&2
		OSR_ERRORS+=(osr_init)
		OSR_WHY="osr store init failed (see $LOGS/osr_init.log)"
		OSR=
	fi
fi
warm "$IMAGE"
if osr_step osr_put_full "$OSR" store put --machine "$BENCH_MACHINE" --disk "$BENCH_DISK=$IMAGE"; then
	OSR_POINT1=$(tail -n 1 "$LOGS/osr_put_full.log")
	OSR_BYTES_FULL=$(osr_repo_bytes)
	log "point $OSR_POINT1; repository holds ${OSR_BYTES_FULL:-?} bytes"
fi

# ---------------------------------------------------------------------------------------------
# c. restic backup (full)

banner "c. restic backup (full)"
"${RESTIC[@]}" init >"$LOGS/restic_init.log" 2>&1 || { tail -n 20 "$LOGS/restic_init.log" >&2; die "restic init failed"; }
warm "$IMAGE"
peer restic_full "${RESTIC[@]}" backup --host "$BENCH_MACHINE" "$IMAGE"
RESTIC_BYTES_FULL=$(dir_bytes "$RESTIC_REPO")

# ---------------------------------------------------------------------------------------------
# d. mutate, then the incremental steps

banner "d. mutate $BENCH_PERCENT% ($BENCH_CONTENT), then incremental"
"$BENCH_DIR/bin/mutate" --image "$IMAGE" --percent "$BENCH_PERCENT" --seed "$BENCH_SEED" \
	--content "$BENCH_CONTENT" --list "$RUN/changed.list" | tee "$LOGS/mutate.log" >&2
field() { grep -o " $1=[0-9]*" "$LOGS/mutate.log" | cut -d= -f2; }
CHANGED_BLOCKS=$(field changed)
CHANGED_BYTES=$(field bytes)
ZSTD_BYTES=$(field zstd_bytes)
[ -n "$ZSTD_BYTES" ] || die "cannot read zstd_bytes from mutate's summary"

warm "$IMAGE"
peer cat_incr bash -c 'cat -- "$1" >/dev/null' _ "$IMAGE"

OSR_POINT2=
OSR_BYTES_ADDED=
warm "$IMAGE"
before=$(osr_repo_bytes)
if osr_step osr_put_incr "$OSR" store put --machine "$BENCH_MACHINE" --disk "$BENCH_DISK=$IMAGE"; then
	OSR_POINT2=$(tail -n 1 "$LOGS/osr_put_incr.log")
	after=$(osr_repo_bytes)
	if [ -n "$before" ] && [ -n "$after" ]; then OSR_BYTES_ADDED=$((after - before)); fi
	log "point $OSR_POINT2; ${OSR_BYTES_ADDED:-?} bytes added to the repository"
fi

warm "$IMAGE"
peer rsync_incr bash -c 'rsync --inplace --no-whole-file --ignore-times --stats -- "$1" "$2" && sync -f -- "$2"' _ "$IMAGE" "$COPY"
RSYNC_SENT=$(awk -F': *' '/^Total bytes sent:/ { gsub(/[^0-9]/, "", $2); print $2 }' "$LOGS/rsync_incr.log")
RSYNC_LITERAL=$(awk -F': *' '/^Literal data:/ { gsub(/[^0-9]/, "", $2); print $2 }' "$LOGS/rsync_incr.log")

warm "$IMAGE"
before=$(dir_bytes "$RESTIC_REPO")
peer restic_incr "${RESTIC[@]}" backup --host "$BENCH_MACHINE" "$IMAGE"
RESTIC_BYTES_ADDED=$(($(dir_bytes "$RESTIC_REPO") - before))

# ---------------------------------------------------------------------------------------------
# e. export vs cp, both followed by sync -f; cmp

banner "e. osr store export --point latest vs cp (both + sync -f)"
CMP_RESULT=n/a
rm -f -- "$RUN/exported.raw"
if osr_step osr_export bash -c '"$1" store export --point latest --machine "$2" --disk "$3" --out "$4" && sync -f -- "$4"' \
	_ "$OSR" "$BENCH_MACHINE" "$BENCH_DISK" "$RUN/exported.raw"; then
	if cmp -- "$RUN/exported.raw" "$IMAGE" >"$LOGS/cmp.log" 2>&1; then
		CMP_RESULT=identical
		log "cmp: the export is identical to the image"
		rm -f -- "$RUN/exported.raw"
	else
		CMP_RESULT=DIFFERENT
		echo "bench: ***** CORRECTNESS FAILURE: the export differs from the image *****" >&2
		cat "$LOGS/cmp.log" >&2
		echo "bench: kept $RUN/exported.raw and $IMAGE for inspection" >&2
	fi
fi
warm "$IMAGE"
peer cp_export bash -c 'cp -- "$1" "$2" && sync -f -- "$2"' _ "$IMAGE" "$RUN/cp-export.raw"
rm -f -- "$RUN/cp-export.raw"

# ---------------------------------------------------------------------------------------------
# f. the table

ROWS=()
# row OPERATION OSR PEER RATIO GOAL RESULT
row() { ROWS+=("| $1 | $2 | $3 | $4 | $5 | $6 |"); }

# fmt_s KEY: KEY's time, or the step's status when it has none.
fmt_s() {
	case "${STATUS[$1]:-n/a}" in
	ok) printf '%.2f s' "${T[$1]}" ;;
	*) printf '%s' "${STATUS[$1]:-n/a}" ;;
	esac
}
fmt_mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
fmt_rss() { awk -v k="$1" 'BEGIN { printf "%.0f MiB", k / 1024 }'; }
# ratio A B: A/B, 2 decimals.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "inf" }'; }
# verdict VALUE LIMIT: PASS when VALUE <= LIMIT.
verdict() { awk -v v="$1" -v l="$2" 'BEGIN { if (v != "inf" && v + 0 <= l + 0) print "PASS"; else print "FAIL" }'; }
ok() { [ "${STATUS[$1]:-}" = ok ]; }
skip_word() { case "${STATUS[$1]:-n/a}" in error) echo ERROR ;; *) echo SKIP ;; esac; }

# time_row OPERATION OSR_KEY PEER_LABEL PEER_KEY LIMIT [GOAL]: a time comparison, PASS when the
# ratio is at most LIMIT; LIMIT empty for information only. GOAL is the goal's text.
time_row() {
	local op=$1 ok_key=$2 peer_label=$3 peer_key=$4 limit=$5 goal=${6:-} r result
	[ -n "$goal" ] || goal=${limit:+≤ ${limit}×}
	goal=${goal:-info}
	if ok "$ok_key" && ok "$peer_key"; then
		r=$(ratio "${T[$ok_key]}" "${T[$peer_key]}")
		if [ -n "$limit" ]; then result=$(verdict "$r" "$limit"); else result=—; fi
		row "$op" "$(fmt_s "$ok_key")" "$peer_label $(fmt_s "$peer_key")" "${r}×" "$goal" "$result"
	else
		if [ -n "$limit" ]; then result=$(skip_word "$ok_key"); else result=—; fi
		ok "$peer_key" || result=ERROR
		row "$op" "$(fmt_s "$ok_key")" "$peer_label $(fmt_s "$peer_key")" — "$goal" "$result"
	fi
}

time_row "full put" osr_put_full "cp+sync" cp_full 2.5
time_row "full put" osr_put_full "restic" restic_full 0.25
time_row "incremental put" osr_put_incr "cat" cat_incr 1.5
time_row "incremental put" osr_put_incr "rsync+sync" rsync_incr ""
time_row "incremental put" osr_put_incr "restic" restic_incr ""

zstd_label="zstd of changed blocks $(fmt_mib "$ZSTD_BYTES")"
if ok osr_put_incr && [ -n "$OSR_BYTES_ADDED" ]; then
	r=$(ratio "$OSR_BYTES_ADDED" "$ZSTD_BYTES")
	row "incremental bytes added" "$(fmt_mib "$OSR_BYTES_ADDED")" "$zstd_label" "${r}×" "≤ 1.5×" "$(verdict "$r" 1.5)"
elif ok osr_put_incr; then
	row "incremental bytes added" "not measured (repository not local)" "$zstd_label" — "≤ 1.5×" SKIP
else
	row "incremental bytes added" "$(fmt_s osr_put_incr)" "$zstd_label" — "≤ 1.5×" "$(skip_word osr_put_incr)"
fi
if ok restic_incr; then
	row "incremental bytes added (restic)" "—" "restic $(fmt_mib "$RESTIC_BYTES_ADDED")" \
		"$(ratio "$RESTIC_BYTES_ADDED" "$ZSTD_BYTES")× of zstd" info —
fi
if ok rsync_incr; then
	row "incremental bytes sent (rsync)" "—" "rsync $(fmt_mib "${RSYNC_SENT:-0}") (literal $(fmt_mib "${RSYNC_LITERAL:-0}"))" \
		"$(ratio "${RSYNC_SENT:-0}" "$ZSTD_BYTES")× of zstd" info —
fi

# Export: time ≤ cp time / 0.6, i.e. at least 0.6× cp's throughput.
export_goal="≤ 1.67× (≥ 0.6× throughput)"
if ok osr_export && ok cp_export; then
	r=$(ratio "${T[osr_export]}" "${T[cp_export]}")
	thr_osr=$(awk -v b="$IMAGE_BYTES" -v t="${T[osr_export]}" 'BEGIN { printf "%.0f MiB/s", b / 1048576 / t }')
	thr_cp=$(awk -v b="$IMAGE_BYTES" -v t="${T[cp_export]}" 'BEGIN { printf "%.0f MiB/s", b / 1048576 / t }')
	row "export (+sync)" "$(fmt_s osr_export), $thr_osr" "cp+sync $(fmt_s cp_export), $thr_cp" "${r}×" \
		"$export_goal" "$(verdict "$r" 1.6667)"
else
	time_row "export (+sync)" osr_export "cp+sync" cp_export 1.6667 "$export_goal"
fi
row "export = image (cmp)" "$CMP_RESULT" — — identical \
	"$(case "$CMP_RESULT" in identical) echo PASS ;; DIFFERENT) echo FAIL ;; *) skip_word osr_export ;; esac)"

for key in osr_put_full osr_put_incr osr_export; do
	peer_rss=—
	case "$key" in
	osr_put_full) ok restic_full && peer_rss="restic $(fmt_rss "${RSS[restic_full]}")" ;;
	osr_put_incr) ok restic_incr && peer_rss="restic $(fmt_rss "${RSS[restic_incr]}")" ;;
	esac
	if ok "$key"; then
		rss_mib=$(awk -v k="${RSS[$key]}" 'BEGIN { printf "%.1f", k / 1024 }')
		row "peak RSS ${key#osr_}" "$(fmt_rss "${RSS[$key]}")" "$peer_rss" — "≤ 200 MiB" "$(verdict "$rss_mib" 200)"
	else
		row "peak RSS ${key#osr_}" "$(fmt_s "$key")" "$peer_rss" — "≤ 200 MiB" "$(skip_word "$key")"
	fi
done

{
	echo
	echo "## osr vault store benchmark"
	echo
	echo "- image: $(fmt_mib "$IMAGE_BYTES") ext4 from scripts/mkimage.sh ($BENCH_IMAGE), in the page cache for every step"
	echo "- change: $BENCH_PERCENT% of 4 KiB blocks = $CHANGED_BLOCKS blocks, $(fmt_mib "$CHANGED_BYTES"), content $BENCH_CONTENT, seed $BENCH_SEED; zstd (SpeedFastest, per block) $(fmt_mib "$ZSTD_BYTES")"
	echo "- osr: ${OSR:-UNAVAILABLE ($OSR_WHY)}; repository $BENCH_OSR_REPO${OSR_BYTES_FULL:+; $(fmt_mib "$OSR_BYTES_FULL") after the full put}"
	echo "- peers: $(restic version 2>/dev/null | awk '{ print $1, $2 }'), $(rsync --version | awk 'NR == 1 { print $1, $3 }'); restic repository $(fmt_mib "$RESTIC_BYTES_FULL") after the full backup"
	echo "- cp, rsync and export are followed by sync -f on their output; put and backup are timed as they are"
	echo "- machine: $(nproc) cores, $(free -g | awk '/^Mem:/ { print $2 }') GiB; $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo
	echo "| operation | osr | peer | ratio | goal | result |"
	echo "| --- | --- | --- | --- | --- | --- |"
	printf '%s\n' "${ROWS[@]}"
	echo
} | tee "$RUN/results.md"
log "table saved to $RUN/results.md; logs in $LOGS"

status=0
if [ "$CMP_RESULT" = DIFFERENT ]; then
	echo "bench: FAILED: the export of the latest point differs from the image" >&2
	status=1
fi
if [ "${#PEER_ERRORS[@]}" -gt 0 ]; then
	echo "bench: FAILED: peer steps failed: ${PEER_ERRORS[*]}" >&2
	status=1
fi
if [ "$status" -eq 0 ] && [ "$BENCH_OSR" = 1 ]; then
	if [ -z "$OSR" ] && [ "${#OSR_ERRORS[@]}" -eq 0 ]; then
		echo "bench: INCOMPLETE: osr unavailable ($OSR_WHY); only the peers were measured" >&2
		status=2
	elif [ "${#OSR_ERRORS[@]}" -gt 0 ]; then
		echo "bench: INCOMPLETE: osr steps failed: ${OSR_ERRORS[*]} (logs in $LOGS)" >&2
		status=2
	fi
fi
exit "$status"
