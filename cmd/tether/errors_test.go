package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"maps"
	"net"
	"net/url"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tether/sync/store/storetest"
	"tether/worker"
	"tether/worker/redistest"
)

// closedAddr is a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}

// A store that cannot be opened is named: the SQLite path, or the PostgreSQL URL without
// its password, and the variable.
func TestStoreOpenErrorsNameTheDatabase(t *testing.T) {
	addr := closedAddr(t)
	missing, err := url.Parse(storetest.DatabaseURL()) // the test server, another database
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	missingName := "tether_missing_" + hex.EncodeToString(b)
	missing.Path = "/" + missingName
	for _, c := range []struct {
		url  string
		want []string
		not  string
	}{
		{"sqlite:/no/such/dir/tether.db", []string{"TETHER_DATABASE_URL: cannot open the SQLite database at /no/such/dir/tether.db"}, ""},
		{"postgres://bob:hunter2@" + addr + "/x", []string{"TETHER_DATABASE_URL: cannot connect to PostgreSQL at postgres://bob:xxxxx@" + addr + "/x", "connection refused"}, "hunter2"},
		// The server answers without the database: say so and how to create it, not "check
		// that it is running".
		{missing.String(), []string{"TETHER_DATABASE_URL: PostgreSQL at", `its database "` + missingName + `" does not exist`,
			"create it with `createdb -h " + missing.Hostname() + " -p " + missing.Port() + " -U " + missing.User.Username() + " " + missingName + "`",
			`CREATE DATABASE "` + missingName + `"`}, "check that it is running"},
	} {
		res := runTether(t, context.Background(), map[string]string{"TETHER_DATABASE_URL": c.url}, "migrate", "status")
		if res.err == nil {
			t.Fatalf("migrate status on %s succeeded", c.url)
		}
		msg := res.err.Error()
		for _, w := range c.want {
			if !strings.Contains(msg, w) {
				t.Errorf("error %q lacks %q", msg, w)
			}
		}
		if strings.Contains(msg, "\n") || (c.not != "" && strings.Contains(msg, c.not)) {
			t.Errorf("error %q is not one line or shows the password", msg)
		}
	}
}

// An unreachable Redis reaches the user as one sentence with the URL, password redacted;
// permissions show on a missing org says so.
func TestRedisAndOrgErrorsAreOneSentence(t *testing.T) {
	db := "sqlite:" + filepath.Join(t.TempDir(), "tether.db")
	vars := map[string]string{"TETHER_DATABASE_URL": db}
	if res := runTether(t, context.Background(), vars, "migrate", "up"); res.err != nil {
		t.Fatal(res.err)
	}
	created := runTether(t, context.Background(), vars, "org", "create", "--name", "Acme", "--seats", "2")
	org, _, _ := strings.Cut(created.stdout, "\n")
	if created.err != nil || org == "" {
		t.Fatalf("org create: %v %q", created.err, created.stdout)
	}
	addr := closedAddr(t)
	vars["TETHER_REDIS_URL"] = "redis://:s3cret@" + addr + "/0"
	res := runTether(t, context.Background(), vars, "permissions", "check", "--org", org)
	want := "cannot reach Redis at redis://:xxxxx@" + addr + "/0 (TETHER_REDIS_URL or --redis-url): connect: connection refused"
	if res.err == nil || !strings.HasPrefix(res.err.Error(), want) || strings.Contains(res.err.Error(), "s3cret") || strings.Contains(res.err.Error(), "\n") {
		t.Errorf("permissions check with Redis down: %v, want one line starting %q", res.err, want)
	}
	if res.err == nil || !strings.Contains(res.err.Error(), "is stored but its task could not be queued: it stays queued, and the reconciler queues it") {
		t.Errorf("permissions check with Redis down: %v, want it to say the audit is stored and queued later", res.err)
	}

	res = runTether(t, context.Background(), vars, "permissions", "check", "--org", "no-such-org")
	if res.err == nil || !strings.Contains(res.err.Error(), `no org with id "no-such-org": tether org list`) {
		t.Errorf("permissions check of a missing org: %v", res.err)
	}
	res = runTether(t, context.Background(), vars, "permissions", "show", "--org", "no-such-org")
	if res.err == nil || !strings.Contains(res.err.Error(), `no org with id "no-such-org"`) {
		t.Errorf("permissions show of a missing org: %v", res.err)
	}
}

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"redis://:pw@h:6379/0":                    "redis://:xxxxx@h:6379/0",
		"redis://user:pw@h:6379":                  "redis://user:xxxxx@h:6379",
		"redis-cluster://u:p@a:1,b:2":             "redis-cluster://u:xxxxx@a:1,b:2",
		"redis://h:6379/0":                        "redis://h:6379/0",
		"redis-sentinel://s1:26379?master=mymast": "redis-sentinel://s1:26379?master=mymast",
	} {
		if got := redactURL(in); got != want {
			t.Errorf("redactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

// Without TETHER_REDIS_URL, a CLI verb that queues cannot reach the embedded Redis of a
// running tether all: it says so and names the HTTP route that does the same.
func TestCLIVerbsPointToTheAPIWithoutRedis(t *testing.T) {
	for _, c := range []struct {
		args  []string
		route string
	}{
		{[]string{"invite", "emails", "--org", "o1", "--role", "chat", "a@x.com"}, "POST /v1/orgs/{org}/imports"},
		{[]string{"invite", "status", "i1", "--org", "o1"}, "GET /v1/orgs/{org}/imports/{id}"},
		{[]string{"invite", "resend", "--org", "o1", "--import", "i1"}, "POST /v1/orgs/{org}/imports/{id}/resend"},
		{[]string{"permissions", "check", "--org", "o1"}, "POST /v1/orgs/{org}/permission-audits"},
	} {
		res := runTether(t, context.Background(), nil, c.args...)
		if res.err == nil {
			t.Fatalf("tether %v without Redis succeeded", c.args)
		}
		for _, want := range []string{"TETHER_REDIS_URL: is not set", "cannot reach the embedded Redis of a running `tether all`", c.route} {
			if !strings.Contains(res.err.Error(), want) {
				t.Errorf("tether %v: %q lacks %q", c.args, res.err, want)
			}
		}
	}
}

// startRedisWithPassword runs a real redis-server on a free port that requires pw, for
// the test's life; it returns host:port.
func startRedisWithPassword(t *testing.T, pw string) string {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("redis-server is not installed (scripts/test.sh's image has it): %v", err)
	}
	addr := closedAddr(t)
	_, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command(bin, "--port", port, "--bind", "127.0.0.1", "--requirepass", pw, "--save", "", "--appendonly", "no")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			_ = c.Close()
			return addr
		}
		if time.Now().After(deadline) {
			t.Fatalf("redis-server on %s did not start", addr)
		}
	}
}

