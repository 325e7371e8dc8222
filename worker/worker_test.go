package worker_test

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"tether/internal/syncbuf"
	"tether/worker"
	"tether/worker/redislock"
	"tether/worker/redistest"
)

// testBundle is what setup gives each test: a flushed Redis DB, a client, an inspector, a
// captured log and a metrics registry.
type testBundle struct {
	redis     asynq.RedisClientOpt
	client    *asynq.Client
	inspector *asynq.Inspector
	logs      *syncbuf.Buffer
	reg       *prometheus.Registry
}

func setup(t *testing.T) *testBundle {
	t.Helper()
	opt, _ := redistest.Client(t, 1)
	b := &testBundle{
		redis:     opt,
		client:    asynq.NewClient(opt),
		inspector: asynq.NewInspector(opt),
		logs:      &syncbuf.Buffer{},
		reg:       prometheus.NewRegistry(),
	}
	t.Cleanup(func() { _ = b.client.Close(); _ = b.inspector.Close() })
	return b
}

// newWorker builds a worker with fast polling; register handlers, then start it.
func (b *testBundle) newWorker(t *testing.T, shutdown time.Duration) *worker.Worker {
	t.Helper()
	b.reg = prometheus.NewRegistry() // one per worker: a registry takes each collector once
	w, err := worker.New(worker.Params{
		Redis:                    b.redis,
		Logger:                   zerolog.New(b.logs),
		Registerer:               b.reg,
		Concurrency:              4,
		ShutdownTimeout:          shutdown,
		TaskCheckInterval:        50 * time.Millisecond,
		DelayedTaskCheckInterval: 200 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// start runs w until the returned stop is called (stop waits for Run to return) or the
// test ends.
func start(t *testing.T, w *worker.Worker) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// waitTask polls the task until cond holds or 10s pass.
func (b *testBundle) waitTask(t *testing.T, queue, id string, what string, cond func(*asynq.TaskInfo) bool) *asynq.TaskInfo {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	var last *asynq.TaskInfo
	for time.Now().Before(deadline) {
		info, err := b.inspector.GetTaskInfo(queue, id)
		if err == nil {
			last = info
			if cond(info) {
				return info
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	if last != nil {
		t.Fatalf("task %s never %s; last state %s, retried %d, last error %q", id, what, last.State, last.Retried, last.LastErr)
	}
	t.Fatalf("task %s never %s (not found)", id, what)
	return nil
}

func archived(i *asynq.TaskInfo) bool  { return i.State == asynq.TaskStateArchived }
func completed(i *asynq.TaskInfo) bool { return i.State == asynq.TaskStateCompleted }
func retrying(i *asynq.TaskInfo) bool  { return i.State == asynq.TaskStateRetry }

// orgTask is a payload of the shape later task families use.
type orgTask struct {
	OrgID string `json:"org_id"`
	Note  string `json:"note"`
}

func (p orgTask) Validate() error {
	if p.OrgID == "" {
		return errors.New("org_id is required")
	}
	return nil
}

func TestMalformedPayloadArchivedWithReasonAfterZeroRetries(t *testing.T) {
	b := setup(t)
	w := b.newWorker(t, time.Second)
	var calls atomic.Int32
	worker.Handle(w, "test:org", func(ctx context.Context, p orgTask) error { calls.Add(1); return nil })
	start(t, w)

	tests := []struct {
		id, payload string
		logged      string // the decode error, in the log and not in LastErr
	}{
		{"bad-json", `{"org_id":`, "invalid payload: unexpected EOF"},
		{"fails-validate", `{"note":"x"}`, "invalid payload: org_id is required"},
	}
	for _, tt := range tests {
		_, err := b.client.Enqueue(asynq.NewTask("test:org", []byte(tt.payload)), asynq.TaskID(tt.id), asynq.MaxRetry(5))
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, tt := range tests {
		info := b.waitTask(t, "default", tt.id, "archived", archived)
		if info.Retried != 0 {
			t.Errorf("%s: retried %d times, want 0", tt.id, info.Retried)
		}
		want := "the test:org task gave up after 1 attempt: its payload is not valid for its type; nothing to do unless that is unexpected; " +
			"the worker's log has the error (task_id " + tt.id + "), naming the field"
		if info.LastErr != want {
			t.Errorf("%s: LastErr %q\nwant %q", tt.id, info.LastErr, want)
		}
		if !strings.Contains(b.logs.String(), tt.logged) {
			t.Errorf("%s: the log lacks %q", tt.id, tt.logged)
		}
	}
	if calls.Load() != 0 {
		t.Errorf("handler called %d times for bad payloads", calls.Load())
	}
	if got := counterValue(t, b.reg, "test:org", "archived"); got != 2 {
		t.Errorf("tether_tasks_processed_total{test:org,archived} = %v, want 2", got)
	}
}

func TestUnknownTypeArchived(t *testing.T) {
	b := setup(t)
	w := b.newWorker(t, time.Second)
	worker.Handle(w, "test:org", func(ctx context.Context, p orgTask) error { return nil })
	start(t, w)
	// A prefix of a registered type must not reach its handler either.
	for _, typ := range []string{"nobody:knows", "test:org-extended"} {
		if _, err := b.client.Enqueue(asynq.NewTask(typ, []byte(`{"org_id":"o1"}`)), asynq.TaskID(typ)); err != nil {
			t.Fatal(err)
		}
		info := b.waitTask(t, "default", typ, "archived", archived)
		if info.Retried != 0 || !strings.HasPrefix(info.LastErr, "the "+typ+" task gave up after 1 attempt: this worker has no handler for its type") {
			t.Errorf("%s: retried %d, LastErr %q", typ, info.Retried, info.LastErr)
		}
	}
}

func TestPanicBecomesErrorWithStackLogged(t *testing.T) {
	b := setup(t)
	w := b.newWorker(t, time.Second)
	worker.Handle(w, "test:org", func(ctx context.Context, p orgTask) error {
		var m map[string]int
		m["boom"]++ // nil map write: a real panic
		return nil
	})
	start(t, w)
	if _, err := b.client.Enqueue(asynq.NewTask("test:org", []byte(`{"org_id":"org-7"}`)), asynq.TaskID("p1"), asynq.MaxRetry(3)); err != nil {
		t.Fatal(err)
	}
	info := b.waitTask(t, "default", "p1", "retrying", retrying)
	want := "the test:org task failed on attempt 1 of 4: tether's handler crashed, which is a bug in tether; " +
		"report it with the worker's log lines of task_id p1; tether retries it"
	if info.Retried != 1 || info.LastErr != want {
		t.Errorf("after panic: retried %d, LastErr %q; want a retry with %q", info.Retried, info.LastErr, want)
	}
	logs := b.logs.String()
	for _, want := range []string{`"message":"handler panicked"`, "handler panic: assignment to entry in nil map", `"stack":"goroutine`, "worker_test.go", `"org_id":"org-7"`, `"task_id":"p1"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %s:\n%s", want, logs)
		}
	}
}

// rateLimited is how a sync package would say "try again later" without importing worker.
type rateLimited struct{ after time.Duration }

func (e rateLimited) Error() string             { return "provider rate limit" }
func (e rateLimited) RetryAfter() time.Duration { return e.after }

type gone struct{}

func (gone) Error() string   { return "org deleted" }
func (gone) Permanent() bool { return true }

type moot struct{}

func (moot) Error() string  { return "connection no longer exists" }
func (moot) Obsolete() bool { return true }

func TestDomainErrorsBecomeAsynqBehaviour(t *testing.T) {
	b := setup(t)
	w := b.newWorker(t, time.Second)
	worker.Handle(w, "test:org", func(ctx context.Context, p orgTask) error {
		switch p.Note {
		case "rate":
			return &worker.RetryAfterError{Err: rateLimited{}, Delay: time.Hour}
		case "rate-own-type":
			return rateLimited{after: 2 * time.Hour}
		case "permanent":
			return worker.Permanent(errors.New("no such org"))
		case "permanent-own-type":
			return gone{}
		case "obsolete":
			return moot{}
		case "transient":
			return errors.New("connection reset")
		}
		return nil
	})
	start(t, w)
	for _, note := range []string{"rate", "rate-own-type", "permanent", "permanent-own-type", "obsolete", "transient"} {
		_, err := b.client.Enqueue(asynq.NewTask("test:org", []byte(`{"org_id":"o1","note":"`+note+`"}`)), asynq.TaskID(note), asynq.MaxRetry(5))
		if err != nil {
			t.Fatal(err)
		}
	}
	enqueued := time.Now()

	// Rate limited: waiting for the requested delay, no retry spent.
	for note, delay := range map[string]time.Duration{"rate": time.Hour, "rate-own-type": 2 * time.Hour} {
		info := b.waitTask(t, "default", note, "retrying", retrying)
		if info.Retried != 0 {
			t.Errorf("%s: retried = %d, want 0 (a rate limit spends no retry)", note, info.Retried)
		}
		if wait := info.NextProcessAt.Sub(enqueued); wait < delay-time.Minute || wait > delay+time.Minute {
			t.Errorf("%s: next attempt in %s, want about %s", note, wait, delay)
		}
	}
	// Permanent: archived at once.
	for _, note := range []string{"permanent", "permanent-own-type"} {
		info := b.waitTask(t, "default", note, "archived", archived)
		if info.Retried != 0 {
			t.Errorf("%s: retried %d, want 0", note, info.Retried)
		}
	}
	// Transient: retried with backoff, one retry spent.
	info := b.waitTask(t, "default", "transient", "retrying", retrying)
	if info.Retried != 1 || info.NextProcessAt.Sub(enqueued) < 10*time.Second {
		t.Errorf("transient: retried %d, next in %s; want 1 retry with backoff", info.Retried, info.NextProcessAt.Sub(enqueued))
	}
	// Obsolete: removed, neither retried nor archived.
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := b.inspector.GetTaskInfo("default", "obsolete")
		if errors.Is(err, asynq.ErrTaskNotFound) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("obsolete task still present: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestLogLineCarriesIdsNotPayload(t *testing.T) {
	b := setup(t)
	w := b.newWorker(t, time.Second)
	worker.Handle(w, "test:org", func(ctx context.Context, p orgTask) error { return nil })
	start(t, w)
	_, err := b.client.Enqueue(asynq.NewTask("test:org", []byte(`{"org_id":"org-42","note":"do-not-log-me"}`)), asynq.TaskID("l1"), asynq.Retention(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	b.waitTask(t, "default", "l1", "completed", completed)
	logs := b.logs.String()
	var line string
	for _, l := range strings.Split(logs, "\n") {
		if strings.Contains(l, `"message":"task done"`) {
			line = l
		}
	}
	for _, want := range []string{`"task_id":"l1"`, `"task_type":"test:org"`, `"org_id":"org-42"`, `"outcome":"ok"`, `"duration_ms":`, `"queue":"default"`} {
		if !strings.Contains(line, want) {
			t.Errorf("task log line %q lacks %s", line, want)
		}
	}
	if strings.Contains(logs, "do-not-log-me") {
		t.Errorf("payload content logged:\n%s", logs)
	}
}

// counterValue reads tether_tasks_processed_total{type,outcome} from reg; 0 when absent.
func counterValue(t *testing.T, reg *prometheus.Registry, typ, outcome string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "tether_tasks_processed_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["type"] == typ && labels["outcome"] == outcome {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// A worker given a client (tether gives it the autopipeliner its refreshes use) runs
// Asynq on it alone: with no Params.Redis it has no other way to Redis. Tasks complete
// with their results, and Run's shutdown leaves the shared client open for its owner.
func TestWorkerRunsOnAGivenClient(t *testing.T) {
	opt, rdb := redistest.Client(t, 1)
	ap, err := redislock.Coalesced(rdb)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ap.Close() })
	client, inspector := asynq.NewClient(opt), asynq.NewInspector(opt)
	t.Cleanup(func() { _ = client.Close(); _ = inspector.Close() })
	w, err := worker.New(worker.Params{RedisClient: ap, Logger: zerolog.Nop(), Concurrency: 8,
		ShutdownTimeout: time.Second, TaskCheckInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	w.Handle("test:echo", asynq.HandlerFunc(func(ctx context.Context, task *asynq.Task) error {
		_, err := task.ResultWriter().Write(task.Payload())
		return err
	}))
	const n = 40
	for i := range n {
		if _, err := client.Enqueue(asynq.NewTask("test:echo", []byte(strconv.Itoa(i))),
			asynq.TaskID("echo-"+strconv.Itoa(i)), asynq.Retention(time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	stop := start(t, w)
	deadline := time.Now().Add(10 * time.Second)
	for i := 0; i < n; {
		info, err := inspector.GetTaskInfo("default", "echo-"+strconv.Itoa(i))
		switch {
		case err == nil && info.State == asynq.TaskStateCompleted:
			if string(info.Result) != strconv.Itoa(i) {
				t.Fatalf("task %d completed with result %q", i, info.Result)
			}
			i++
			continue
		case time.Now().After(deadline):
			t.Fatalf("task %d not completed on the given client after 10 s (%+v, %v)", i, info, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	stop()
	if err := ap.Ping(t.Context()).Err(); err != nil {
		t.Fatalf("the given client after the worker stopped: %v; want it open for its owner", err)
	}
}

func TestFetchersFor(t *testing.T) {
	if _, err := worker.New(worker.Params{Redis: asynq.RedisClientOpt{Addr: redistest.Addr()}, Fetchers: -1}); err == nil ||
		!strings.Contains(err.Error(), "Params.Fetchers is -1") {
		t.Errorf("New with Fetchers -1: %v; want an error naming Params.Fetchers (no server would run)", err)
	}
	for _, c := range []struct{ concurrency, want int }{{1, 1}, {10, 1}, {25, 1}, {26, 2}, {100, 4}, {1000, 40}} {
		if got := worker.FetchersFor(c.concurrency); got != c.want {
			t.Errorf("FetchersFor(%d) = %d, want %d", c.concurrency, got, c.want)
		}
	}
}

// Concurrency 7 over 3 fetchers: three Asynq servers of 3, 2 and 2 slots, all fetching
// (7 tasks run at once, more than any one server holds), never more than 7 in all, and one
// shutdown timeout for all of them, not one per server.
func TestWorkerSplitsConcurrencyAcrossFetchers(t *testing.T) {
	opt, _ := redistest.Client(t, 1)
	client, inspector := asynq.NewClient(opt), asynq.NewInspector(opt)
	t.Cleanup(func() { _ = client.Close(); _ = inspector.Close() })
	const shutdown = 2 * time.Second
	w, err := worker.New(worker.Params{Redis: opt, Logger: zerolog.Nop(), Concurrency: 7, Fetchers: 3,
		ShutdownTimeout: shutdown, TaskCheckInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	var running, peak atomic.Int32
	release := make(chan struct{})
	w.Handle("test:hold", asynq.HandlerFunc(func(ctx context.Context, task *asynq.Task) error {
		n := running.Add(1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		<-release // ignores ctx: a stuck handler, as the shutdown timeout is for
		running.Add(-1)
		return nil
	}))
	for i := range 12 {
		if _, err := client.Enqueue(asynq.NewTask("test:hold", nil), asynq.TaskID("hold-"+strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
	}
	stop := start(t, w)
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release)
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for running.Load() < 7 {
		if time.Now().After(deadline) {
			t.Fatalf("%d tasks running after 10 s, want 7: not every fetcher fetches", running.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // room for an eighth, were the slots not shared
	if p := peak.Load(); p != 7 {
		t.Fatalf("peak of %d tasks at once, want exactly Concurrency's 7", p)
	}
	servers, err := inspector.Servers()
	if err != nil {
		t.Fatal(err)
	}
	var slots []int
	for _, s := range servers {
		slots = append(slots, s.Concurrency)
	}
	slices.Sort(slots)
	if !slices.Equal(slots, []int{2, 2, 3}) {
		t.Fatalf("Asynq servers' concurrency %v, want [2 2 3]", slots)
	}
	t0 := time.Now()
	stop()
	// Three servers shut down one after another would take 3 × 2 s.
	if took := time.Since(t0); took > 2*shutdown {
		t.Fatalf("shutdown took %s with a %s timeout: the fetchers were not stopped together", took.Round(time.Millisecond), shutdown)
	}
}
