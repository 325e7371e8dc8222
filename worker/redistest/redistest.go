// Package redistest gives each test a real Redis database of its own, leased from the
// range TETHER_TEST_REDIS_DBS names (1-15 by default) and flushed.
//
// Test packages run as parallel processes, so a fixed database number per
// package collides as soon as two packages pick the same one. Client instead
// leases a database for the duration of one test: it takes a lease key in
// database 0 (SET NX with a TTL, so a crashed test frees its lease by
// itself), preferring the number the caller names, and flushes the database
// before handing it over. When all are leased it waits for one. A test that
// needs Redis fails when it cannot reach it: scripts/test.sh starts one.
package redistest

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

const (
	leaseTTL  = 15 * time.Minute
	leaseWait = 3 * time.Minute
)

// DBs is the range of databases tests lease and flush: TETHER_TEST_REDIS_DBS ("1-15",
// the default; "8-11"; or one number). Database 0 holds the leases and is never leased.
func DBs() (first, last int, err error) {
	return parseDBs(os.Getenv("TETHER_TEST_REDIS_DBS"))
}

func parseDBs(s string) (first, last int, err error) {
	if s == "" {
		return 1, 15, nil
	}
	lo, hi, isRange := strings.Cut(s, "-")
	if !isRange {
		hi = lo
	}
	first, err1 := strconv.Atoi(strings.TrimSpace(lo))
	last, err2 := strconv.Atoi(strings.TrimSpace(hi))
	if err1 != nil || err2 != nil || first < 1 || last < first {
		return 0, 0, fmt.Errorf("TETHER_TEST_REDIS_DBS=%q: want a range of databases such as 1-15 (database 0 holds the leases)", s)
	}
	return first, last, nil
}

// Addr is the Redis address tests use: TETHER_TEST_REDIS_ADDR, or 127.0.0.1:6379. An
// absolute path is a Unix socket.
func Addr() string {
	if a := os.Getenv("TETHER_TEST_REDIS_ADDR"); a != "" {
		return a
	}
	return "127.0.0.1:6379"
}

// Client leases a flushed database (preferably db) for the rest of the test
// and returns connection options for Asynq and a go-redis client on it. The
// lease is released and the client closed when the test ends.
func Client(tb testing.TB, db int) (asynq.RedisClientOpt, *redis.Client) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), leaseWait)
	defer cancel()
	ctl := redis.NewClient(&redis.Options{Network: network(), Addr: Addr(), DB: 0})
	if err := ctl.Ping(ctx).Err(); err != nil {
		_ = ctl.Close()
		tb.Fatalf("redis at %s is not reachable (%v): run scripts/test.sh, which starts it", Addr(), err)
	}
	first, last, err := DBs()
	if err != nil {
		_ = ctl.Close()
		tb.Fatal(err)
	}
	owner := fmt.Sprintf("%d:%s:%d", os.Getpid(), tb.Name(), time.Now().UnixNano())
	n, err := lease(ctx, ctl, first, last, db, owner)
	if err != nil {
		_ = ctl.Close()
		tb.Fatalf("redistest: no free Redis database within %s: %v", leaseWait, err)
	}
	rc := redis.NewClient(&redis.Options{Network: network(), Addr: Addr(), DB: n})
	tb.Cleanup(func() {
		_ = rc.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		release.Run(ctx, ctl, []string{leaseKey(n)}, owner)
		_ = ctl.Close()
	})
	if err := rc.FlushDB(ctx).Err(); err != nil {
		tb.Fatalf("flush redis db %d: %v", n, err)
	}
	return asynq.RedisClientOpt{Network: network(), Addr: Addr(), DB: n}, rc
}

var release = redis.NewScript(`if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) end return 0`)

func leaseKey(n int) string { return "tether:redistest:lease:" + strconv.Itoa(n) }

func lease(ctx context.Context, ctl *redis.Client, firstDB, lastDB, prefer int, owner string) (int, error) {
	order := make([]int, 0, lastDB-firstDB+2)
	if prefer >= firstDB && prefer <= lastDB {
		order = append(order, prefer)
	}
	for n := firstDB; n <= lastDB; n++ {
		if n != prefer {
			order = append(order, n)
		}
	}
	for {
		for _, n := range order {
			ok, err := ctl.SetNX(ctx, leaseKey(n), owner, leaseTTL).Result()
			if err != nil {
				return 0, err
			}
			if ok {
				return n, nil
			}
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// URL is the redis:// (or, on a socket, redis-socket://) URL of a leased database, for
// TETHER_REDIS_URL in tests that run tether's commands.
func URL(opt asynq.RedisClientOpt) string {
	if opt.Network == "unix" {
		return "redis-socket://" + opt.Addr + "?db=" + strconv.Itoa(opt.DB)
	}
	return "redis://" + opt.Addr + "/" + strconv.Itoa(opt.DB)
}

func network() string {
	if filepath.IsAbs(Addr()) {
		return "unix"
	}
	return "tcp"
}

// ClusterAddrs are the masters of the Redis Cluster tests use: TETHER_TEST_REDIS_CLUSTER
// (host:port,host:port,...), or the three scripts/test.sh starts on 127.0.0.1:7101-7103.
func ClusterAddrs() []string {
	if s := os.Getenv("TETHER_TEST_REDIS_CLUSTER"); s != "" {
		return strings.Split(s, ",")
	}
	return []string{"127.0.0.1:7101", "127.0.0.1:7102", "127.0.0.1:7103"}
}

// Cluster leases the whole test Redis Cluster (a Cluster has only database 0, so tests
// of all packages take turns, through a lease key on the Redis of Client), flushes every
// master and returns a client on it, closed when the test ends. A test that needs it fails
// when it cannot reach it: scripts/test.sh starts one.
func Cluster(tb testing.TB) *redis.ClusterClient {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), leaseWait)
	defer cancel()
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: ClusterAddrs()})
	if err := cc.ForEachShard(ctx, func(ctx context.Context, c *redis.Client) error { return c.Ping(ctx).Err() }); err != nil {
		_ = cc.Close()
		tb.Fatalf("the Redis Cluster at %s is not reachable (%v): run scripts/test.sh, which starts one", strings.Join(ClusterAddrs(), ","), err)
	}
	holdWhole(ctx, tb, "tether:redistest:lease:cluster", "the Redis Cluster", cc)
	if err := cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error { return c.FlushAll(ctx).Err() }); err != nil {
		tb.Fatalf("flush the Redis Cluster: %v", err)
	}
	return cc
}