// A Redis that wants a password, one that refuses the password given, and one that never
// answers each reach the user as one sentence naming the URL (password redacted), the
// setting and the fix, from a CLI verb and from the worker's start-up check alike.
func TestRedisAuthAndTimeoutAreOneSentence(t *testing.T) {
	db := "sqlite:" + filepath.Join(t.TempDir(), "tether.db")
	vars := map[string]string{"TETHER_DATABASE_URL": db, "TETHER_SMTP_URL": "smtp+insecure://127.0.0.1:25", "TETHER_METRICS_ADDR": "off",
		"TETHER_ENCRYPTION_KEYS": testKeys, "TETHER_LINK_SECRET": testLinkSecret}
	if res := runTether(t, context.Background(), vars, "migrate", "up"); res.err != nil {
		t.Fatal(res.err)
	}
	created := runTether(t, context.Background(), vars, "org", "create", "--name", "Acme", "--seats", "2")
	org, _, _ := strings.Cut(created.stdout, "\n")
	if created.err != nil || org == "" {
		t.Fatalf("org create: %v %q", created.err, created.stdout)
	}
	secured := startRedisWithPassword(t, "right-pw")
	silent, err := net.Listen("tcp", "127.0.0.1:0") // accepts, never answers
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = silent.Close() })
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { _ = c.Close() })
		}
	}()
	cases := []struct {
		name, url, want string
	}{
		{"no password", "redis://" + secured + "/0",
			"Redis at redis://" + secured + "/0 requires a password and TETHER_REDIS_URL (or --redis-url) gives none: put it in the URL"},
		{"wrong password", "redis://:wrong-pw@" + secured + "/0",
			"Redis at redis://:xxxxx@" + secured + "/0 refused the user or password in TETHER_REDIS_URL (or --redis-url): correct them in the URL"},
		{"no answer", "redis://:pw@" + silent.Addr().String() + "/0",
			"Redis at redis://:xxxxx@" + silent.Addr().String() + "/0 (TETHER_REDIS_URL or --redis-url) did not answer in time"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := maps.Clone(vars)
			v["TETHER_REDIS_URL"] = c.url
			for _, args := range [][]string{{"permissions", "check", "--org", org}, {"worker"}} {
				res := runTether(t, context.Background(), v, args...)
				if res.err == nil || !strings.HasPrefix(res.err.Error(), c.want) || strings.Contains(res.err.Error(), "\n") ||
					strings.Contains(res.err.Error(), "wrong-pw") {
					t.Errorf("tether %s: %v, want one line starting %q", strings.Join(args, " "), res.err, c.want)
				}
			}
		})
	}
}

