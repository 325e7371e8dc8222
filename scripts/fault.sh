#!/usr/bin/env bash
# Fault suite (issue 12): runs tether as separate processes under real faults and checks
# that nothing is lost. See README.md, "Fault suite".
#
#   scripts/fault.sh                 bounded size (CI): 5,000 connections, 10,000-user import
#   scripts/fault.sh --full          10,000 connections, 10,000-user import, longer faults
#   scripts/fault.sh --sentinel      Redis master + replica + 3 sentinels; the Redis kill is a failover
#   scripts/fault.sh --connections N --import-users M --duration S --settle S   any size
#   scripts/fault.sh --no-faults     same run without faults (a baseline)
#   scripts/fault.sh --keep          leave the temp dir (logs, manifest) and the database for a look
#
# It builds tether once, then starts on loopback: a Redis of its own (own port, AOF on,
# own dir; with --sentinel a master, a replica and three redis-sentinel processes), a fresh
# PostgreSQL database on 127.0.0.1:5432 (tether_fault_<pid>, dropped at the end) reached by
# the workers through a TCP proxy, `tether sandbox`, an SMTP sink, 4 `tether worker`s,
# 2 `tether scheduler`s and `tether serve`. It seeds the connections, starts an import of
# Salesforce users (invitations go to the sink), then for --duration seconds: SIGKILLs a
# random worker every few seconds and restarts it, SIGKILLs Redis once and restarts it on
# its AOF (--sentinel: SIGKILLs the master, waits for a sentinel to promote the replica,
# restarts the old master as a replica), kills the PostgreSQL proxy once and restarts it,
# makes the sandbox answer a share of calls with 5xx, 429, hangs and dropped connections,
# revokes a few grants, disables a few accounts and advances the sandbox clock. Then faults
# stop, it waits for tether to settle and prints the figures (faultkit check); exit 1 if
# one is wrong, with where the logs are.
#
# Twice during the faults the operator refreshes 20 connections 5 times at once over serve's
# API (faultkit race). TETHER_TEST_DISABLE_REFRESH_LOCK=1 (test-only) runs every tether
# process without the per-connection refresh lock: the run must then fail on "double refreshes".
set -Eeuo pipefail # -E: the ERR trap below also reports a failure inside a function
# The whole script is one { } block: bash reads it all before running it, so editing the
# file (a checkout, a rebase) cannot change a run already going.
{
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"

# SETTLE bounds the wait, it does not add to it: the check passes as soon as tether is
# right. A connection whose refresh fails transiently three times in the 90 s of faults
# (retries after 30-60, 60-120 s) waits 120-240 s for its fourth attempt (Backoff, equal
# jitter), on top of the backlog the clock advance leaves; a run once took 264 s of 300.
CONNS=5000 IMPORT=10000 DURATION=90 SETTLE=420 FAULTS=1 KEEP=0 WORKERS=4 SCHEDULERS=2 SENTINEL=0 SIZE=bounded
while [ $# -gt 0 ]; do
	case $1 in
	--full) CONNS=10000 IMPORT=10000 DURATION=180 SETTLE=600 SIZE=full ;;
	--sentinel) SENTINEL=1 ;;
	--connections) CONNS=$2; SIZE=custom; shift ;;
	--import-users) IMPORT=$2; SIZE=custom; shift ;;
	--duration) DURATION=$2; shift ;;
	--settle) SETTLE=$2; shift ;;
	--no-faults) FAULTS=0 ;;
	--keep) KEEP=1 ;;
	-h|--help) sed -n '2,30p' "$0"; exit 0 ;;
	*) echo "scripts/fault.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
	esac
	shift
done

say() { printf '%s fault: %s\n' "$(date -u +%H:%M:%S)" "$*"; }
die() { printf 'scripts/fault.sh: %s\n' "$*" >&2; exit 1; }
is_root() { [ "$(id -u)" = 0 ]; }
apt_install() { # as scripts/test.sh does: only as root, only with apt-get
	is_root && command -v apt-get >/dev/null ||
		die "$* not installed: install it (apt-get install -y $*) or run this script as root"
	say "installing $* with apt-get"
	DEBIAN_FRONTEND=noninteractive apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}
