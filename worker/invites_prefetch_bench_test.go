package worker_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"tether/connectors/sandbox"
	"tether/jobs"
	"tether/sync/directory"
	"tether/sync/invites"
	"tether/sync/store"
	"tether/sync/store/storetest"
	"tether/worker"
)

// switchRunner runs imports with the sequential or the prefetching service, as told, so
// both run in one worker and one benchmark run, interleaved round by round.
type switchRunner struct {
	seq, pre   *invites.Service
	sequential atomic.Bool
}

func (r *switchRunner) Run(ctx context.Context, orgID, importID string) (directory.Import, error) {
	if r.sequential.Load() {
		return r.seq.Run(ctx, orgID, importID)
	}
	return r.pre.Run(ctx, orgID, importID)
}

func (r *switchRunner) Fail(ctx context.Context, orgID, importID, reason string) (directory.Import, error) {
	return r.pre.Fail(ctx, orgID, importID, reason)
}

// pageTimer adds up the time the import spends handling its pages (looking up the page's
// emails, writing the page, queueing its sends): what prefetching overlaps with the next
// Salesforce query. Measured in the same run as the latency, so it reflects the machine's
// load at that moment.
type pageTimer struct{ nanos atomic.Int64 }

func (p *pageTimer) since(t time.Time) { p.nanos.Add(int64(time.Since(t))) }

type timedStore struct {
	invites.Store
	t *pageTimer
}

func (s timedStore) LookupEmails(ctx context.Context, orgID string, emails []string, at time.Time) (map[string]directory.EmailSituation, error) {
	defer s.t.since(time.Now())
	return s.Store.LookupEmails(ctx, orgID, emails, at)
}

func (s timedStore) WritePage(ctx context.Context, orgID string, at time.Time,
	plan func(seats directory.Seats) (invites.Page, error),
	finish func(res invites.PageResult) (directory.Checkpoint, error)) error {
	defer s.t.since(time.Now())
	return s.Store.WritePage(ctx, orgID, at, plan, finish)
}

type timedSender struct {
	invites.Sender
	t *pageTimer
}

func (s timedSender) QueueSends(ctx context.Context, orgID string, ids []string) error {
	defer s.t.since(time.Now())
	return s.Sender.QueueSends(ctx, orgID, ids)
}

