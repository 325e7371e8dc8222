#!/usr/bin/env bash
# Runs tether's whole test suite against real services, starting them first if needed.
#
#   scripts/test.sh            vet + every test, with the race detector; under CI=true then
#                              the fault suite at its bounded size (scripts/fault.sh)
#   scripts/test.sh --fault    the same with the fault suite, outside CI too
#   scripts/test.sh --no-fault never the fault suite, in CI too
#   scripts/test.sh ./worker   only these packages (passed to go test as they are); no fault suite
#
# Needs Go. Redis (127.0.0.1:6379), a three-master Redis Cluster (127.0.0.1:7101-7103),
# Redis Sentinel (master 127.0.0.1:7201, replica 7202, sentinels 7211-7213 watching master
# name tether-test) and PostgreSQL (127.0.0.1:5432, user postgres, trust auth, database
# "test") are started when they are not running; when they are not installed and we are
# root, they are installed with apt-get. Safe to run repeatedly. TETHER_TEST_REDIS_ADDR /
# TETHER_TEST_REDIS_CLUSTER (host:port,...) / TETHER_TEST_REDIS_SENTINEL (the sentinels'
# host:port,...; they must watch a master named tether-test) / TETHER_TEST_DATABASE_URL
# point the tests elsewhere; then this script leaves that service alone. Chromium
# (/usr/bin/chromium, or TETHER_TEST_CHROMIUM) is installed with apt-get when missing; the
# browser test's screenshots go to TETHER_TEST_ARTIFACTS (default testdata/artifacts).
set -euo pipefail

cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"

say() { printf '==> %s\n' "$*"; }
die() { printf 'scripts/test.sh: %s\n' "$*" >&2; exit 1; }

command -v go >/dev/null || die "Go is not installed (https://go.dev/dl/); tether needs Go 1.26"

is_root() { [ "$(id -u)" = 0 ]; }

