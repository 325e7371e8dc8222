package worker_test

import (
	"context"
	"net"
	"net/url"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"tether/connectors/sandbox"
	"tether/jobs"
	"tether/sync/directory"
	"tether/sync/onboarding"
	"tether/sync/store/storetest"
)

// rtProxy sits between the store and PostgreSQL and counts round trips: each time the
// client speaks after the server did (or first), one request/response turn begins.
type rtProxy struct {
	ln    net.Listener
	turns atomic.Int64
}

func newRTProxy(tb testing.TB, target string) *rtProxy {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	p := &rtProxy{ln: ln}
	tb.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.serve(c, target)
		}
	}()
	return p
}

func (p *rtProxy) serve(client net.Conn, target string) {
	server, err := net.Dial("tcp", target)
	if err != nil {
		client.Close()
		return
	}
	var mu sync.Mutex
	clientTurn := false // who spoke last
	pipe := func(dst, src net.Conn, fromClient bool) {
		buf := make([]byte, 64<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				mu.Lock()
				if fromClient && !clientTurn {
					p.turns.Add(1)
				}
				clientTurn = fromClient
				mu.Unlock()
				if _, werr := dst.Write(buf[:n]); werr != nil {
					break
				}
			}
			if err != nil {
				break
			}
		}
		dst.Close()
		src.Close()
	}
	go pipe(server, client, true)
	pipe(client, server, false)
}

// proxiedPostgres points storetest at PostgreSQL through a round-trip counting proxy.
func proxiedPostgres(b *testing.B) *rtProxy {
	u, err := url.Parse(storetest.DatabaseURL())
	if err != nil {
		b.Fatal(err)
	}
	p := newRTProxy(b, u.Host)
	u.Host = p.ln.Addr().String()
	b.Setenv("TETHER_TEST_DATABASE_URL", u.String())
	return p
}

// benchImport measures one import of n users per iteration, from enqueue to the task's
// summary: real Redis (DB 4) and PostgreSQL, the sandbox over HTTP at 0 ms latency.
func benchImport(b *testing.B, n int) {
	proxy := proxiedPostgres(b)
	st := storetest.Postgres(b)
	w := newImportWorld(b, st, n, 0)
	// Every iteration imports into a fresh org, so each one invites all n people.
	// A sender that keeps nothing, so the memory figures are the import's own.
	wk := w.newWorker(b, 5*time.Second, &sendCount{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- wk.Run(ctx) }()
	defer func() { cancel(); <-done }()
	var sfCalls, rts int64
	// The importer's own memory, apart from the in-process sandbox holding the whole
	// org: the peak live heap during the imports minus the live heap before them. It
	// stays flat when the importer holds one page at a time, whatever n is.
	runtime.GC()
	base := liveHeap()
	peak := newHeapPeak(false)
	defer peak.stop()
	// The same after a GC every 100 ms: what the import keeps alive, not what it has
	// left for the collector. Flat memory means this does not grow with n.
	live := newHeapPeak(true)
	defer live.stop()
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		org, err := st.CreateOrg(context.Background(), directory.Org{Name: "bench"})
		if err != nil {
			b.Fatal(err)
		}
		w.org = org
		sf0, rt0 := w.sb.Counters().Endpoint(sandbox.Salesforce, "query").Calls, proxy.turns.Load()
		b.StartTimer()
		imp := w.enqueue(b)
		info := waitTaskB(b, w, jobs.TaskIDInvitesImport(jobs.TypeInvitesImport, org.ID, imp.ID))
		b.StopTimer()
		sfCalls += w.sb.Counters().Endpoint(sandbox.Salesforce, "query").Calls - sf0
		rts += proxy.turns.Load() - rt0
		if !strings.Contains(string(info.Result), `"invited":`+itoa(n)) {
			b.Fatalf("summary %s: want %d invited", info.Result, n)
		}
		b.StartTimer()
	}
	b.StopTimer()
	b.ReportMetric(float64(peak.stop()-base)/(1<<20), "import_heap_MB")
	b.ReportMetric(float64(live.stop()-base)/(1<<20), "import_live_MB")
	b.ReportMetric(float64(sfCalls)/float64(b.N), "sf_calls")
	b.ReportMetric(float64(rts)/float64(b.N), "db_roundtrips")
}

