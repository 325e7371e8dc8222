//go:build linux

package worker_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"tether/connectors/oauth"
	"tether/connectors/sandbox"
	"tether/jobs"
	"tether/sync/connections"
	"tether/sync/directory"
	"tether/sync/store"
	"tether/sync/store/storetest"
	"tether/sync/vault"
	"tether/worker"
	"tether/worker/redislock"
	"tether/worker/redisstash"
	"tether/worker/redistest"
)

// gauge is the value of the unlabelled gauge name in reg.
func gauge(b *testing.B, reg *prometheus.Registry, name string) float64 {
	b.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		b.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	b.Fatalf("no gauge %s", name)
	return 0
}

// taskDuration is the sum (seconds) and count of tether_task_duration_seconds in reg.
func taskDuration(b *testing.B, reg *prometheus.Registry) (float64, uint64) {
	return histogram(b, reg, "tether_task_duration_seconds")
}

// histogram is the sum and count of the histogram name in reg, over all its labels.
func histogram(b *testing.B, reg *prometheus.Registry, name string) (float64, uint64) {
	b.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		b.Fatal(err)
	}
	var sum float64
	var n uint64
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				sum += m.GetHistogram().GetSampleSum()
				n += m.GetHistogram().GetSampleCount()
			}
		}
	}
	return sum, n
}

// gathered is the value of the counter name with labels (name, value pairs) in reg.
func gathered(b *testing.B, reg *prometheus.Registry, name string, labels ...string) float64 {
	return counted(b, reg, name, func(l map[string]string) bool {
		for i := 0; i+1 < len(labels); i += 2 {
			if v, ok := l[labels[i]]; ok && v != labels[i+1] {
				return false
			}
		}
		return true
	})
}