apt_install() {
	is_root || die "$* not installed and not running as root: install it (apt-get install -y $*) or run this script as root"
	command -v apt-get >/dev/null || die "$* not installed and apt-get is not available: install it by hand"
	say "installing $* with apt-get"
	DEBIAN_FRONTEND=noninteractive apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# redis_ping succeeds when a Redis answers PING on 127.0.0.1:6379 (no redis-cli needed).
redis_ping() {
	local reply
	# In braces: a bare `exec ... 2>/dev/null` would send the script's stderr (die, go vet)
	# to /dev/null for the rest of the run.
	{ exec 3<>/dev/tcp/127.0.0.1/6379; } 2>/dev/null || return 1
	printf 'PING\r\n' >&3
	IFS= read -r -t 2 reply <&3 || true
	exec 3<&- 3>&-
	[[ "$reply" == +PONG* ]]
}

wait_for() { # wait_for <what> <command...>
	local what=$1; shift
	for _ in $(seq 1 60); do
		if "$@" >/dev/null 2>&1; then return 0; fi
		sleep 0.5
	done
	die "$what did not come up within 30s"
}

start_redis() {
	if redis_ping; then say "redis: running"; return; fi
	command -v redis-server >/dev/null || apt_install redis-server
	say "redis: starting"
	redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no >/dev/null
	wait_for "redis" redis_ping
}

# A three-master Redis Cluster on 127.0.0.1:7101-7103 for the tests of tether's Cluster paths
# (the lock, the stash, keys reseal): no persistence, its node files in a directory of its own.
cluster_ports=(7101 7102 7103)
cluster_ok() {
	local p
	for p in "${cluster_ports[@]}"; do
		redis-cli -p "$p" cluster info 2>/dev/null | grep -q '^cluster_state:ok' || return 1
	done
}

start_redis_cluster() {
	command -v redis-server >/dev/null || apt_install redis-server
	command -v redis-cli >/dev/null || apt_install redis-tools
	if cluster_ok; then say "redis cluster: running"; return; fi
	local dir=${TMPDIR:-/tmp}/tether-redis-cluster p addrs=()
	say "redis cluster: starting on 127.0.0.1:${cluster_ports[0]}-${cluster_ports[-1]}"
	for p in "${cluster_ports[@]}"; do
		# Only a leftover node of this cluster is stopped, never another Redis on the port.
		if redis-cli -p "$p" info cluster 2>/dev/null | grep -q '^cluster_enabled:1'; then
			redis-cli -p "$p" shutdown nosave >/dev/null 2>&1 || true
		fi
	done
	rm -rf "$dir" && mkdir -p "$dir"
	for p in "${cluster_ports[@]}"; do
		redis-server --daemonize yes --bind 127.0.0.1 --port "$p" --cluster-enabled yes \
			--cluster-config-file "$dir/nodes-$p.conf" --dir "$dir" --logfile "$dir/$p.log" \
			--save "" --appendonly no >/dev/null
		wait_for "redis cluster node $p" redis-cli -p "$p" ping
		addrs+=("127.0.0.1:$p")
	done
	redis-cli --cluster create "${addrs[@]}" --cluster-replicas 0 --cluster-yes >"$dir/create.log" 2>&1 ||
		die "redis cluster: create failed; see $dir/create.log"
	wait_for "redis cluster" cluster_ok
}

# Redis Sentinel on 127.0.0.1 for the tests of tether's redis-sentinel:// path and of a
# failover: a master on 7201, its replica on 7202 and three sentinels on 7211-7213 watching
# master name tether-test (quorum 2). A test's forced failover swaps the two nodes' roles,
# so neither port is assumed to be the master. No persistence; the sentinels rewrite their
# configs, so each has its own file, in a directory of this setup's own.
sentinel_master=tether-test
sentinel_nodes=(7201 7202)
sentinel_ports=(7211 7212 7213)
sentinel_dir=${TMPDIR:-/tmp}/tether-redis-sentinel

# sentinel_ok: every sentinel has its quorum, they name one of the two nodes as master, it
# says it is one, and the other node replicates it with the link up.
sentinel_ok() {
	local p m other
	for p in "${sentinel_ports[@]}"; do
		redis-cli -p "$p" sentinel ckquorum "$sentinel_master" 2>/dev/null | grep -q '^OK' || return 1
	done
	m=$(redis-cli -p "${sentinel_ports[0]}" sentinel get-master-addr-by-name "$sentinel_master" 2>/dev/null | sed -n 2p)
	case $m in "${sentinel_nodes[0]}") other=${sentinel_nodes[1]} ;; "${sentinel_nodes[1]}") other=${sentinel_nodes[0]} ;; *) return 1 ;; esac
	for p in "${sentinel_ports[@]:1}"; do
		[ "$(redis-cli -p "$p" sentinel get-master-addr-by-name "$sentinel_master" 2>/dev/null | sed -n 2p)" = "$m" ] || return 1
	done
	redis-cli -p "$m" role 2>/dev/null | sed -n 1p | grep -qx master || return 1
	redis-cli -p "$other" info replication 2>/dev/null | tr -d '\r' | grep -qx "master_port:$m" || return 1
	redis-cli -p "$other" info replication 2>/dev/null | tr -d '\r' | grep -qx 'master_link_status:up'
}

# ours_sentinel <port>: a process of this setup answers there (a node whose dir is ours, or a
# sentinel running from our config file), not some other Redis.
ours_sentinel() {
	redis-cli -p "$1" config get dir 2>/dev/null | sed -n 2p | grep -qxF "$sentinel_dir" ||
		redis-cli -p "$1" info server 2>/dev/null | tr -d '\r' | grep -qxF "config_file:$sentinel_dir/sentinel-$1.conf"
}

