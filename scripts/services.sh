#!/usr/bin/env bash
# Starts and stops the real servers that the storage tests run against, on loopback:
#   Azurite (azurite@3.35.0 from npm), the Azure Blob Storage emulator, and
#   versitygw (v1.8.0, go install), an S3 gateway on a posix directory.
#
# Usage: scripts/services.sh start|stop|restart|status|env|stop-one NAME|start-one NAME
#   start    installs what is missing into .services/, starts both servers on free ports, waits
#            until they answer and writes .services/env, a file to source:
#              source "$(scripts/services.sh env)"
#            Starting when they already run does nothing.
#   stop     stops them and removes their data and the env file.
#   env      prints the env file's path (fails if the servers were not started).
#   stop-one NAME   stops one server (azurite or versitygw) and keeps its data, port and
#                   credentials: a storage outage for tests.
#   start-one NAME  starts it again on the same port, data and credentials, and waits until it
#                   answers.
#
# Needs bash, node/npm and go; nothing else. OSR_SERVICES_DIR overrides the .services directory.
set -euo pipefail

AZURITE_VERSION=3.35.0
VERSITYGW_VERSION=v1.8.0
# Azurite's well-known development account (published in Azurite's documentation).
AZURITE_ACCOUNT=devstoreaccount1
AZURITE_KEY='Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=='
WAIT_SECONDS=${OSR_SERVICES_WAIT:-60}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DIR=${OSR_SERVICES_DIR:-$ROOT/.services}
ENV_FILE=$DIR/env
RUN=$DIR/run # pid files, logs, data: removed by stop

die() { echo "services.sh: $*" >&2; exit 1; }
log() { echo "services.sh: $*" >&2; }

azurite_entry() { echo "$DIR/node/node_modules/azurite/dist/src/blob/main.js"; }

install_azurite() {
	local pkg=$DIR/node/node_modules/azurite/package.json
	if [[ -f $pkg ]] && grep -q "\"version\": \"$AZURITE_VERSION\"" "$pkg"; then
		return
	fi
	command -v npm >/dev/null || die "npm is needed to install azurite@$AZURITE_VERSION"
	log "installing azurite@$AZURITE_VERSION into $DIR/node"
	mkdir -p "$DIR/node"
	npm install --prefix "$DIR/node" --no-audit --no-fund --save-exact "azurite@$AZURITE_VERSION" >"$DIR/npm-install.log" 2>&1 ||
		die "npm install azurite@$AZURITE_VERSION failed; see $DIR/npm-install.log"
	[[ -f $(azurite_entry) ]] || die "azurite installed, but its entry $(azurite_entry) is missing"
}

install_versitygw() {
	local bin=$DIR/bin/versitygw stamp=$DIR/bin/versitygw.version
	if [[ -x $bin && -f $stamp && $(cat "$stamp") == "$VERSITYGW_VERSION" ]]; then
		return
	fi
	command -v go >/dev/null || die "go is needed to install versitygw $VERSITYGW_VERSION"
	log "installing versitygw $VERSITYGW_VERSION into $DIR/bin"
	mkdir -p "$DIR/bin"
	# go install PKG@VERSION builds versitygw with its own go.mod; the project's is not touched.
	(cd "$DIR" && GOBIN=$DIR/bin GOFLAGS=-buildvcs=false \
		go install "github.com/versity/versitygw/cmd/versitygw@$VERSITYGW_VERSION") >"$DIR/go-install.log" 2>&1 ||
		die "go install versitygw@$VERSITYGW_VERSION failed; see $DIR/go-install.log"
	echo "$VERSITYGW_VERSION" >"$stamp"
}

# free_port prints a TCP port on 127.0.0.1 that nobody listens on now.
free_port() {
	node -e 'const s = require("net").createServer();
		s.listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });'
}