// counted sums the counter name over the label sets keep accepts, from one gathering of
// reg (sums read apart could straddle an increment).
func counted(b *testing.B, reg *prometheus.Registry, name string, keep func(labels map[string]string) bool) float64 {
	b.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		b.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if keep(labels) {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

// BenchmarkConnectionsRefresh: personal Salesforce connections refreshed by the worker at
// concurrency 100 (connections:refresh tasks through connections.Upkeep: the lock, the
// re-read, the provider's token endpoint, the sealed compare-and-swap write, the next
// refresh queued), with the sandbox in its own process answering every token call after
// 50 ms (its latency fault, set over its admin API). It reports refreshes per second over
// a 60 s window after a 5 s warm-up (TETHER_BENCH_REFRESH_SECONDS changes the window,
// TETHER_BENCH_REFRESH_LATENCY_MS the latency, to find what bounds the rate),
// provider calls per refresh, and this process's peak RSS (VmHWM: the worker, the store,
// Redis clients, the seeding included; the sandbox's memory is its own process's).
//
// In the same run, before the refreshes, it measures the ceiling: a bare Asynq server at
// the same concurrency on the same Redis running no-op tasks with the refresh tasks'
// options (TETHER_BENCH_NOOP_SECONDS, default 10; 0 skips it), and reports the refresh
// rate as a ratio of it. CPU per refresh is reported for the worker, the sandbox, the
// PostgreSQL backends serving the store, and the Redis server (all its clients: exact only
// when no one else uses that Redis); Redis commands and PostgreSQL row reads and updates
// per refresh come from INFO commandstats and the schema's table statistics.
// TETHER_BENCH_REFRESH_CPUPROFILE=FILE writes a CPU profile of the window alone
// (TETHER_BENCH_SANDBOX_CPUPROFILE=FILE one of the sandbox process's whole life);
// TETHER_BENCH_ASYNQ_PLAIN=1 gives the worker's Asynq server its own client instead of
// the tokens' autopipeliner, to measure what sharing it saves; TETHER_BENCH_FETCHERS sets
// the worker's Asynq servers (default one per 25 slots).
//
//	go test -run xxx -bench BenchmarkConnectionsRefresh -benchtime 1x -timeout 25m ./worker
func BenchmarkConnectionsRefresh(b *testing.B) {
	const (
		conns       = 10_000
		concurrency = 100
		warmup      = 5 * time.Second
	)
	envInt := func(name string, def int) int {
		v := os.Getenv(name)
		if v == "" {
			return def
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			b.Fatalf("%s=%q: %v", name, v, err)
		}
		return n
	}
	// As `tether worker` does; GOGC=100 in the environment measures Go's default.
	prevGC := debug.SetGCPercent(100)
	debug.SetGCPercent(prevGC)
	gc, _ := worker.TuneGC(os.Getenv)
	b.Cleanup(func() { debug.SetGCPercent(prevGC) })
	window := time.Duration(envInt("TETHER_BENCH_REFRESH_SECONDS", 60)) * time.Second
	latency := time.Duration(envInt("TETHER_BENCH_REFRESH_LATENCY_MS", 50)) * time.Millisecond
	ctx := context.Background()
	st := storetest.Postgres(b)
	sb := startSandboxProc(b, conns)
	opt, rdb := redistest.Client(b, 10)

	if latency > 0 {
		var fault json.RawMessage
		sb.admin(b, http.MethodPost, "/faults", sandbox.Fault{Provider: sandbox.Salesforce, Endpoint: "token",
			Kind: sandbox.FaultLatency, Latency: sandbox.Fixed(latency)}, &fault)
	}

	// One org, one member per connection (bulk), a grant per member at the sandbox, and
	// the connections written through the store with sealed tokens.
	t0 := time.Now()
	keys, _, err := vault.GenerateKeyring("bench")
	if err != nil {
		b.Fatal(err)
	}
	org, err := st.CreateOrg(ctx, directory.Org{Name: "Bench", SeatLimit: conns})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := st.DB().ExecContext(ctx, fmt.Sprintf(`INSERT INTO users (id, email, name, created_at)
SELECT 'bench-u-' || i, 'u' || i || '@bench.example', '', now() FROM generate_series(0, %d) AS s(i)`, conns-1)); err != nil {
		b.Fatal(err)
	}
	if _, err := st.DB().ExecContext(ctx, fmt.Sprintf(`INSERT INTO memberships (id, org_id, user_id, role, status, created_at, updated_at)
SELECT 'bench-m-' || i, $1, 'bench-u-' || i, 'chat', 'active', now(), now() FROM generate_series(0, %d) AS s(i)`, conns-1), org.ID); err != nil {
		b.Fatal(err)
	}
	ids := make([]string, conns)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	next := make(chan int)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := benchConnection(ctx, st, sb, keys, org.ID, i, &ids[i]); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}
		}()
	}
	for i := range conns {
		next <- i
	}
	close(next)
	wg.Wait()
	if len(errs) > 0 {
		b.Fatalf("%d connections not made, first: %v", len(errs), errs[0])
	}
	b.Logf("%d connections with sandbox grants made in %s", conns, time.Since(t0).Round(time.Millisecond))

	// The process's wiring, as app.go builds it: one OAuth client, one Tokens with the
	// Redis lock and stash, the connection metrics, the queue for next refreshes.
	sf := oauth.Salesforce(sb.urls.Salesforce)
	sf.ClientID, sf.ClientSecret = sandbox.DefaultSalesforceClientID, sandbox.DefaultSalesforceClientSecret
	oc, err := oauth.New(oauth.Config{Providers: []oauth.Provider{sf}})
	if err != nil {
		b.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	metrics, err := worker.NewConnectionMetrics(reg, []string{"salesforce"})
	if err != nil {
		b.Fatal(err)
	}
	client := asynq.NewClient(opt)
	b.Cleanup(func() { _ = client.Close() })
	// The tokens' client autopipelined, as tether wires it (app.go's coalescedTokens);
	// TETHER_BENCH_REFRESH_PLAIN=1 keeps the plain client, to measure what it saves.
	trdb, err := redislock.Coalesced(rdb)
	if err != nil {
		b.Fatal(err)
	}
	if os.Getenv("TETHER_BENCH_REFRESH_PLAIN") != "" {
		trdb = rdb
	}
	stash := redisstash.New(trdb, "tether:stash:") // read by the lock, as tether wires it
	tokens, err := connections.NewTokens(connections.TokensParams{Store: st, Keys: keys,
		Refresher: oauth.ConnectionRefresher{Client: oc, Providers: map[connections.Kind]string{connections.KindSalesforce: "salesforce"}},
		Locker:    redislock.NewWithStash(trdb, "tether:lock:", stash), Stash: stash,
		Metrics: metrics, Scheduler: jobs.ConnectionQueue{Client: asynq.NewClientFromRedisClient(trdb)}})
	if err != nil {
		b.Fatal(err)
	}
	up, err := connections.NewUpkeep(connections.UpkeepParams{Tokens: tokens})
	if err != nil {
		b.Fatal(err)
	}

	noop := 0.0
	if secs := envInt("TETHER_BENCH_NOOP_SECONDS", 10); secs > 0 {
		noop = noopCeiling(b, opt, concurrency, time.Duration(secs)*time.Second)
		b.ReportMetric(noop, "noop-tasks/s")
	}

	// Enough forced refresh tasks, round-robin over the connections, that the queue never
	// runs dry at 2,400 refreshes a second (a third above the goal), queued before the
	// worker starts so the window measures the worker alone.
	tasks := int((window + warmup + 5*time.Second).Seconds() * 2400)
	t0 = time.Now()
	base := time.Now()
	next = make(chan int)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				task, err := jobs.NewForcedConnectionTask(connections.OpRefresh, org.ID, ids[i%conns], base.Add(time.Duration(i)))
				if err == nil {
					_, err = client.EnqueueContext(ctx, task)
				}
				if err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}
		}()
	}
	for i := range tasks {
		next <- i
	}
	close(next)
	wg.Wait()
	if len(errs) > 0 {
		b.Fatalf("%d tasks not queued, first: %v", len(errs), errs[0])
	}
	b.Logf("%d refresh tasks queued in %s", tasks, time.Since(t0).Round(time.Millisecond))
	before, _ := vmHWM("self")

	wreg := prometheus.NewRegistry()
	// Asynq on the tokens' autopipeliner, as runWorker wires it; TETHER_BENCH_ASYNQ_PLAIN=1
	// gives Asynq a client of its own (as does TETHER_BENCH_REFRESH_PLAIN=1).
	// The worker's default of one Asynq server per 25 slots; TETHER_BENCH_FETCHERS=1 runs
	// one, as before that default, to measure what the others add.
	// The connections queue alone; TETHER_BENCH_QUEUES=default runs tether worker's four
	// weighted queues, where each fetch may first find the other three empty.
	wp := worker.Params{Redis: opt, Logger: zerolog.Nop(), Registerer: wreg, Concurrency: concurrency,
		Fetchers: envInt("TETHER_BENCH_FETCHERS", 0), Queues: map[string]int{jobs.QueueConnections: 1}}
	queues := wp.Queues
	switch q := os.Getenv("TETHER_BENCH_QUEUES"); q {
	case "":
	case "default":
		wp.Queues, queues = nil, worker.DefaultQueues()
	default:
		b.Fatalf("TETHER_BENCH_QUEUES=%q: unset (the connections queue alone) or default (the worker's four)", q)
	}
	if trdb != rdb && os.Getenv("TETHER_BENCH_ASYNQ_PLAIN") == "" {
		wp.RedisClient = trdb
	}
	w, err := worker.New(wp)
	if err != nil {
		b.Fatal(err)
	}
	if err := worker.Register(w, complete(b, worker.Services{Connections: up})); err != nil {
		b.Fatal(err)
	}
	tokenCalls := func() int64 {
		var c sandbox.Counters
		sb.admin(b, http.MethodGet, "/counters", nil, &c)
		return c.Endpoint(sandbox.Salesforce, "token").Calls
	}
	refreshed := func() float64 {
		return gathered(b, wreg, "tether_tasks_processed_total", "type", jobs.TypeConnectionRefresh, "outcome", "ok")
	}
	cStart := tokenCalls()
	b.ResetTimer()
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- w.Run(runCtx) }()
	time.Sleep(warmup)
	// Provider refreshes that failed, by the connection metrics: must stay 0.
	failures := func() float64 {
		return counted(b, reg, "tether_connection_refreshes_total", func(l map[string]string) bool {
			return l["provider"] == "salesforce" && l["outcome"] != "ok"
		})
	}
	pids := pgBackends(b, st)
	stopProfile := func() {}
	if path := os.Getenv("TETHER_BENCH_REFRESH_CPUPROFILE"); path != "" {
		stopProfile = cpuProfile(b, path)
		defer stopProfile()
	}
	r0, c0, f0 := refreshed(), tokenCalls(), failures()
	self0, child0 := cpuTime(b, "self"), cpuTime(b, strconv.Itoa(sb.cmd.Process.Pid))
	m0 := machineCPU(b)
	pg0, redis0, cmds0, rows0 := pgCPU(b, pids), redisCPU(b, rdb), redisCalls(b, rdb), connectionRows(b, st)
	// The tasks in flight, sampled through the window, and the tasks' mean duration: at
	// concurrency 100 and 50 ms, 1,800 a second needs about 90 in flight and at most
	// 55 ms a task.
	d0, n0 := taskDuration(b, wreg)
	p0, pn0 := histogram(b, reg, "tether_connection_refresh_duration_seconds")
	w0 := time.Now()
	var inFlight, samples float64
	for time.Since(w0) < window {
		time.Sleep(min(100*time.Millisecond, window-time.Since(w0)))
		inFlight += gauge(b, wreg, "tether_tasks_in_flight")
		samples++
	}
	d1, n1 := taskDuration(b, wreg)
	p1, pn1 := histogram(b, reg, "tether_connection_refresh_duration_seconds")
	r1, c1, f1 := refreshed(), tokenCalls(), failures()
	self1, child1 := cpuTime(b, "self"), cpuTime(b, strconv.Itoa(sb.cmd.Process.Pid))
	m1 := machineCPU(b)
	pg1, redis1, cmds1, rows1 := pgCPU(b, pids), redisCPU(b, rdb), redisCalls(b, rdb), connectionRows(b, st)
	took := time.Since(w0)
	stopProfile()
	cancel()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	peak, _ := vmHWM("self")
	// Over the whole run, once the worker has stopped: no refresh is in flight, so calls
	// and tasks pair exactly (the window's figure can be off by up to one per task running).
	wholeRun := float64(tokenCalls()-cStart) / refreshed()
	okRefreshes := r1 - r0
	if f1 > f0 {
		var by []string
		for _, c := range []connections.FailureClass{connections.FailTransient, connections.FailRateLimited, connections.FailUnknown,
			connections.FailNeedsReconnect, connections.FailNeedsAdmin, connections.FailMisconfigured} {
			if n := gathered(b, reg, "tether_connection_refreshes_total", "provider", "salesforce", "outcome", string(c)); n > 0 {
				by = append(by, fmt.Sprintf("%s %.0f", c, n))
			}
		}
		b.Logf("%.0f provider refreshes failed during the window (whole run: %v); the rate counts successes only", f1-f0, by)
	}
	b.ReportMetric(f1-f0, "failed-refreshes")
	q, err := asynq.NewInspector(opt).GetQueueInfo(jobs.QueueConnections)
	if err != nil {
		b.Fatal(err)
	}
	if q.Pending == 0 {
		b.Logf("the queue ran dry before the window ended: the rate below is a lower bound")
	}
	rate := okRefreshes / took.Seconds()
	perRefresh := float64(c1-c0) / okRefreshes
	b.ReportMetric(rate, "refreshes/s")
	b.ReportMetric(inFlight/samples, "in-flight")
	b.ReportMetric((d1-d0)*1000/float64(n1-n0), "task-ms")
	// The provider's call as the worker timed it (the connection metrics' histogram): what
	// of a task's time is the answer's wait and what is tether's own trips.
	b.ReportMetric((p1-p0)*1000/float64(pn1-pn0), "provider-call-ms")
	b.Logf("tasks in flight: %.1f on average of %d; a task took %.1f ms on average, its provider call %.1f ms (the provider answers after %s)",
		inFlight/samples, concurrency, (d1-d0)*1000/float64(n1-n0), (p1-p0)*1000/float64(pn1-pn0), latency)
	b.ReportMetric(perRefresh, "calls/refresh")
	b.ReportMetric(wholeRun, "calls/refresh-whole-run")
	b.ReportMetric(float64(peak)/1024, "peak-RSS-MB")
	// CPU per refresh of the two processes measured alone (PostgreSQL and Redis are shared
	// with other tests on the machine, so theirs is not separable here).
	workerCPU, sandboxCPU := (self1-self0).Seconds()*1000/okRefreshes, (child1-child0).Seconds()*1000/okRefreshes
	b.ReportMetric(workerCPU, "worker-cpu-ms/refresh")
	b.ReportMetric(sandboxCPU, "sandbox-cpu-ms/refresh")
	pgMS, redisMS := (pg1-pg0).Seconds()*1000/okRefreshes, (redis1-redis0).Seconds()*1000/okRefreshes
	b.ReportMetric(pgMS, "postgres-cpu-ms/refresh")
	b.ReportMetric(redisMS, "redis-cpu-ms/refresh")
	b.Logf("CPU per refresh: this process (the worker) %.2f ms, the sandbox process %.2f ms, the store's %d PostgreSQL backends %.2f ms, the Redis server %.2f ms (with any other client's); total %.2f ms",
		workerCPU, sandboxCPU, len(pids), pgMS, redisMS, workerCPU+sandboxCPU+pgMS+redisMS)
	// The whole machine's CPU in the window: a run whose cores are nearly all busy is
	// bound by the machine's speed, one with idle cores by the waits between trips.
	busy := (m1.busy - m0.busy).Seconds() / took.Seconds()
	b.ReportMetric(busy, "machine-busy-cores")
	b.Logf("the machine: %.2f of its %d CPUs busy in the window (%.0f %%), %.1f %% of their time stolen by the hypervisor",
		busy, runtime.NumCPU(), 100*busy/float64(runtime.NumCPU()), 100*(m1.steal-m0.steal).Seconds()/max((m1.all-m0.all).Seconds(), 1e-9))
	var calls []string
	total := 0.0
	for _, name := range slices.Sorted(maps.Keys(cmds1)) {
		if n := float64(cmds1[name]-cmds0[name]) / okRefreshes; n >= 0.005 {
			calls = append(calls, fmt.Sprintf("%s %.2f", name, n))
			total += n
		}
	}
	b.ReportMetric(total, "redis-commands/refresh")
	b.Logf("Redis commands per refresh (the whole server's): %.2f: %s", total, strings.Join(calls, ", "))
	b.Logf("PostgreSQL per refresh on the connections table: %.2f index scans, %.2f sequential scans, %.2f rows updated",
		float64(rows1.idx-rows0.idx)/okRefreshes, float64(rows1.seq-rows0.seq)/okRefreshes, float64(rows1.upd-rows0.upd)/okRefreshes)
	if noop > 0 {
		b.ReportMetric(rate/noop, "refresh/noop")
		b.Logf("ceiling: bare Asynq no-op tasks at concurrency %d on the same Redis, in this run: %.0f tasks/s; refreshes are %.2f of it", concurrency, noop, rate/noop)
	}
	b.Logf("%.0f refresh tasks in %s at concurrency %d with %s provider latency: %.0f refreshes/s, %.3f provider calls per refresh (%.4f over the whole run); peak RSS %.1f MB (%.1f MB before the worker started); GOGC %s; queues %v",
		okRefreshes, took.Round(time.Millisecond), concurrency, latency, rate, perRefresh, wholeRun, float64(peak)/1024, float64(before)/1024, gc,
		queues)
}