func itoa(n int) string { return strconv.Itoa(n) }

// sendCount handles invites:send by counting it.
type sendCount struct {
	n atomic.Int64
	// hold, while set, makes Send wait until it is closed: a benchmark holds the sends
	// back while it times an import, as if they ran on other workers.
	hold atomic.Pointer[chan struct{}]
}

func (c *sendCount) Send(ctx context.Context, _, _ string, _ int) (onboarding.Outcome, error) {
	if h := c.hold.Load(); h != nil {
		select {
		case <-*h:
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
	c.n.Add(1)
	return onboarding.Sent, nil
}

func (c *sendCount) Fail(context.Context, string, string, string) error          { return nil }
func (c *sendCount) Settle(context.Context, string, string, int) (bool, error)   { return false, nil }
func (c *sendCount) Retrying(context.Context, string, string, int, string) error { return nil }

func liveHeap() uint64 {
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(sample)
	return sample[0].Value.Uint64()
}

// heapPeak samples the heap every few milliseconds until stopped; with collect, it runs
// a GC before each sample (every 100 ms) so only what is still reachable counts.
type heapPeak struct {
	done chan struct{}
	max  atomic.Uint64
	once sync.Once
	wg   sync.WaitGroup
}

func newHeapPeak(collect bool) *heapPeak {
	h := &heapPeak{done: make(chan struct{})}
	every := 5 * time.Millisecond
	if collect {
		every = 100 * time.Millisecond
	}
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			if collect {
				runtime.GC()
			}
			if v := liveHeap(); v > h.max.Load() {
				h.max.Store(v)
			}
			select {
			case <-h.done:
				return
			case <-t.C:
			}
		}
	}()
	return h
}

// stop ends sampling and returns the peak seen.
func (h *heapPeak) stop() uint64 {
	h.once.Do(func() { close(h.done); h.wg.Wait() })
	return h.max.Load()
}

func waitTaskB(b *testing.B, w *importWorld, id string) *asynqTaskInfo {
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
		info, err := w.inspector.GetTaskInfo(jobs.QueueDefault, id)
		if err != nil {
			continue
		}
		if info.State == asynqCompleted {
			return info
		}
		if info.State == asynqArchived {
			b.Fatalf("import archived: %s", info.LastErr)
		}
	}
	b.Fatal("import did not finish in 2 minutes")
	return nil
}

// BenchmarkImport10k: the figures for 10,000 users (goal ≤ 3 s, ≤ 7 Salesforce
// calls, ≤ 40 database round trips).
func BenchmarkImport10k(b *testing.B) { benchImport(b, 10000) }

// BenchmarkImport100k reports the process's peak RSS (VmHWM) after importing 100,000
// users; the sandbox holding the org runs in the same process (BenchmarkImportRSS100k
// runs it in its own).
func BenchmarkImport100k(b *testing.B) {
	benchImport(b, 100000)
	runtime.GC()
	if kb, ok := vmHWM("self"); ok {
		b.ReportMetric(float64(kb)/1024, "peak_rss_MB")
	}
}

// vmHWM returns the peak resident set (VmHWM, kB) of a process: "self" or a pid. False
// where /proc is missing (not Linux).
func vmHWM(proc string) (int64, bool) {
	data, err := os.ReadFile("/proc/" + proc + "/status")
	if err != nil {
		return 0, false
	}
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb, err == nil
		}
	}
	return 0, false
}

type asynqTaskInfo = asynq.TaskInfo

const (
	asynqCompleted = asynq.TaskStateCompleted
	asynqArchived  = asynq.TaskStateArchived
)