start_redis_sentinel() {
	command -v redis-server >/dev/null || apt_install redis-server
	command -v redis-cli >/dev/null || apt_install redis-tools
	command -v redis-sentinel >/dev/null || apt_install redis-sentinel
	if sentinel_ok; then say "redis sentinel: running"; return; fi
	local p up=1
	# Just after a test's failover the demoted node may still be catching up: give a running
	# setup of ours a few seconds before starting it afresh.
	for p in "${sentinel_nodes[@]}" "${sentinel_ports[@]}"; do ours_sentinel "$p" || up=0; done
	if [ "$up" = 1 ]; then
		for _ in $(seq 1 20); do
			if sentinel_ok; then say "redis sentinel: running"; return; fi
			sleep 0.5
		done
	fi
	say "redis sentinel: starting nodes on 127.0.0.1:${sentinel_nodes[0]},${sentinel_nodes[1]}, sentinels on ${sentinel_ports[0]}-${sentinel_ports[-1]}"
	# Only leftover processes of this setup are stopped, never another Redis on the port.
	for p in "${sentinel_ports[@]}" "${sentinel_nodes[@]}"; do
		if ours_sentinel "$p"; then redis-cli -p "$p" shutdown nosave >/dev/null 2>&1 || true; fi
	done
	for p in "${sentinel_ports[@]}" "${sentinel_nodes[@]}"; do
		for _ in $(seq 1 20); do redis-cli -p "$p" ping >/dev/null 2>&1 || break; sleep 0.25; done
		if redis-cli -p "$p" ping >/dev/null 2>&1; then
			die "redis sentinel: 127.0.0.1:$p is taken by a process not of this setup; stop it, or point the tests at your own sentinels with TETHER_TEST_REDIS_SENTINEL=host:port,... (master name $sentinel_master)"
		fi
	done
	rm -rf "$sentinel_dir" && mkdir -p "$sentinel_dir"
	local m=${sentinel_nodes[0]} r=${sentinel_nodes[1]}
	# No delay before a diskless full sync: the replica is in sync in a moment, not 5s.
	for p in "$m" "$r"; do
		local extra=()
		[ "$p" = "$r" ] && extra=(--replicaof 127.0.0.1 "$m")
		redis-server --daemonize yes --bind 127.0.0.1 --port "$p" --dir "$sentinel_dir" \
			--logfile "$sentinel_dir/$p.log" --save "" --appendonly no --repl-diskless-sync-delay 0 \
			"${extra[@]}" >/dev/null
		wait_for "redis sentinel node $p" redis-cli -p "$p" ping
	done
	for p in "${sentinel_ports[@]}"; do
		# Failovers in a few seconds: down after 2s, a stuck one retried after 2 x 5s.
		cat >"$sentinel_dir/sentinel-$p.conf" <<CONF
port $p
bind 127.0.0.1
daemonize yes
dir $sentinel_dir
logfile $sentinel_dir/sentinel-$p.log
sentinel monitor $sentinel_master 127.0.0.1 $m 2
sentinel down-after-milliseconds $sentinel_master 2000
sentinel failover-timeout $sentinel_master 5000
sentinel parallel-syncs $sentinel_master 1
CONF
		redis-sentinel "$sentinel_dir/sentinel-$p.conf" >/dev/null
		wait_for "redis sentinel $p" redis-cli -p "$p" ping
	done
	wait_for "redis sentinel (quorum, replica in sync; logs in $sentinel_dir)" sentinel_ok
}

pg_url="postgresql://postgres@127.0.0.1:5432"
pg_ok() { PGCONNECT_TIMEOUT=3 psql "$pg_url/postgres" -tAc 'SELECT 1' >/dev/null 2>&1; }