command -v redis-server >/dev/null || apt_install redis-server
command -v redis-cli >/dev/null || apt_install redis-tools
if [ "$SENTINEL" = 1 ] && ! command -v redis-sentinel >/dev/null; then apt_install redis-sentinel; fi
command -v psql >/dev/null || die "psql is not installed (apt-get install -y postgresql-client)"
PGHOST=${FAULT_PGHOST:-127.0.0.1} PGPORT=${FAULT_PGPORT:-5432}
psql -h "$PGHOST" -p "$PGPORT" -U postgres -d postgres -Atqc 'select 1' >/dev/null 2>&1 ||
	die "PostgreSQL is not reachable on $PGHOST:$PGPORT as postgres (start it: scripts/test.sh does)"

T=$(mktemp -d /tmp/tether-fault.XXXXXX)
mkdir -p "$T/logs"
DB=tether_fault_$$
declare -A PIDS=() # name -> pid of what this script started
START=$(date +%s)
PHASES=""
phase() { # phase <name>: closes the previous phase's timing
	local now
	now=$(date +%s)
	[ -z "${PHASE_NAME:-}" ] || PHASES="$PHASES ${PHASE_NAME} $((now - PHASE_AT))s,"
	PHASE_NAME=$1 PHASE_AT=$now
}

cleanup() {
	local rc=$?
	set +e
	trap - ERR
	for name in "${!PIDS[@]}"; do kill -TERM "${PIDS[$name]}" 2>/dev/null; done
	sleep 1
	for name in "${!PIDS[@]}"; do kill -KILL "${PIDS[$name]}" 2>/dev/null; done
	wait 2>/dev/null
	if [ "$KEEP" = 1 ]; then
		say "kept: logs and manifest in $T, database $DB (drop it: psql -h $PGHOST -U postgres -c 'DROP DATABASE $DB')"
	else
		psql -h "$PGHOST" -p "$PGPORT" -U postgres -d postgres -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1
		if [ "$rc" -ne 0 ]; then
			say "FAILED (exit $rc) after $(($(date +%s) - START))s; logs of every process and the manifest kept in $T/logs and $T:"
			ls -la "$T/logs" | sed 's/^/    /'
		else
			rm -rf "$T"
		fi
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'say "interrupted"; exit 130' INT TERM
trap 'say "failed at line $LINENO: $BASH_COMMAND"' ERR

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
# free_port picks a free port below the ephemeral range outgoing connections use, and
# never one this run already took.
TAKEN=" "
free_port() {
	local p
	while :; do
		p=$((10000 + RANDOM % 22000))
		case $TAKEN in *" $p "*) continue ;; esac
		port_free "$p" && { TAKEN="$TAKEN$p "; echo "$p"; return; }
	done
}
wait_port() { # wait_port <what> <port> [pid]: the pid's early exit fails at once
	for _ in $(seq 1 150); do
		(exec 3<>"/dev/tcp/127.0.0.1/$2") 2>/dev/null && return 0
		if [ -n "${3:-}" ] && ! kill -0 "$3" 2>/dev/null; then die "$1 exited before listening on port $2 (log: $T/logs)"; fi
		sleep 0.2
	done
	die "$1 did not listen on port $2 within 30s (log: $T/logs)"
}

phase build
say "building tether and faultkit into $T"
nice go build -o "$T/" ./cmd/tether ./scripts/faultkit # one build: shared packages compile once
TETHER=$T/tether FK=$T/faultkit

phase start
HTTPPORT=$(free_port) PROXYPORT=$(free_port)
# start_redis <name> <port> [redis-server args...]: a Redis with AOF on, in its own dir.
start_redis() {
	local name=$1 port=$2
	shift 2
	mkdir -p "$T/$name"
	redis-server --port "$port" --bind 127.0.0.1 --dir "$T/$name" --appendonly yes --appendfsync everysec \
		--save "" --daemonize no "$@" >>"$T/logs/$name.log" 2>&1 &
	PIDS[$name]=$!
	wait_port "$name" "$port" "${PIDS[$name]}"
}
rcli() { redis-cli -h 127.0.0.1 -p "$@"; }
MASTER_NAME=tether
if [ "$SENTINEL" = 1 ]; then
	# Redis nodes by name; NODE_PORT[redis-a] etc. The master is whichever the sentinels say.
	declare -A NODE_PORT=([redis-a]=$(free_port) [redis-b]=$(free_port))
	start_redis redis-a "${NODE_PORT[redis-a]}"
	start_redis redis-b "${NODE_PORT[redis-b]}" --replicaof 127.0.0.1 "${NODE_PORT[redis-a]}"
	SENTINELS=()
	for i in 1 2 3; do
		sp=$(free_port)
		# Sentinels rewrite their config file: each gets its own, in the temp dir.
		cat >"$T/sentinel$i.conf" <<CONF