// SentinelMaster is the master name the test sentinels watch.
const SentinelMaster = "tether-test"

// SentinelAddrs are the sentinels tests use: TETHER_TEST_REDIS_SENTINEL (host:port,...,
// watching a master named tether-test), or the three scripts/test.sh starts on
// 127.0.0.1:7211-7213.
func SentinelAddrs() []string {
	if s := os.Getenv("TETHER_TEST_REDIS_SENTINEL"); s != "" {
		return strings.Split(s, ",")
	}
	return []string{"127.0.0.1:7211", "127.0.0.1:7212", "127.0.0.1:7213"}
}

// SentinelURL is the redis-sentinel:// URL of the test master, for TETHER_REDIS_URL in
// tests that run tether's commands.
func SentinelURL() string {
	return "redis-sentinel://" + strings.Join(SentinelAddrs(), ",") + "?master=" + SentinelMaster
}

// Sentinel leases the test Sentinel setup (tests of all packages take turns, through a
// lease key on the Redis of Client: a failover test must not pull the master from under
// another), flushes the master's database 0 and returns a failover client on it, closed
// when the test ends. A test that needs it fails when it cannot reach it: scripts/test.sh
// starts one.
func Sentinel(tb testing.TB) *redis.Client {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), leaseWait)
	defer cancel()
	rc := redis.NewFailoverClient(&redis.FailoverOptions{MasterName: SentinelMaster, SentinelAddrs: SentinelAddrs()})
	if err := rc.Ping(ctx).Err(); err != nil {
		_ = rc.Close()
		tb.Fatalf("the Redis Sentinel master %q via %s is not reachable (%v): run scripts/test.sh, which starts one",
			SentinelMaster, strings.Join(SentinelAddrs(), ","), err)
	}
	holdWhole(ctx, tb, "tether:redistest:lease:sentinel", "the Redis Sentinel setup", rc)
	if err := rc.FlushDB(ctx).Err(); err != nil {
		tb.Fatalf("flush the Redis Sentinel master: %v", err)
	}
	return rc
}

// holdWhole takes the lease key of a whole setup (what names it, in errors) through the
// Redis of Client, for the rest of the test; when the test ends it closes c, the test's
// client of that setup, and releases the lease. It closes c and fails the test when it
// cannot.
func holdWhole(ctx context.Context, tb testing.TB, key, what string, c io.Closer) {
	tb.Helper()
	ctl := redis.NewClient(&redis.Options{Network: network(), Addr: Addr(), DB: 0})
	if err := ctl.Ping(ctx).Err(); err != nil {
		_ = c.Close()
		_ = ctl.Close()
		tb.Fatalf("redis at %s is not reachable (%v): run scripts/test.sh, which starts it", Addr(), err)
	}
	owner, err := leaseWhole(ctx, ctl, key, tb.Name())
	if err != nil {
		_ = c.Close()
		_ = ctl.Close()
		tb.Fatalf("redistest: the lease of %s: %v", what, err)
	}
	tb.Cleanup(func() {
		_ = c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		release.Run(ctx, ctl, []string{key}, owner)
		_ = ctl.Close()
	})
}

// leaseWhole takes key, the lease of a whole setup (a Cluster, the Sentinel setup), waiting
// while another test holds it, and returns the owner token that releases it.
func leaseWhole(ctx context.Context, ctl *redis.Client, key, name string) (string, error) {
	owner := fmt.Sprintf("%d:%s:%d", os.Getpid(), name, time.Now().UnixNano())
	for {
		ok, err := ctl.SetNX(ctx, key, owner, leaseTTL).Result()
		if err != nil {
			return "", err
		}
		if ok {
			return owner, nil
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Socket starts a Redis server of tb's own that listens only on a Unix socket, and
// returns the socket's path; the server stops when tb ends. redis-server must be
// installed (scripts/test.sh installs it).
func Socket(tb testing.TB) string {
	tb.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		tb.Fatalf("redis-server is not installed (%v): run scripts/test.sh, which installs it", err)
	}
	dir, err := os.MkdirTemp("", "redis") // short: a socket's path must fit in 107 bytes
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = os.RemoveAll(dir) })
	sock := filepath.Join(dir, "redis.sock")
	cmd := exec.Command(bin, "--port", "0", "--unixsocket", sock, "--unixsocketperm", "700",
		"--save", "", "--appendonly", "no", "--dir", dir)
	logPath := filepath.Join(dir, "redis.log")
	log, err := os.Create(logPath)
	if err != nil {
		tb.Fatal(err)
	}
	defer log.Close()
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		tb.Fatalf("start redis-server on %s: %v", sock, err)
	}
	tb.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	c := redis.NewClient(&redis.Options{Network: "unix", Addr: sock})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return sock
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(logPath)
			tb.Fatalf("redis-server on %s did not answer within 10s: %v\n%s", sock, err, b)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