// setLatency sets (d > 0) or clears the sandbox's latency on Salesforce queries through
// its admin API, as an operator would.
func setLatency(b *testing.B, w *importWorld, d time.Duration) {
	req, _ := http.NewRequest("DELETE", w.sbURL+"/admin/faults", nil)
	if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != 200 {
		b.Fatalf("clear faults: %v", err)
	}
	if d == 0 {
		return
	}
	body, _ := json.Marshal(sandbox.Fault{Provider: sandbox.Salesforce, Endpoint: "query",
		Kind: sandbox.FaultLatency, Latency: sandbox.Fixed(d)})
	res, err := http.Post(w.sbURL+"/admin/faults", "application/json", bytes.NewReader(body))
	if err != nil || res.StatusCode != 200 {
		b.Fatalf("add latency fault: %v %v", res, err)
	}
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// BenchmarkImportPrefetch300ms imports 10,000 users (5 Salesforce pages of 2,000, plus
// the profile lookup) with the sandbox answering every query after 300 ms, alternately
// with prefetching and without it (the behaviour before), and at 0 ms for one page's
// write time. Run with -benchtime 1x: each b.N is 5 rounds of the three imports.
//
// Reported medians: s_0ms (prefetch, no latency), s_300ms_seq, s_300ms_prefetch,
// bound_s = queries × 300 ms + one page's write (the mean time a page spends in the
// importer's hands in that same run: email lookup, write, queueing its sends), and
// prefetch_over_bound, the figure the issue asks to be ≤ 1.15.
func BenchmarkImportPrefetch300ms(b *testing.B) {
	const n, rounds, latency = 10000, 5, 300 * time.Millisecond
	st := storetest.Postgres(b)
	w := newImportWorld(b, st, n, 0)
	timer := &pageTimer{}
	cfg := invites.Config{Store: timedStore{store.Invites{Store: st}, timer}, Directories: w.dirs,
		Sender: timedSender{worker.InviteSendQueue{Client: w.client}, timer}}
	pre, err := invites.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	cfg.Sequential = true
	seq, err := invites.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	runner := &switchRunner{seq: seq, pre: pre}
	wk, err := worker.New(worker.Params{Redis: w.redis, Logger: zerolog.Nop(), Registerer: prometheus.NewRegistry(),
		Concurrency: 2, ShutdownTimeout: 5 * time.Second, TaskCheckInterval: 20 * time.Millisecond})
	if err != nil {
		b.Fatal(err)
	}
	sends := &sendCount{}
	if err := worker.Register(wk, complete(b, worker.Services{Events: noPrune{}, EventRetention: time.Hour, Imports: runner, Invites: sends})); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- wk.Run(ctx) }()
	defer func() { cancel(); <-done }()

	imports := int64(0)
	one := func(sequential bool, d time.Duration) (secs float64, queries int64, pageWrite float64) {
		// The previous import's 10,000 no-op sends drain first, so this import does not
		// wait in the queue behind them.
		for deadline := time.Now().Add(2 * time.Minute); sends.n.Load() < imports*n; time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				b.Fatalf("%d of %d sends handled after 2 minutes", sends.n.Load(), imports*n)
			}
		}
		imports++
		setLatency(b, w, d)
		timer.nanos.Store(0)
		runner.sequential.Store(sequential)
		org, err := st.CreateOrg(context.Background(), directory.Org{Name: "bench"})
		if err != nil {
			b.Fatal(err)
		}
		w.org = org
		q0 := w.sb.Counters().Endpoint(sandbox.Salesforce, "query").Calls
		t0 := time.Now()
		imp := w.enqueue(b)
		info := waitTaskB(b, w, jobs.TaskIDInvitesImport(jobs.TypeInvitesImport, org.ID, imp.ID))
		secs = time.Since(t0).Seconds()
		var sum worker.ImportSummary
		if err := json.Unmarshal(info.Result, &sum); err != nil || sum.Counts.Invited != n {
			b.Fatalf("summary %s: want %d invited", info.Result, n)
		}
		q := w.sb.Counters().Endpoint(sandbox.Salesforce, "query").Calls - q0
		pages := float64(n / 2000)
		return secs, q, time.Duration(timer.nanos.Load()).Seconds() / pages
	}
	var zero, seqs, pres, bounds, ratios, writes []float64
	for range b.N {
		for range rounds {
			t0, _, _ := one(false, 0)
			ts, _, _ := one(true, latency)
			tp, q, write := one(false, latency)
			// The bound: every query's latency plus one page's write (measured in
			// this same prefetching run).
			bound := float64(q)*latency.Seconds() + write
			zero, seqs, pres, bounds = append(zero, t0), append(seqs, ts), append(pres, tp), append(bounds, bound)
			ratios, writes = append(ratios, tp/bound), append(writes, write)
			b.Logf("round: 0ms %.2fs, 300ms sequential %.2fs, 300ms prefetch %.2fs, one page's write %.3fs, bound %.2fs (%d queries)",
				t0, ts, tp, write, bound, q)
		}
	}
	b.ReportMetric(median(writes), "s_page_write")
	b.ReportMetric(median(zero), "s_0ms")
	b.ReportMetric(median(seqs), "s_300ms_seq")
	b.ReportMetric(median(pres), "s_300ms_prefetch")
	b.ReportMetric(median(bounds), "bound_s")
	b.ReportMetric(median(ratios), "prefetch_over_bound")
	b.ReportMetric(median(seqs)/median(pres), "seq_over_prefetch")
}