port $sp
bind 127.0.0.1
dir $T
sentinel monitor $MASTER_NAME 127.0.0.1 ${NODE_PORT[redis-a]} 2
sentinel down-after-milliseconds $MASTER_NAME 2000
sentinel failover-timeout $MASTER_NAME 15000
sentinel parallel-syncs $MASTER_NAME 1
CONF
		redis-sentinel "$T/sentinel$i.conf" >>"$T/logs/sentinel$i.log" 2>&1 &
		PIDS[sentinel$i]=$!
		wait_port "sentinel$i" "$sp" "${PIDS[sentinel$i]}"
		SENTINELS+=("127.0.0.1:$sp")
	done
	for _ in $(seq 1 150); do
		rcli "${NODE_PORT[redis-b]}" info replication 2>/dev/null | grep -q '^master_link_status:up' && break
		sleep 0.2
	done
	rcli "${NODE_PORT[redis-b]}" info replication | grep -q '^master_link_status:up' ||
		die "the replica on :${NODE_PORT[redis-b]} did not sync with the master within 30s (log: $T/logs/redis-b.log)"
	REDIS_URL="redis-sentinel://$(IFS=,; echo "${SENTINELS[*]}")?master=$MASTER_NAME"
	say "redis master :${NODE_PORT[redis-a]}, replica :${NODE_PORT[redis-b]} (AOF on both), sentinels ${SENTINELS[*]} (quorum 2)"
else
	RPORT=$(free_port)
	start_redis redis "$RPORT"
	REDIS_URL="redis://127.0.0.1:$RPORT/0"
	say "redis on :$RPORT (AOF in $T/redis)"
fi
# master_port asks the first sentinel that answers which node is the master.
master_port() {
	local s a
	for s in "${SENTINELS[@]}"; do
		a=$(rcli "${s##*:}" sentinel get-master-addr-by-name "$MASTER_NAME" 2>/dev/null | sed -n 2p) && [ -n "$a" ] && { echo "$a"; return; }
	done
	return 1
}
node_of_port() { local n; for n in "${!NODE_PORT[@]}"; do if [ "${NODE_PORT[$n]}" = "$1" ]; then echo "$n"; fi; done; }

start_proxy() {
	"$FK" proxy --listen "127.0.0.1:$PROXYPORT" --to "$PGHOST:$PGPORT" >>"$T/logs/pgproxy.log" 2>&1 &
	PIDS[pgproxy]=$!
	wait_port pgproxy "$PROXYPORT" "${PIDS[pgproxy]}"
}
psql -h "$PGHOST" -p "$PGPORT" -U postgres -d postgres -qc "CREATE DATABASE $DB" >/dev/null
start_proxy
say "database $DB via proxy :$PROXYPORT"

"$FK" mailsink --port-file "$T/mailsink.port" >>"$T/logs/mailsink.log" 2>&1 &
PIDS[mailsink]=$!
for _ in $(seq 1 100); do [ -s "$T/mailsink.port" ] && break; sleep 0.2; done
[ -s "$T/mailsink.port" ] || die "faultkit mailsink did not start (log: $T/logs/mailsink.log)"
read -r SMTPPORT SINKHTTP <"$T/mailsink.port"

"$TETHER" sandbox --addr 127.0.0.1:0 --issued-tokens "$T/issued-tokens" >"$T/logs/sandbox.out" 2>>"$T/logs/sandbox.log" &
PIDS[sandbox]=$!
for _ in $(seq 1 150); do [ -s "$T/logs/sandbox.out" ] && break; sleep 0.2; done
SBPORT=$(sed -n 's/.*"admin":"http:\/\/127.0.0.1:\([0-9]*\)\/admin".*/\1/p' "$T/logs/sandbox.out")
[ -n "$SBPORT" ] || die "tether sandbox did not print its address (log: $T/logs/sandbox.log)"
SB=http://127.0.0.1:$SBPORT

