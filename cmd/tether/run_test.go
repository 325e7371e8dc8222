package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"maps"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"tether/internal/syncbuf"
	"tether/jobs"
	"tether/sync/store/storetest"
	"tether/worker/redistest"
)

const testKeys = "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="

// testLinkSecret signs connect links in tests.
const testLinkSecret = "test-link-secret-0123456789abcdefghijklmnop"

// result is what one in-process run of the program produced.
type result struct {
	err    error
	stdout string
	stderr string
}

// runTether runs the program in-process with env as its whole environment.
func runTether(t *testing.T, ctx context.Context, env map[string]string, args ...string) result {
	t.Helper()
	var stdout, stderr syncbuf.Buffer
	err := run(ctx, append([]string{"tether"}, args...), func(k string) string { return env[k] }, strings.NewReader(""), &stdout, &stderr)
	return result{err: err, stdout: stdout.String(), stderr: stderr.String()}
}

// start runs the program in the background; stop cancels its context (as SIGTERM does)
// and returns what it produced.
func start(t *testing.T, env map[string]string, args ...string) (stderr *syncbuf.Buffer, stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var out syncbuf.Buffer
	stderr = &syncbuf.Buffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, append([]string{"tether"}, args...), func(k string) string { return env[k] }, strings.NewReader(""), &out, stderr)
	}()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-done:
			case <-time.After(30 * time.Second):
				t.Errorf("tether %s did not stop within 30s of SIGTERM", args[0])
			}
		})
		return err
	}
	t.Cleanup(func() { _ = stop() })
	// A process that refuses to start (a missing setting) must fail the test here, not
	// leave it waiting for work that never happens.
	select {
	case err := <-done:
		done <- err
		t.Fatalf("tether %v exited at start: %v\n%s", args, err, stderr.String())
	case <-time.After(300 * time.Millisecond):
	}
	return stderr, stop
}

var listenRE = regexp.MustCompile(`"addr":"(127\.0\.0\.1:\d+)"[^\n]*"message":"http listening"`)

// waitListening returns the base URL once the process logged its HTTP address.
func waitListening(t *testing.T, logs *syncbuf.Buffer) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if m := listenRE.FindStringSubmatch(logs.String()); m != nil {
			return "http://" + m[1]
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no http listening line in the log:\n%s", logs.String())
	return ""
}

// freshPostgres returns the URL of a new, empty schema, dropped when the test ends.
func freshPostgres(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	base := storetest.DatabaseURL()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	schema := "tether_cmd_" + hex.EncodeToString(b)
	c, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("PostgreSQL at %s is unreachable (%v); run scripts/test.sh to start it", base, err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), base)
		if err != nil {
			t.Error(err)
			return
		}
		defer c.Close(context.Background())
		_, _ = c.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
	})
	u, _ := url.Parse(base)
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

func TestMigrateUpAndStatusOnBothBackends(t *testing.T) {
	backends := map[string]string{
		"sqlite":   "sqlite:" + filepath.Join(t.TempDir(), "tether.db"),
		"postgres": freshPostgres(t),
	}
	for name, dbURL := range backends {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			env := map[string]string{"TETHER_DATABASE_URL": dbURL}

			before := runTether(t, ctx, env, "migrate", "status")
			if before.err != nil {
				t.Fatalf("status before: %v\n%s", before.err, before.stderr)
			}
			if !strings.Contains(before.stdout, name+" store") || !strings.Contains(before.stdout, "pending") {
				t.Errorf("status before up should list pending migrations:\n%s", before.stdout)
			}
			// A verb on the empty database names it and says it may be the wrong one.
			where := strings.TrimPrefix(dbURL, "sqlite:")
			if u, err := url.Parse(dbURL); name == "postgres" && err == nil {
				where = u.Redacted()
			}
			if r := runTether(t, ctx, env, "org", "list"); r.err == nil || !strings.Contains(r.err.Error(), "database at "+where+" has no tether tables") ||
				!strings.Contains(r.err.Error(), "TETHER_DATABASE_URL") || !strings.Contains(r.err.Error(), "tether migrate up") {
				t.Errorf("org list on an empty database: %v", r.err)
			}

			up := runTether(t, ctx, env, "migrate", "up")
			if up.err != nil {
				t.Fatalf("migrate up: %v\n%s", up.err, up.stderr)
			}
			if !strings.Contains(up.stdout, "all applied") {
				t.Errorf("migrate up said %q", up.stdout)
			}
			again := runTether(t, ctx, env, "migrate", "up")
			if again.err != nil || !strings.Contains(again.stdout, "applied 0 migration(s)") {
				t.Errorf("second migrate up: %v %q; want nothing left to apply", again.err, again.stdout)
			}

			after := runTether(t, ctx, env, "migrate", "status")
			if after.err != nil {
				t.Fatal(after.err)
			}
			if strings.Contains(after.stdout, "pending") || strings.Count(after.stdout, "\n") < 3 {
				t.Errorf("status after up should show every migration applied:\n%s", after.stdout)
			}
		})
	}
}