// benchConnection issues the sandbox grant of member i and stores its connection, tokens
// sealed with the row id.
func benchConnection(ctx context.Context, st *store.Store, sb *sandboxProc, keys *vault.Keyring, orgID string, i int, id *string) error {
	body, err := json.Marshal(sandbox.GrantRequest{Provider: sandbox.Salesforce, Subject: fmt.Sprintf("rep%06d@acme.example.com", i)})
	if err != nil {
		return err
	}
	resp, err := http.Post(sb.urls.Admin+"/grants", "application/json", bytes.NewReader(body))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("grant %d: %s", i, resp.Status)
	}
	var g sandbox.Tokens
	if err := json.NewDecoder(resp.Body).Decode(&g); err != nil {
		return err
	}
	c := connections.Connection{ID: store.NewID(), MembershipID: fmt.Sprintf("bench-m-%d", i), Kind: connections.KindSalesforce,
		State: connections.StateHealthy, InstanceURL: sb.urls.Salesforce, LoginURL: sb.urls.Salesforce,
		ProviderAccountID: g.UserID, ProviderOrgID: g.OrgID, Scopes: g.Scopes,
		NextRefreshAt: time.Now().Add(time.Hour), LastRefreshedAt: time.Now()}
	if c.AccessTokenEnc, err = keys.SealToken(vault.NewToken(g.AccessToken), c.ID); err != nil {
		return err
	}
	if c.RefreshTokenEnc, err = keys.SealToken(vault.NewToken(g.RefreshToken), c.ID); err != nil {
		return err
	}
	if _, err := st.CreateConnection(ctx, orgID, c); err != nil {
		return err
	}
	*id = c.ID
	return nil
}