# Secrets are generated per run and live only in this environment.
rnd() { head -c "$1" /dev/urandom | base64 | tr -d '\n/+=' ; }
export TETHER_DATABASE_URL="postgres://postgres@127.0.0.1:$PROXYPORT/$DB?sslmode=disable"
export TETHER_REDIS_URL=$REDIS_URL
TETHER_ENCRYPTION_KEYS="k1:$(head -c 32 /dev/urandom | base64)"
TETHER_LINK_SECRET=$(rnd 48) TETHER_API_TOKEN="tk_$(rnd 40)" TETHER_ADMIN_PASSWORD=$(rnd 24)
export TETHER_ENCRYPTION_KEYS TETHER_LINK_SECRET TETHER_API_TOKEN TETHER_ADMIN_PASSWORD
export TETHER_HTTP_ADDR="127.0.0.1:$HTTPPORT" TETHER_PUBLIC_URL="http://127.0.0.1:$HTTPPORT" TETHER_METRICS_ADDR=off
# Two Asynq servers per worker (5 slots each), so kills and restarts hit a worker of several.
export TETHER_LOG_FORMAT=json TETHER_LOG_LEVEL=info TETHER_WORKER_CONCURRENCY=10 TETHER_WORKER_FETCHERS=2 TETHER_SHUTDOWN_TIMEOUT=15s
export TETHER_MAILER=smtp TETHER_SMTP_URL="smtp+insecure://127.0.0.1:$SMTPPORT" TETHER_MAIL_FROM="tether <tether@fault.example>"
export TETHER_REFRESH_WINDOW=12m TETHER_SALESFORCE_SESSION_TIMEOUT=15m
# The providers' settings, as the README tells an operator to set them.
SBENV=$("$TETHER" sandbox --print-env --addr "127.0.0.1:$SBPORT") || die "tether sandbox --print-env failed"
eval "$SBENV"
[ "$TETHER_ZOOM_API_URL" = "$SB/zoom" ] || die "tether sandbox --print-env did not point tether at $SB: $SBENV"
DIRECT_DB="postgres://postgres@$PGHOST:$PGPORT/$DB?sslmode=disable"

"$TETHER" migrate up >>"$T/logs/migrate.log" 2>&1 || die "migrate up failed (log: $T/logs/migrate.log)"
# sed reads the whole output (head would close the pipe early and pipefail would trip).
org_create() { "$TETHER" org create "$@" 2>>"$T/logs/cli.log" | sed -n 1p; }
CONN_ORG=$(org_create --name "Fault connections" --seats 1000000)
IMPORT_ORG=$(org_create --name "Fault import" --seats $((IMPORT + 100)))
[ -n "$CONN_ORG" ] && [ -n "$IMPORT_ORG" ] || die "tether org create printed no id (log: $T/logs/cli.log)"
# Reminders within the run: 20 s grace, no quiet hours (else a night-time run sends none);
# the rest of the policy (1/3/7 days, weekly, one a day) stays the default.
"$TETHER" org reminders "$CONN_ORG" --grace 20s --quiet-hours none >>"$T/logs/cli.log" 2>&1 ||
	die "tether org reminders failed (log: $T/logs/cli.log)"

phase seed
say "seeding $CONNS connections (org $CONN_ORG) and a Salesforce org of $IMPORT users to import (org $IMPORT_ORG)"
TETHER_DATABASE_URL=$DIRECT_DB nice "$FK" seed --sandbox "$SB" --connections "$CONNS" --import-users "$IMPORT" \
	--conn-org "$CONN_ORG" --import-org "$IMPORT_ORG" --access-ttl 15m --manifest "$T/manifest.json" 2>&1 | tee -a "$T/logs/seed.log"

phase faults
start_worker() { # start_worker <n>
	"$TETHER" worker >>"$T/logs/worker$1.log" 2>&1 &
	PIDS[worker$1]=$!
}
for i in $(seq 1 $WORKERS); do start_worker "$i"; done
for i in $(seq 1 $SCHEDULERS); do
	"$TETHER" scheduler >>"$T/logs/scheduler$i.log" 2>&1 &
	PIDS[scheduler$i]=$!
done
"$TETHER" serve >>"$T/logs/serve.log" 2>&1 &
PIDS[serve]=$!
wait_port serve "$HTTPPORT" "${PIDS[serve]}"
say "started $WORKERS workers, $SCHEDULERS schedulers, serve on :$HTTPPORT, sandbox on :$SBPORT, SMTP sink on :$SMTPPORT"