// The database URL flag wins over the variable.
func TestMigrateFlagOverridesEnvironment(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"TETHER_DATABASE_URL": "sqlite:" + filepath.Join(dir, "env.db")}
	res := runTether(t, context.Background(), env, "migrate", "up", "--database-url", "sqlite:"+filepath.Join(dir, "flag.db"))
	if res.err != nil {
		t.Fatal(res.err)
	}
	st := runTether(t, context.Background(), map[string]string{"TETHER_DATABASE_URL": "sqlite:" + filepath.Join(dir, "env.db")}, "migrate", "status")
	if !strings.Contains(st.stdout, "pending") {
		t.Errorf("the variable's database was migrated although the flag named another:\n%s", st.stdout)
	}
}

func TestProcessesRefuseToStartWithoutWhatTheyNeed(t *testing.T) {
	tests := []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"worker"}, nil, "TETHER_REDIS_URL: is not set; tether worker needs a durable Redis"},
		{[]string{"scheduler"}, nil, "TETHER_REDIS_URL: is not set; tether scheduler"},
		{[]string{"serve"}, nil, "TETHER_REDIS_URL: is not set; tether serve"},
		{[]string{"worker"}, map[string]string{"TETHER_REDIS_URL": "redis://127.0.0.1:6379/2"}, "TETHER_ENCRYPTION_KEYS: is not set"},
		{[]string{"all"}, nil, "TETHER_ENCRYPTION_KEYS: is not set"},
		{[]string{"all"}, map[string]string{"TETHER_ENCRYPTION_KEYS": testKeys}, "TETHER_LINK_SECRET: is not set; tether all signs connect links"},
		{[]string{"serve"}, map[string]string{"TETHER_REDIS_URL": "redis://127.0.0.1:6379/2", "TETHER_ENCRYPTION_KEYS": testKeys},
			"TETHER_LINK_SECRET: is not set; tether serve signs connect links"},
		{[]string{"worker"}, map[string]string{"TETHER_SHUTDOWN_TIMEOUT": "soon"}, `TETHER_SHUTDOWN_TIMEOUT: "soon" is not a duration`},
		{[]string{"worker", "--concurrency", "many"}, nil, `--concurrency (TETHER_WORKER_CONCURRENCY): "many" is not a whole number; example: --concurrency=20`},
		// No SMTP: the worker would run invites:send and drop every email.
		{[]string{"worker"}, map[string]string{"TETHER_REDIS_URL": "redis://127.0.0.1:6379/2", "TETHER_ENCRYPTION_KEYS": testKeys},
			"TETHER_SMTP_URL: is not set; tether worker runs invites:send and would drop every invitation email. Set TETHER_SMTP_URL to your mail server, or for a trial TETHER_MAILER=dir with TETHER_MAIL_DIR"},
		{[]string{"all"}, map[string]string{"TETHER_ENCRYPTION_KEYS": testKeys, "TETHER_LINK_SECRET": strings.Repeat("s", 48)}, "TETHER_SMTP_URL: is not set; tether all runs invites:send"},
		// No link secret: every reminder (its email carries connect links) would fail and retry.
		{[]string{"worker"}, map[string]string{"TETHER_REDIS_URL": "redis://127.0.0.1:6379/2", "TETHER_ENCRYPTION_KEYS": testKeys, "TETHER_MAILER": "log"},
			"TETHER_LINK_SECRET: is not set; tether worker signs connect links"},
		{[]string{"worker"}, map[string]string{"TETHER_MAILER": "smtps"}, `TETHER_MAILER: "smtps" is not one of smtp, dir, log`},
		{[]string{"all"}, map[string]string{"TETHER_MAILER": "dir"}, "TETHER_MAIL_DIR: is not set; TETHER_MAILER=dir writes each email into it"},
		// all is the only worker its Redis may have: a queue left out would never run.
		{[]string{"all", "--queues", "connections"}, map[string]string{"TETHER_ENCRYPTION_KEYS": testKeys, "TETHER_LINK_SECRET": testLinkSecret, "TETHER_MAILER": "log"},
			`--queues (TETHER_WORKER_QUEUES): "connections" leaves out critical, default, low; tether all may be the only worker on its Redis`},
		{[]string{"worker", "--queues", "refresh"}, nil, `--queues (TETHER_WORKER_QUEUES): "refresh" is not one of tether's queues (connections, critical, default, low); example: --queues=connections`},
	}
	for _, tt := range tests {
		res := runTether(t, context.Background(), tt.env, tt.args...)
		if res.err == nil || !strings.Contains(res.err.Error(), tt.want) {
			t.Errorf("tether %v: err = %v, want %q", tt.args, res.err, tt.want)
		}
	}
}