// cpuTime is the user plus system CPU time of /proc/<proc> ("self" or a pid).
func cpuTime(b *testing.B, proc string) time.Duration {
	b.Helper()
	data, err := os.ReadFile("/proc/" + proc + "/stat")
	if err != nil {
		b.Fatal(err)
	}
	// Fields after the command name (which may hold spaces) start after the last ')'.
	fields := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+1:]))
	if len(fields) < 13 {
		b.Fatalf("/proc/%s/stat: %q", proc, data)
	}
	utime, err1 := strconv.ParseInt(fields[11], 10, 64)
	stime, err2 := strconv.ParseInt(fields[12], 10, 64)
	if err1 != nil || err2 != nil {
		b.Fatalf("/proc/%s/stat: %q", proc, data)
	}
	return time.Duration(utime+stime) * time.Second / 100 // USER_HZ is 100 on Linux
}

// machineTimes are the whole machine's CPU times from /proc/stat's first line, summed
// over its CPUs: all of them, the busy ones (not idle or waiting for I/O), and steal.
type machineTimes struct{ all, busy, steal time.Duration }

func machineCPU(b *testing.B) machineTimes {
	b.Helper()
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		b.Fatal(err)
	}
	line, _, _ := strings.Cut(string(data), "\n")
	fields := strings.Fields(line)
	if len(fields) < 9 || fields[0] != "cpu" {
		b.Fatalf("/proc/stat: %q", line)
	}
	var m machineTimes
	// user nice system idle iowait irq softirq steal (guest time is inside user).
	for i, f := range fields[1:9] {
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			b.Fatalf("/proc/stat: %q", line)
		}
		d := time.Duration(n) * time.Second / 100 // USER_HZ
		m.all += d
		switch i {
		case 3, 4: // idle, iowait
		case 7:
			m.steal += d
		default:
			m.busy += d
		}
	}
	return m
}