alive() { [[ -f $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

# wait_port NAME PIDFILE PORT LOG: waits until the server accepts connections on PORT.
wait_port() {
	local name=$1 pidfile=$2 port=$3 logf=$4 deadline=$((SECONDS + WAIT_SECONDS))
	while ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
		if ! alive "$pidfile"; then
			tail -n 20 "$logf" >&2 || true
			die "$name exited before it answered on 127.0.0.1:$port; log: $logf"
		fi
		((SECONDS < deadline)) || die "$name did not answer on 127.0.0.1:$port within ${WAIT_SECONDS}s; log: $logf"
		sleep 0.2
	done
}

start_azurite() {
	local port data=$RUN/azurite
	port=$(free_port)
	mkdir -p "$data"
	nohup node "$(azurite_entry)" --disableTelemetry --silent --skipApiVersionCheck --loose \
		--blobHost 127.0.0.1 --blobPort "$port" --location "$data" \
		</dev/null >"$RUN/azurite.log" 2>&1 &
	echo $! >"$RUN/azurite.pid"
	wait_port azurite "$RUN/azurite.pid" "$port" "$RUN/azurite.log"
	AZURITE_PORT=$port
}

start_versitygw() {
	local port data=$RUN/s3
	port=$(free_port)
	mkdir -p "$data"
	S3_ACCESS_KEY=osr-test-root
	S3_SECRET_KEY=$(od -An -N18 -tx1 /dev/urandom | tr -d ' \n')
	# Credentials go through the environment, not the command line that ps shows.
	ROOT_ACCESS_KEY_ID=$S3_ACCESS_KEY ROOT_SECRET_ACCESS_KEY=$S3_SECRET_KEY \
		nohup "$DIR/bin/versitygw" --port "127.0.0.1:$port" --quiet posix "$data" \
		</dev/null >"$RUN/versitygw.log" 2>&1 &
	echo $! >"$RUN/versitygw.pid"
	wait_port versitygw "$RUN/versitygw.pid" "$port" "$RUN/versitygw.log"
	S3_PORT=$port
}

write_env() {
	local tmp=$ENV_FILE.tmp
	umask 077
	cat >"$tmp" <<EOF
# Written by scripts/services.sh start; source it before go test ./internal/storage/...
unset AZURE_STORAGE_CONNECTION_STRING
export OSR_TEST_AZURITE=1
export AZURE_STORAGE_ACCOUNT=$AZURITE_ACCOUNT
export AZURE_STORAGE_KEY='$AZURITE_KEY'
export AZURE_STORAGE_ENDPOINT=http://127.0.0.1:$AZURITE_PORT/$AZURITE_ACCOUNT
export OSR_TEST_S3_ENDPOINT=127.0.0.1:$S3_PORT
export AWS_ACCESS_KEY_ID=$S3_ACCESS_KEY
export AWS_SECRET_ACCESS_KEY=$S3_SECRET_KEY
EOF
	mv "$tmp" "$ENV_FILE"
}

# stop_one NAME MATCH: stops the server of NAME's pid file if its command line contains MATCH.
stop_one() {
	local pidfile=$RUN/$1.pid pid
	[[ -f $pidfile ]] || return 0
	pid=$(cat "$pidfile")
	if kill -0 "$pid" 2>/dev/null && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$2"; then
		kill "$pid" 2>/dev/null || true
		for _ in $(seq 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$pid" 2>/dev/null; then
			log "$1 (pid $pid) did not stop; killing it"
			kill -9 "$pid" 2>/dev/null || true
		fi
		log "stopped $1 (pid $pid)"
	fi
	rm -f "$pidfile"
}

cmd_stop() {
	stop_one azurite azurite
	stop_one versitygw versitygw
	rm -rf "$RUN" "$ENV_FILE"
}

cmd_start() {
	if alive "$RUN/azurite.pid" && alive "$RUN/versitygw.pid" && [[ -f $ENV_FILE ]]; then
		log "already running; env file: $ENV_FILE"
		return
	fi
	cmd_stop # whatever half is left of an earlier start
	command -v node >/dev/null || die "node is needed to run azurite"
	install_azurite
	install_versitygw
	mkdir -p "$RUN"
	start_azurite
	start_versitygw
	write_env
	log "azurite on 127.0.0.1:$AZURITE_PORT, versitygw on 127.0.0.1:$S3_PORT"
	log "env file: $ENV_FILE (source \"\$(scripts/services.sh env)\")"
}

cmd_status() {
	local name
	for name in azurite versitygw; do
		if alive "$RUN/$name.pid"; then
			echo "$name: running (pid $(cat "$RUN/$name.pid"))"
		else
			echo "$name: stopped"
		fi
	done
}

# env_value NAME: the value of NAME in the env file (quotes removed).
env_value() {
	[[ -f $ENV_FILE ]] || die "no env file: run scripts/services.sh start first"
	sed -n "s/^export $1=//p" "$ENV_FILE" | tr -d "'"
}

cmd_stop_one() {
	case ${1:-} in
	azurite | versitygw) stop_one "$1" "$1" ;;
	*) die "usage: $0 stop-one azurite|versitygw" ;;
	esac
}

cmd_start_one() {
	local port
	[[ -d $RUN ]] || die "no data of a start: run scripts/services.sh start first"
	case ${1:-} in
	azurite)
		alive "$RUN/azurite.pid" && { log "azurite already running"; return; }
		port=$(env_value AZURE_STORAGE_ENDPOINT | sed -E 's|^http://127.0.0.1:([0-9]+)/.*|\1|')
		nohup node "$(azurite_entry)" --disableTelemetry --silent --skipApiVersionCheck --loose \
			--blobHost 127.0.0.1 --blobPort "$port" --location "$RUN/azurite" \
			</dev/null >>"$RUN/azurite.log" 2>&1 &
		echo $! >"$RUN/azurite.pid"
		wait_port azurite "$RUN/azurite.pid" "$port" "$RUN/azurite.log"
		;;
	versitygw)
		alive "$RUN/versitygw.pid" && { log "versitygw already running"; return; }
		port=$(env_value OSR_TEST_S3_ENDPOINT | sed -E 's|^127.0.0.1:([0-9]+)$|\1|')
		ROOT_ACCESS_KEY_ID=$(env_value AWS_ACCESS_KEY_ID) ROOT_SECRET_ACCESS_KEY=$(env_value AWS_SECRET_ACCESS_KEY) \
			nohup "$DIR/bin/versitygw" --port "127.0.0.1:$port" --quiet posix "$RUN/s3" \
			</dev/null >>"$RUN/versitygw.log" 2>&1 &
		echo $! >"$RUN/versitygw.pid"
		wait_port versitygw "$RUN/versitygw.pid" "$port" "$RUN/versitygw.log"
		;;
	*) die "usage: $0 start-one azurite|versitygw" ;;
	esac
	log "started $1 again on 127.0.0.1:$port"
}

case ${1:-} in
start) cmd_start ;;
stop-one) cmd_stop_one "${2:-}" ;;
start-one) cmd_start_one "${2:-}" ;;
stop) cmd_stop ;;
restart) cmd_stop && cmd_start ;;
status) cmd_status ;;
env)
	[[ -f $ENV_FILE ]] || die "no env file: run scripts/services.sh start first"
	echo "$ENV_FILE"
	;;
*) die "usage: $0 start|stop|restart|status|env|stop-one NAME|start-one NAME" ;;
esac