// A worker that cannot reach Redis or the database exits at once with an error naming the
// setting (the password redacted), instead of logging "worker started" and then errors.
func TestWorkerRefusesUnreachableRedisAndDatabase(t *testing.T) {
	db := "sqlite:" + filepath.Join(t.TempDir(), "tether.db")
	if res := runTether(t, t.Context(), map[string]string{"TETHER_DATABASE_URL": db}, "migrate", "up"); res.err != nil {
		t.Fatal(res.err)
	}
	opt, _ := redistest.Client(t, 2)
	for _, tt := range []struct {
		redis, db string
		want      string
	}{
		{"redis://:s3cret@127.0.0.1:1/2", db, "cannot reach Redis at redis://:xxxxx@127.0.0.1:1/2 (TETHER_REDIS_URL or --redis-url): connect: connection refused"},
		{"redis-socket://:s3cret@/nonexistent/redis.sock?db=2", db, "cannot reach Redis at redis-socket://:xxxxx@/nonexistent/redis.sock?db=2 (TETHER_REDIS_URL or --redis-url): connect: no such file or directory"},
		{redistest.URL(opt), "postgres://postgres:s3cret@127.0.0.1:1/none?connect_timeout=2", "TETHER_DATABASE_URL: cannot connect to PostgreSQL at postgres://postgres:xxxxx@127.0.0.1:1/none?connect_timeout=2 (connect: connection refused)"},
	} {
		env := map[string]string{"TETHER_REDIS_URL": tt.redis, "TETHER_DATABASE_URL": tt.db,
			"TETHER_ENCRYPTION_KEYS": testKeys, "TETHER_MAILER": "log", "TETHER_METRICS_ADDR": "off",
			"TETHER_LINK_SECRET": testLinkSecret}
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		res := runTether(t, ctx, env, "worker")
		cancel()
		if res.err == nil || !strings.Contains(res.err.Error(), tt.want) {
			t.Errorf("worker with Redis %s and database %s: %v; want %q", tt.redis, tt.db, res.err, tt.want)
		}
		if res.err != nil && strings.Contains(res.err.Error(), "s3cret") {
			t.Errorf("password in the error: %v", res.err)
		}
		if strings.Contains(res.stderr, "worker started") {
			t.Errorf("worker said it started:\n%s", res.stderr)
		}
	}
}