// noopCeiling runs tasks that do nothing through a bare Asynq server at concurrency on
// opt's Redis, with the refresh tasks' options (TaskID, retention, retries, timeout) on a
// queue of their own, and returns the tasks completed per second in window after a 2 s
// warm-up: what Asynq's dequeue and acknowledgement alone allow on this machine now.
func noopCeiling(b *testing.B, opt asynq.RedisClientOpt, concurrency int, window time.Duration) float64 {
	b.Helper()
	const queue, warmup = "bench-noop", 2 * time.Second
	client := asynq.NewClient(opt)
	defer client.Close()
	n := int((window + warmup + 2*time.Second).Seconds() * 8000)
	next := make(chan int)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	payload := []byte(`{"org_id":"org-1","connection_id":"conn-1","force":true}`)
	for range 8 {
		wg.Go(func() {
			for i := range next {
				_, err := client.Enqueue(asynq.NewTask("bench:noop", payload), asynq.Queue(queue),
					asynq.TaskID("bench:noop:"+strconv.Itoa(i)), asynq.Retention(jobs.ConnectionTaskRetention),
					asynq.MaxRetry(3), asynq.Timeout(2*time.Minute))
				if err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	if len(errs) > 0 {
		b.Fatalf("%d no-op tasks not queued, first: %v", len(errs), errs[0])
	}
	var done atomic.Int64
	srv := asynq.NewServer(opt, asynq.Config{Concurrency: concurrency, Queues: map[string]int{queue: 1}, LogLevel: asynq.WarnLevel})
	mux := asynq.NewServeMux()
	mux.HandleFunc("bench:noop", func(context.Context, *asynq.Task) error { done.Add(1); return nil })
	if err := srv.Start(mux); err != nil {
		b.Fatal(err)
	}
	time.Sleep(warmup)
	d0, t0 := done.Load(), time.Now()
	time.Sleep(window)
	d1, took := done.Load(), time.Since(t0)
	srv.Shutdown()
	if d1 >= int64(n) {
		b.Logf("the no-op queue ran dry: the ceiling below is a lower bound")
	}
	return float64(d1-d0) / took.Seconds()
}

// pgBackends returns the process ids of the PostgreSQL backends behind st's pool (it holds
// every connection the pool will give at once, so each answers with its own pid).
func pgBackends(b *testing.B, st *store.Store) []int {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var pids []int
	var held []*sql.Conn
	defer func() {
		for _, c := range held {
			_ = c.Close()
		}
	}()
	for {
		c, err := st.DB().Conn(ctx)
		if err != nil {
			break // the pool is exhausted (its size is storetest's pool_max_conns)
		}
		held = append(held, c)
		var pid int
		if err := c.QueryRowContext(ctx, `SELECT pg_backend_pid()`).Scan(&pid); err != nil {
			break
		}
		pids = append(pids, pid)
	}
	return pids
}

// pgCPU is the CPU time of the PostgreSQL backends pids (0 for one not on this machine).
func pgCPU(b *testing.B, pids []int) time.Duration {
	b.Helper()
	var sum time.Duration
	for _, pid := range pids {
		if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); err == nil {
			sum += cpuTime(b, strconv.Itoa(pid))
		}
	}
	return sum
}

// redisInfo returns the fields of INFO section.
func redisInfo(b *testing.B, rdb *redis.Client, section string) map[string]string {
	b.Helper()
	out, err := rdb.Info(context.Background(), section).Result()
	if err != nil {
		b.Fatal(err)
	}
	m := map[string]string{}
	for _, l := range strings.Split(out, "\r\n") {
		if k, v, ok := strings.Cut(l, ":"); ok {
			m[k] = v
		}
	}
	return m
}

// redisCPU is the Redis server's CPU time, user and system (INFO cpu).
func redisCPU(b *testing.B, rdb *redis.Client) time.Duration {
	b.Helper()
	m := redisInfo(b, rdb, "cpu")
	u, err1 := strconv.ParseFloat(m["used_cpu_user"], 64)
	s, err2 := strconv.ParseFloat(m["used_cpu_sys"], 64)
	if err1 != nil || err2 != nil {
		b.Fatalf("INFO cpu: %v", m)
	}
	return time.Duration((u + s) * float64(time.Second))
}

// redisCalls is the number of calls of each command the Redis server ran (INFO
// commandstats).
func redisCalls(b *testing.B, rdb *redis.Client) map[string]int64 {
	b.Helper()
	calls := map[string]int64{}
	for k, v := range redisInfo(b, rdb, "commandstats") {
		name, ok := strings.CutPrefix(k, "cmdstat_")
		if !ok {
			continue
		}
		for _, f := range strings.Split(v, ",") {
			if n, ok := strings.CutPrefix(f, "calls="); ok {
				calls[name], _ = strconv.ParseInt(n, 10, 64)
			}
		}
	}
	return calls
}

// tableStats are a table's scan and update counters.
type tableStats struct{ idx, seq, upd int64 }

// connectionRows reads the connections table's statistics in st's own schema (the
// statistics are flushed about once a second, so short windows are approximate).
func connectionRows(b *testing.B, st *store.Store) tableStats {
	b.Helper()
	var s tableStats
	if err := st.DB().QueryRowContext(context.Background(), `SELECT coalesce(idx_scan, 0), seq_scan, n_tup_upd
FROM pg_stat_user_tables WHERE schemaname = current_schema() AND relname = 'connections'`).Scan(&s.idx, &s.seq, &s.upd); err != nil {
		b.Fatal(err)
	}
	return s
}

// cpuProfile starts a CPU profile written to path; the returned func stops it.
func cpuProfile(b *testing.B, path string) func() {
	b.Helper()
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		b.Fatal(err)
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			pprof.StopCPUProfile()
			if err := f.Close(); err != nil {
				b.Error(err)
			}
		})
	}
}