start_postgres() {
	if ! command -v pg_ctlcluster >/dev/null || [ -z "$(ls /etc/postgresql 2>/dev/null)" ]; then
		command -v pg_isready >/dev/null && pg_isready -q -h 127.0.0.1 -p 5432 || apt_install postgresql
	fi
	command -v psql >/dev/null || apt_install postgresql-client
	if pg_isready -q -h 127.0.0.1 -p 5432; then
		say "postgresql: running"
	else
		local version
		version=$(ls /etc/postgresql | sort -V | tail -n 1)
		say "postgresql $version: starting"
		pg_ctlcluster --skip-systemctl-redirect "$version" main start
		wait_for "postgresql" pg_isready -q -h 127.0.0.1 -p 5432
	fi
	if ! pg_ok; then
		# A fresh install asks for a password on TCP; the tests connect as postgres without
		# one. Trust loopback connections (only loopback) and reload.
		is_root || die "cannot connect to $pg_url as postgres without a password; allow trust auth for 127.0.0.1 in pg_hba.conf"
		local hba
		hba=$(ls /etc/postgresql/*/main/pg_hba.conf | sort -V | tail -n 1)
		say "postgresql: trusting loopback connections in $hba"
		sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
		pg_ctlcluster --skip-systemctl-redirect "$(basename "$(dirname "$(dirname "$hba")")")" main reload
		wait_for "postgresql trust auth" pg_ok
	fi
	if [ "$(psql "$pg_url/postgres" -tAc "SELECT 1 FROM pg_database WHERE datname = 'test'")" != 1 ]; then
		say "postgresql: creating database test"
		psql "$pg_url/postgres" -qc 'CREATE DATABASE test'
	fi
}

if [ -z "${TETHER_TEST_REDIS_ADDR:-}" ]; then start_redis; else say "redis: using $TETHER_TEST_REDIS_ADDR"; fi
if [ -z "${TETHER_TEST_REDIS_CLUSTER:-}" ]; then start_redis_cluster; else say "redis cluster: using $TETHER_TEST_REDIS_CLUSTER"; fi
if [ -z "${TETHER_TEST_REDIS_SENTINEL:-}" ]; then start_redis_sentinel; else say "redis sentinel: using $TETHER_TEST_REDIS_SENTINEL (master $sentinel_master)"; fi
if [ -z "${TETHER_TEST_DATABASE_URL:-}" ]; then start_postgres; else say "postgresql: using TETHER_TEST_DATABASE_URL"; fi

# The browser test drives Debian's Chromium; it fails (never skips) without one.
if [ -z "${TETHER_TEST_CHROMIUM:-}" ] && [ ! -x /usr/bin/chromium ]; then apt_install chromium; fi
# Screenshots of the browser test land here; CI keeps the directory.
export TETHER_TEST_ARTIFACTS="${TETHER_TEST_ARTIFACTS:-$PWD/testdata/artifacts}"
mkdir -p "$TETHER_TEST_ARTIFACTS"

# The fault suite runs after the Go tests in CI (CI=true) or with --fault, never when
# packages are named: it takes minutes and proves the whole system, not a package.
fault=0
[ "${CI:-}" = true ] && fault=1
pkgs=()
for a in "$@"; do
	case $a in
	--fault) fault=1 ;;
	--no-fault) fault=0 ;;
	*) pkgs+=("$a") ;;
	esac
done
if [ ${#pkgs[@]} -gt 0 ]; then fault=0; else pkgs=(./...); fi

say "go vet ${pkgs[*]}"
go vet "${pkgs[@]}"

unformatted=$(git ls-files '*.go' | while read -r f; do if [ -f "$f" ]; then printf '%s\n' "$f"; fi; done | xargs -r gofmt -l)
[ -z "$unformatted" ] || die "not gofmt-ed: $unformatted"

# A direct import marked indirect (or a stale go.sum) builds fine and misleads a reader of
# go.mod about what tether depends on.
if [ "${pkgs[*]}" = ./... ] && ! untidy=$(go mod tidy -diff 2>&1); then
	die "go.mod or go.sum is not tidy; run: go mod tidy
$untidy"
fi

# 15 min per package: sync/connections takes about 5 min alone on a 2-core machine and
# went past 9 min when another job shared the cores; the deadline is for hangs, not speed.
say "go test -race ${pkgs[*]}"
go test -race -count=1 -timeout 15m "${pkgs[@]}"
say "all tests passed"

if [ "$fault" = 1 ]; then
	# Bounded size (5,000 connections); it prints its figures and, when one is wrong, exits 1
	# and says where every process's log is.
	say "fault suite: scripts/fault.sh (bounded)"
	scripts/fault.sh
fi