// The scheduler, too: an unreachable Redis at start is the sentence every verb prints,
// not "scheduler started" after an error chain per periodic task.
func TestSchedulerRefusesUnreachableRedis(t *testing.T) {
	env := map[string]string{"TETHER_REDIS_URL": "redis://:s3cret@127.0.0.1:1/2", "TETHER_METRICS_ADDR": "off"}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	res := runTether(t, ctx, env, "scheduler")
	want := "cannot reach Redis at redis://:xxxxx@127.0.0.1:1/2 (TETHER_REDIS_URL or --redis-url): connect: connection refused"
	if res.err == nil || !strings.Contains(res.err.Error(), want) || strings.Contains(res.err.Error(), "s3cret") {
		t.Errorf("scheduler with Redis down: %v; want %q", res.err, want)
	}
	if strings.Contains(res.stderr, "scheduler started") || strings.Contains(res.stderr, "enqueue periodic task") {
		t.Errorf("scheduler started or tried to enqueue:\n%s", res.stderr)
	}
}

func TestWorkerRefusesUnmigratedDatabase(t *testing.T) {
	opt, _ := redistest.Client(t, 2)
	env := map[string]string{
		"TETHER_REDIS_URL":       redistest.URL(opt),
		"TETHER_ENCRYPTION_KEYS": testKeys,
		"TETHER_LINK_SECRET":     testLinkSecret,
		"TETHER_DATABASE_URL":    "sqlite:" + filepath.Join(t.TempDir(), "new.db"),
		"TETHER_MAILER":          "log",
	}
	res := runTether(t, context.Background(), env, "worker", "--metrics-addr", "off")
	if res.err == nil || !strings.Contains(res.err.Error(), "run `tether migrate up`") {
		t.Errorf("worker on an empty database: %v; want an error saying to migrate", res.err)
	}
}