# The import goes through the operator's route, as `tether invite import` would.
IMP=$(curl -fsS -X POST "http://127.0.0.1:$HTTPPORT/v1/orgs/$IMPORT_ORG/imports" \
	-H "Authorization: Bearer $TETHER_API_TOKEN" -H 'Content-Type: application/json' \
	-d '{"profiles":["Standard User","Sales User"],"role":"chat","group":"Fault"}') || die "POST /v1/orgs/$IMPORT_ORG/imports failed (log: $T/logs/serve.log)"
IMPORT_ID=$(printf '%s' "$IMP" | sed -n 's/.*"id":"\([^"]*\)".*/\1/p' | sed -n 1p)
say "import $IMPORT_ID queued"

# redis_fault: the one Redis fault of the run. Alone: SIGKILL, then start again on its AOF.
# With sentinels: SIGKILL the master, wait for a sentinel to promote the replica, then start
# the old master again (the sentinels make it a replica of the new one).
FAILOVER=""
redis_fault() {
	if [ "$SENTINEL" = 0 ]; then
		say "SIGKILL redis, restart on its AOF"
		kill -KILL "${PIDS[redis]}"; wait "${PIDS[redis]}" 2>/dev/null || true
		sleep 2; start_redis redis "$RPORT"
		return
	fi
	local old new node t0
	old=$(master_port) || die "no sentinel names a master (logs: $T/logs/sentinel*.log)"
	node=$(node_of_port "$old")
	say "SIGKILL the Redis master $node (:$old); a sentinel must promote the replica"
	t0=$(date +%s)
	kill -KILL "${PIDS[$node]}"; wait "${PIDS[$node]}" 2>/dev/null || true
	for _ in $(seq 1 120); do
		new=$(master_port || true)
		[ -n "$new" ] && [ "$new" != "$old" ] && rcli "$new" role 2>/dev/null | sed -n 1p | grep -q master && break
		sleep 0.5
	done
	[ -n "$new" ] && [ "$new" != "$old" ] || die "no sentinel promoted the replica within 60s of the master's kill (logs: $T/logs/sentinel*.log)"
	FAILOVER="$(node_of_port "$new") promoted in $(($(date +%s) - t0))s"
	say "failover: $FAILOVER; restarting $node on its AOF as a replica"
	start_redis "$node" "$old"
}

KILLS=0 RESTARTS=0 REDIS_KILLS=0 PROXY_KILLS=0
if [ "$FAULTS" = 1 ]; then
	say "faults for ${DURATION}s"
	sbpost() { curl -fsS -X POST "$SB$1" -H 'Content-Type: application/json' -d "$2" >/dev/null; }
	# A share of every provider's token and API calls fails: 5xx, 429, hangs, drops.
	for p in salesforce google microsoft zoom; do
		sbpost /admin/faults "{\"provider\":\"$p\",\"kind\":\"status\",\"status\":503,\"share\":0.05}"
		sbpost /admin/faults "{\"provider\":\"$p\",\"kind\":\"status\",\"status\":429,\"share\":0.03,\"retry_after\":\"2\"}"
		sbpost /admin/faults "{\"provider\":\"$p\",\"kind\":\"hang\",\"share\":0.01,\"hang_for\":\"20s\"}"
		sbpost /admin/faults "{\"provider\":\"$p\",\"kind\":\"drop\",\"share\":0.02}"
	done
	"$FK" chaos --sandbox "$SB" --manifest "$T/manifest.json" --fates "$T/fates.json" --revoke 10 --disable 10 2>&1 | tee -a "$T/logs/chaos.log"
	race() { "$FK" race --api "http://127.0.0.1:$HTTPPORT" --manifest "$T/manifest.json" --fates "$T/fates.json" \
		--connections 20 --parallel 5 >>"$T/logs/race.log" 2>&1 & }
	race # the operator refreshes 20 connections 5 times at once, racing each other and the workers
	END=$(($(date +%s) + DURATION))
	REDIS_AT=$(($(date +%s) + DURATION / 3)) PROXY_AT=$(($(date +%s) + 2 * DURATION / 3)) CLOCK_AT=$(($(date +%s) + DURATION / 2))
	while [ "$(date +%s)" -lt "$END" ]; do
		sleep $((3 + RANDOM % 4))
		i=$((1 + RANDOM % WORKERS))
		kill -KILL "${PIDS[worker$i]}" 2>/dev/null && KILLS=$((KILLS + 1))
		wait "${PIDS[worker$i]}" 2>/dev/null || true
		start_worker "$i"; RESTARTS=$((RESTARTS + 1))
		now=$(date +%s)
		if [ "$REDIS_KILLS" = 0 ] && [ "$now" -ge "$REDIS_AT" ]; then
			redis_fault; REDIS_KILLS=1
		fi
		if [ "$PROXY_KILLS" = 0 ] && [ "$now" -ge "$PROXY_AT" ]; then
			say "SIGKILL the PostgreSQL proxy (every store connection cut), restart it"
			kill -KILL "${PIDS[pgproxy]}"; wait "${PIDS[pgproxy]}" 2>/dev/null || true
			sleep 2; start_proxy; PROXY_KILLS=1
		fi
		if [ -n "$CLOCK_AT" ] && [ "$now" -ge "$CLOCK_AT" ]; then
			say "sandbox clock advanced 15m: every access token issued so far expires"
			sbpost /admin/clock/advance '{"by":"15m"}'; CLOCK_AT=
			race
		fi
	done
	FAULTS_INJECTED=$(curl -fsS "$SB/admin/faults" | grep -o '"fired":[0-9]*' | awk -F: '{s += $2} END {print s + 0}')
	curl -fsS -X DELETE "$SB/admin/faults" >/dev/null
	say "faults stopped: $KILLS worker kills ($RESTARTS restarts), $REDIS_KILLS Redis kill${FAILOVER:+ ($FAILOVER)}, $PROXY_KILLS proxy kill, $FAULTS_INJECTED provider faults answered"