// A redis-sentinel:// URL whose master name the sentinels do not know is one sentence naming
// the name and the fix, not go-redis' "all sentinels ... unreachable: redis: nil".
func TestRedisSentinelUnknownMasterIsOneSentence(t *testing.T) {
	db := "sqlite:" + filepath.Join(t.TempDir(), "tether.db")
	vars := map[string]string{"TETHER_DATABASE_URL": db, "TETHER_ENCRYPTION_KEYS": testKeys}
	if res := runTether(t, context.Background(), vars, "migrate", "up"); res.err != nil {
		t.Fatal(res.err)
	}
	wrong := "redis-sentinel://" + strings.Join(redistest.SentinelAddrs(), ",") + "?master=nope"
	want := "no sentinel at " + wrong + " (TETHER_REDIS_URL or --redis-url) knows a master named \"nope\": set ?master= to the name in their sentinel monitor lines"
	vars["TETHER_REDIS_URL"] = wrong
	res := runTether(t, context.Background(), vars, "keys", "status")
	if res.err == nil || res.err.Error() != want {
		t.Fatalf("tether keys status with an unknown master name: %v, want %q", res.err, want)
	}
}

// Sentinels that cannot be reached make `tether keys`, `reconcile`, `connections sweep` and
// `connections refresh` fail within their 5 s ping, and the verbs that store a row before
// they queue its task (`invite emails`, `permissions check`) give up on the task within
// worker.ProducerWait and say the row is stored; each with the one sentence, instead of
// after the half minute a Sentinel client spends retrying.
func TestRedisSentinelUnreachableFailsSoon(t *testing.T) {
	db := "sqlite:" + filepath.Join(t.TempDir(), "tether.db")
	vars := map[string]string{"TETHER_DATABASE_URL": db, "TETHER_ENCRYPTION_KEYS": testKeys}
	if res := runTether(t, context.Background(), vars, "migrate", "up"); res.err != nil {
		t.Fatal(res.err)
	}
	var addrs []string
	for range 2 { // ports nothing listens on: taken, then freed
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addrs = append(addrs, l.Addr().String())
		_ = l.Close()
	}
	u := "redis-sentinel://" + strings.Join(addrs, ",") + "?master=tether"
	vars["TETHER_REDIS_URL"] = u
	want := "Redis at " + u + " (TETHER_REDIS_URL or --redis-url) did not answer in time"
	created := runTether(t, context.Background(), vars, "org", "create", "--name", "Acme", "--seats", "2")
	org, _, _ := strings.Cut(created.stdout, "\n")
	if created.err != nil || org == "" {
		t.Fatalf("org create: %v %q", created.err, created.stdout)
	}
	for _, c := range []struct {
		args   []string
		stored string // what the sentence says was stored, for a verb that stores first
		limit  time.Duration
	}{
		{args: []string{"keys", "status"}, limit: 15 * time.Second},
		{args: []string{"reconcile"}, limit: 15 * time.Second},
		{args: []string{"connections", "sweep"}, limit: 15 * time.Second},
		{args: []string{"connections", "refresh", org, "no-such-connection"}, limit: 15 * time.Second},
		{args: []string{"invite", "emails", "--org", org, "--role", "chat", "a@example.com"},
			stored: "is stored but its task could not be queued", limit: worker.ProducerWait + 10*time.Second},
		{args: []string{"permissions", "check", "--org", org},
			stored: "is stored but its task could not be queued", limit: worker.ProducerWait + 10*time.Second},
	} {
		began := time.Now()
		res := runTether(t, context.Background(), vars, c.args...)
		took := time.Since(began)
		if res.err == nil || !strings.HasPrefix(res.err.Error(), want) || !strings.Contains(res.err.Error(), c.stored) {
			t.Errorf("tether %s with unreachable sentinels: %v, want %q ... %q", strings.Join(c.args, " "), res.err, want, c.stored)
		}
		if took > c.limit {
			t.Errorf("tether %s took %s to give up on unreachable sentinels (at most %s)", strings.Join(c.args, " "), took.Round(time.Second), c.limit)
		}
	}
}