// A worker given --queues fetches from those queues alone (Asynq's own server list, which
// the monitoring UI shows, holds what each server fetches from), says at start which it
// leaves out, and a task on one of those waits, not lost, for a worker that serves it.
func TestWorkerServesTheQueuesItIsGiven(t *testing.T) {
	db := "sqlite:" + filepath.Join(t.TempDir(), "tether.db")
	if res := runTether(t, t.Context(), map[string]string{"TETHER_DATABASE_URL": db}, "migrate", "up"); res.err != nil {
		t.Fatal(res.err)
	}
	opt, _ := redistest.Client(t, 2)
	env := map[string]string{"TETHER_REDIS_URL": redistest.URL(opt), "TETHER_DATABASE_URL": db,
		"TETHER_ENCRYPTION_KEYS": testKeys, "TETHER_MAILER": "log", "TETHER_METRICS_ADDR": "off",
		"TETHER_LINK_SECRET": testLinkSecret, "TETHER_LOG_LEVEL": "warn", "TETHER_WORKER_CONCURRENCY": "30"}
	insp := asynq.NewInspector(opt)
	defer insp.Close()
	// Queued before any worker runs: the low queue's daily prune.
	task, err := jobs.NewEventsPruneTask(time.Now().UTC())
	if err != nil {
		t.Fatal(err)
	}
	client := asynq.NewClient(opt)
	defer client.Close()
	info, err := client.Enqueue(task)
	if err != nil {
		t.Fatal(err)
	}

	logs, stop := start(t, env, "worker", "--queues", "connections=2")
	servers := waitServers(t, insp, 2)
	for _, s := range servers {
		if !maps.Equal(s.Queues, map[string]int{jobs.QueueConnections: 2}) || s.Concurrency != 15 {
			t.Errorf("server %s fetches from %v with %d slots; want connections (weight 2) alone, 15 slots", s.ID, s.Queues, s.Concurrency)
		}
	}
	if want := `"left_out":["critical","default","low"]`; !strings.Contains(logs.String(), want) {
		t.Errorf("the worker's start does not name the queues it leaves out (%s):\n%s", want, logs.String())
	}
	// Asynq's fetch loop looks for work at least once a second; give it two.
	time.Sleep(2 * time.Second)
	if ti, err := insp.GetTaskInfo(jobs.QueueLow, info.ID); err != nil || ti.State != asynq.TaskStatePending {
		t.Fatalf("the low queue's task under a connections-only worker: %+v, %v; want it pending", ti, err)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	// A worker without --queues serves every queue at its default weight and runs it.
	logs, _ = start(t, env, "worker")
	for _, s := range waitServers(t, insp, 2) {
		if !maps.Equal(s.Queues, jobs.Queues()) {
			t.Errorf("server %s fetches from %v; want every queue, %v", s.ID, s.Queues, jobs.Queues())
		}
	}
	if strings.Contains(logs.String(), "left_out") {
		t.Errorf("a worker serving every queue warned of queues left out:\n%s", logs.String())
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		ti, err := insp.GetTaskInfo(jobs.QueueLow, info.ID)
		if err == nil && ti.State == asynq.TaskStateCompleted {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the low queue's task under a worker of every queue: %+v, %v; want it completed", ti, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitServers returns the Asynq servers of this process once there are n of them (a
// stopped worker's entries are gone by then: it removes them on shutdown).
func waitServers(t *testing.T, insp *asynq.Inspector, n int) []*asynq.ServerInfo {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		all, err := insp.Servers()
		var ours []*asynq.ServerInfo
		for _, s := range all {
			if s.PID == os.Getpid() && s.Status == "active" {
				ours = append(ours, s)
			}
		}
		if err == nil && len(ours) == n {
			return ours
		}
		if time.Now().After(deadline) {
			t.Fatalf("Asynq's server list holds %d servers of this process (%v); want %d", len(ours), err, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// serve: probes, metrics and the monitoring UI over real Redis and a migrated SQLite
// store; SIGTERM (context cancel) stops it cleanly.
func TestServe(t *testing.T) {
	opt, _ := redistest.Client(t, 2)
	db := "sqlite:" + filepath.Join(t.TempDir(), "tether.db")
	if res := runTether(t, context.Background(), map[string]string{"TETHER_DATABASE_URL": db}, "migrate", "up"); res.err != nil {
		t.Fatal(res.err)
	}
	env := map[string]string{
		"TETHER_REDIS_URL":       redistest.URL(opt),
		"TETHER_DATABASE_URL":    db,
		"TETHER_ENCRYPTION_KEYS": testKeys,
		"TETHER_LINK_SECRET":     testLinkSecret,
		"TETHER_ADMIN_PASSWORD":  "pw-for-test",
		"TETHER_HTTP_ADDR":       "127.0.0.1:0",
	}
	logs, stop := start(t, env, "serve")
	base := waitListening(t, logs)

	// The monitoring UI takes a session from its login form, not basic auth.
	jar, _ := cookiejar.New(nil)
	admin := &http.Client{Jar: jar}
	res, err := admin.PostForm(base+"/monitoring/login", url.Values{"user": {"admin"}, "password": {"pw-for-test"}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	anon := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	check := func(path string, auth bool, wantCode int, wantBody string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, base+path, nil)
		c := anon
		if auth {
			c = admin
		}
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var body bytes.Buffer
		_, _ = body.ReadFrom(res.Body)
		if res.StatusCode != wantCode || !strings.Contains(body.String(), wantBody) {
			t.Errorf("GET %s = %d %.200q; want %d containing %q", path, res.StatusCode, body.String(), wantCode, wantBody)
		}
	}
	check("/healthz", false, 200, "ok")
	check("/readyz", false, 200, `"database":"ok"`)
	check("/metrics", false, 200, "go_goroutines")
	check("/monitoring/", false, 303, "")
	check("/monitoring/api/queues", false, 401, "unauthorized")
	check("/monitoring/", true, 200, "<html")
	check("/monitoring/api/queues", true, 200, `"queues"`)

	if err := stop(); err != nil {
		t.Errorf("serve after SIGTERM returned %v, want nil", err)
	}
	if strings.Contains(logs.String(), "pw-for-test") {
		t.Errorf("admin password in the log")
	}
}

// allEnv is what `tether all` needs on a SQLite file of the test's own, on the Redis at
// redisURL ("" for the embedded one), with any free HTTP port and mail only logged.
func allEnv(t *testing.T, redisURL string) map[string]string {
	env := map[string]string{
		"TETHER_DATABASE_URL":    "sqlite:" + filepath.Join(t.TempDir(), "tether.db"),
		"TETHER_ENCRYPTION_KEYS": testKeys,
		"TETHER_LINK_SECRET":     testLinkSecret,
		"TETHER_HTTP_ADDR":       "127.0.0.1:0",
		"TETHER_MAILER":          "log",
	}
	if redisURL != "" {
		env["TETHER_REDIS_URL"] = redisURL
	}
	return env
}

// all: on start the scheduler catches up on the last prune slot, the worker runs it
// against the store, and SIGTERM stops everything cleanly.
func TestAllRunsThePruneEndToEnd(t *testing.T) {
	opt, _ := redistest.Client(t, 2)
	env := allEnv(t, redistest.URL(opt))
	env["TETHER_PRUNE_SCHEDULE"] = "*/5 * * * *"
	logs, stop := start(t, env, "all")
	waitListening(t, logs)

	in := asynq.NewInspector(opt)
	defer in.Close()
	var done *asynq.TaskInfo
	deadline := time.Now().Add(20 * time.Second)
	for done == nil && time.Now().Before(deadline) {
		tasks, _ := in.ListCompletedTasks(jobs.QueueLow)
		for _, task := range tasks {
			if task.Type == jobs.TypeEventsPrune {
				done = task
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	if done == nil {
		t.Fatalf("no completed events:prune task; log:\n%s", logs.String())
	}
	if string(done.Result) != "deleted=0" || !strings.HasPrefix(done.ID, "events:prune:") {
		t.Errorf("prune task %s result %q", done.ID, done.Result)
	}
	if err := stop(); err != nil {
		t.Errorf("all after SIGTERM returned %v, want nil", err)
	}
	for _, want := range []string{"worker stopped", "scheduler stopped"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q after shutdown", want)
		}
	}
}

func TestDemo(t *testing.T) {
	res := runTether(t, context.Background(), nil, "demo")
	if res.err != nil {
		t.Fatalf("demo failed: %v\nstdout:\n%s\nstderr:\n%s", res.err, res.stdout, res.stderr)
	}
	for _, want := range []string{
		"refused the other as a duplicate",
		"deleted 3 events older than 90 days, kept the 2 recent ones",
		"archived after 0 of 5 retries",
		"/readyz: 200",
		// The org and its first members come in through the operator's routes.
		"its Join button: admin@acme-demo.example active as admin",
		"the worker sent the invitation: \"You're invited to join Demo Join Co on tether\"",
		"the same link again: 410 (used)",
		// The Salesforce steps, against the in-process sandbox and mail sink.
		"Invite import from Salesforce",
		"already_member        1", // counts right-aligned (go-pretty)
		"invitation emails arrived in the sink, one per invite",
		"403 \"Wrong Salesforce account\"",
		"200 \"Salesforce connected\"",
		"membership active as chat; personal Salesforce connection healthy",
		"since ",
		"LOST marketing_user",
		"got one email: \"Salesforce integration user lost a permission: marketing_user\"",
		// Connection upkeep: after the sweeps, who must act, and the counts per filter.
		"POST /v1/connections/sweep: 202 connections:sweep:",
		"google_calendar needs_reconnect → the rep acts (code invalid_grant)",
		"microsoft_calendar needs_admin → the admin acts (code invalid_grant/50057)",
		"(Zoom flapping): salesforce healthy, microsoft_calendar+teams healthy, zoom healthy; Action Required: none",
		"is degraded, not condemned",
		"FILTER       MEMBERS  ACTION REQUIRED",
		// Reconnect reminders: one email and one Slack message after the grace, the link
		// fixes the calendar.
		"/refresh: needs_reconnect, code invalid_grant; a reminder is queued",
		"(grace 3s): one email to ",
		"and one Slack direct message to ",
		"with the email's connect link",
		"allowed at the sandbox's Microsoft consent: \"Microsoft connected\"",
		"the counts rose by one with the break and dropped by one with the fix",
		"by email and on Slack; GET /v1/orgs/",
		"#2 all_set email sent, #2 all_set slack sent, #1 reminder email sent, #1 reminder slack sent; next: none",
		"last #2 all_set ",
		"next: none (fixed: all set)",
		// Deactivation and the way back.
		"(the sandbox's grants ended), deleted the tokens of microsoft_calendar",
		"member.deactivated at ",
		"revoked [salesforce zoom], tokens deleted [microsoft_calendar]",
		"409 member_deactivated",
		"joined: membership ",
		"active again; Action Required: the Salesforce connection was revoked; connect Salesforce again; the Outlook calendar connection was revoked; connect Outlook calendar again, or connect Google Calendar instead",
		"the rep connected Zoom again from a link: \"Zoom connected\"",
		"checks passed",
	} {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("demo report lacks %q:\n%s", want, res.stdout)
		}
	}
	if strings.Contains(res.stdout, "[FAIL]") {
		t.Errorf("demo report has a failure:\n%s", res.stdout)
	}
}

func TestEveryVerbHasHelp(t *testing.T) {
	for _, verb := range [][]string{{"worker"}, {"scheduler"}, {"serve"}, {"all"}, {"migrate"}, {"migrate", "up"}, {"migrate", "status"}, {"demo"}, {"sandbox"}, {"version"}} {
		res := runTether(t, context.Background(), nil, append(verb, "--help")...)
		if res.err != nil || !strings.Contains(res.stdout, "Usage:") || !strings.Contains(res.stdout, "--database-url") {
			t.Errorf("tether %v --help: %v\n%s", verb, res.err, res.stdout)
		}
	}
	res := runTether(t, context.Background(), nil, "version")
	if res.err != nil || !strings.HasPrefix(res.stdout, "tether ") {
		t.Errorf("version: %v %q", res.err, res.stdout)
	}
}

// pflag takes a flag usage's first `quoted` words as the value's name in --help, so a
// usage that quotes a command prints "--member tether members list" as the flag's form.
func TestFlagValueNamesAreOneWord(t *testing.T) {
	eachFlag(newRoot(env{getenv: func(string) string { return "" }}), func(c *cobra.Command, f *pflag.Flag) {
		if name, _ := pflag.UnquoteUsage(f); strings.Contains(name, " ") {
			t.Errorf("%s --%s shows %q as its value in --help: drop the backquotes from its usage", c.CommandPath(), f.Name, name)
		}
	})
}

// eachFlag calls fn with every verb under root and each flag it declares.
func eachFlag(root *cobra.Command, fn func(*cobra.Command, *pflag.Flag)) {
	root.LocalFlags().VisitAll(func(f *pflag.Flag) { fn(root, f) })
	for _, sub := range root.Commands() {
		eachFlag(sub, fn)
	}
}

// A string flag that takes a number or a duration says so in --help, instead of pflag's
// "string": the root's flags by name, and any string flag whose usage gives a duration.
func TestFlagValueNamesSayWhatToType(t *testing.T) {
	root := newRoot(env{getenv: func(string) string { return "" }})
	for flag, want := range map[string]string{"database-url": "URL", "redis-url": "URL",
		"http-addr": "HOST:PORT", "metrics-addr": "HOST:PORT", "concurrency": "N",
		"shutdown-timeout": "duration", "log-level": "level", "log-format": "format"} {
		f := root.PersistentFlags().Lookup(flag)
		if f == nil {
			t.Errorf("tether has no --%s", flag)
			continue
		}
		if name, _ := pflag.UnquoteUsage(f); name != want {
			t.Errorf("tether --help shows --%s %s, want --%s %s", flag, name, flag, want)
		}
	}
	durationExample := regexp.MustCompile(`(^|[ ,(])[0-9]+(ms|s|m|h)\b`)
	eachFlag(root, func(c *cobra.Command, f *pflag.Flag) {
		if name, usage := pflag.UnquoteUsage(f); name == "string" && durationExample.MatchString(usage) {
			t.Errorf("%s --%s shows \"string\" in --help but takes a duration (%q): backquote a value name in its usage", c.CommandPath(), f.Name, usage)
		}
	})
}

// all without a Redis URL runs on the embedded Redis and says loudly that it is not durable.
func TestAllWithoutRedisWarnsAndServes(t *testing.T) {
	env := allEnv(t, "")
	logs, stop := start(t, env, "all")
	base := waitListening(t, logs)
	if !strings.Contains(logs.String(), "*** WARNING: TETHER_REDIS_URL is not set: using an embedded in-memory Redis. Queued tasks are LOST") {
		t.Errorf("no loud warning about the embedded Redis:\n%s", logs.String())
	}
	res, err := http.Get(base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Errorf("/readyz on the embedded Redis = %d", res.StatusCode)
	}
	if err := stop(); err != nil {
		t.Errorf("all after SIGTERM: %v", err)
	}
}