else
	printf '{"started":"%s"}\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >"$T/fates.json"
	FAULTS_INJECTED=0
	sleep "$DURATION"
fi

phase settle
say "waiting up to ${SETTLE}s for tether to settle"
CHECK=("$FK" check --sandbox "$SB" --manifest "$T/manifest.json" --fates "$T/fates.json" --mailsink "http://$SINKHTTP"
	--import-org "$IMPORT_ORG" --import "$IMPORT_ID" --issued-tokens "$T/issued-tokens" --logs "$T/logs")
SETTLE_END=$(($(date +%s) + SETTLE)) SAID=$(date +%s)
while [ "$(date +%s)" -lt "$SETTLE_END" ]; do
	q=0
	TETHER_DATABASE_URL=$DIRECT_DB "${CHECK[@]}" --quiet >/dev/null 2>"$T/logs/settle.last" || q=$?
	[ "$q" = 0 ] && break
	# 3: only figures that waiting cannot right are wrong (a duplicate already sent): stop.
	if [ "$q" = 3 ]; then say "wrong for good, no use waiting: $(head -c 400 "$T/logs/settle.last")"; break; fi
	if [ $(($(date +%s) - SAID)) -ge 60 ]; then say "still settling: $(head -c 400 "$T/logs/settle.last")"; SAID=$(date +%s); fi
	sleep 10
done
# Stop tether first (SIGTERM: in-flight tasks finish or go back to their queue), so no
# refresh is between the provider's answer and the store while the figures are read.
for name in "${!PIDS[@]}"; do
	case $name in worker*|scheduler*|serve) kill -TERM "${PIDS[$name]}" 2>/dev/null || true; wait "${PIDS[$name]}" 2>/dev/null || true; unset "PIDS[$name]" ;; esac
done
phase check
say "checks after $(( $(date +%s) - START ))s (size: $CONNS connections, $IMPORT Salesforce users; kills $KILLS, restarts $RESTARTS, redis kills $REDIS_KILLS${FAILOVER:+ ($FAILOVER)}, proxy kills $PROXY_KILLS, provider faults $FAULTS_INJECTED; load average $(cut -d' ' -f1-3 /proc/loadavg))"
rc=0
TETHER_DATABASE_URL=$DIRECT_DB "${CHECK[@]}" || rc=$?
phase finished
MODE=$SIZE; [ "$SENTINEL" = 0 ] || MODE="$SIZE, sentinel"
say "run ($MODE) took $(($(date +%s) - START))s:${PHASES%,}"
exit $rc
}
