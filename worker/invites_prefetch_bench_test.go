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
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"tether/connectors/sandbox"
	"tether/jobs"
	"tether/sync/directory"
	"tether/sync/invites"
	"tether/sync/store"
	"tether/sync/store/storetest"
	"tether/worker"
)

// switchRunner runs imports with the service it is told (sequential, prefetching with
// one round trip per send, prefetching with a page's sends in one pipeline), so all run
// in one worker and one benchmark run, interleaved round by round.
type switchRunner struct {
	svcs map[string]*invites.Service
	mode atomic.Pointer[string]
}

func (r *switchRunner) Run(ctx context.Context, orgID, importID string) (directory.Import, error) {
	return r.svcs[*r.mode.Load()].Run(ctx, orgID, importID)
}

func (r *switchRunner) Fail(ctx context.Context, orgID, importID, reason string) (directory.Import, error) {
	return r.svcs[modePrefetch].Fail(ctx, orgID, importID, reason)
}

// pageTimer adds up the time the import spends handling its pages (looking up the page's
// emails, writing the page, queueing its sends): what prefetching overlaps with the next
// Salesforce query. Measured in the same run as the latency, so it reflects the machine's
// load at that moment.
//
// It also splits that time by step (lookup, the page's transaction, queueing its sends)
// and times each Salesforce answer as the importer sees it (fetch: from the query's start,
// or the hand-over of the previous page, to the decoded page's hand-over), which is the
// figure the bound takes as 300 ms.
type pageTimer struct {
	nanos                atomic.Int64
	lookup, write, queue atomic.Int64
	fetch                atomic.Int64
	fetches              atomic.Int64
}

func (p *pageTimer) since(t time.Time) { p.nanos.Add(int64(time.Since(t))) }

func (p *pageTimer) reset() {
	for _, a := range []*atomic.Int64{&p.nanos, &p.lookup, &p.write, &p.queue, &p.fetch, &p.fetches} {
		a.Store(0)
	}
}

func add(a *atomic.Int64, t time.Time) { a.Add(int64(time.Since(t))) }

// timedDirs times the Salesforce side: each query until its page is handed over.
type timedDirs struct {
	invites.Directories
	t *pageTimer
}

func (d timedDirs) Open(ctx context.Context, orgID string) (invites.Directory, error) {
	dir, err := d.Directories.Open(ctx, orgID)
	if err != nil {
		return nil, err
	}
	return timedDir{dir, d.t}, nil
}

type timedDir struct {
	invites.Directory
	t *pageTimer
}

func (d timedDir) ResolveProfiles(ctx context.Context, names []string) (map[string]string, error) {
	defer add(&d.t.fetch, time.Now())
	d.t.fetches.Add(1)
	return d.Directory.ResolveProfiles(ctx, names)
}

func (d timedDir) StreamUsers(ctx context.Context, q invites.UserQuery, fn func([]invites.SalesforceUser, int) error) error {
	start := time.Now()
	return d.Directory.StreamUsers(ctx, q, func(page []invites.SalesforceUser, total int) error {
		add(&d.t.fetch, start)
		d.t.fetches.Add(1)
		defer func() { start = time.Now() }()
		return fn(page, total)
	})
}

type timedStore struct {
	invites.Store
	t *pageTimer
}

func (s timedStore) LookupEmails(ctx context.Context, orgID string, emails []string, at time.Time) (map[string]directory.EmailSituation, error) {
	defer s.t.since(time.Now())
	defer add(&s.t.lookup, time.Now())
	return s.Store.LookupEmails(ctx, orgID, emails, at)
}

func (s timedStore) WritePage(ctx context.Context, orgID string, at time.Time,
	plan func(seats directory.Seats) (invites.Page, error),
	finish func(res invites.PageResult) (directory.Checkpoint, error)) error {
	defer s.t.since(time.Now())
	defer add(&s.t.write, time.Now())
	return s.Store.WritePage(ctx, orgID, at, plan, finish)
}

type timedSender struct {
	invites.Sender
	t *pageTimer
}

func (s timedSender) QueueSends(ctx context.Context, orgID string, ids []string) error {
	defer s.t.since(time.Now())
	defer add(&s.t.queue, time.Now())
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

// The benchmark's import modes.
const (
	modeSequential = "sequential"          // fetch, then write (before prefetching); batched sends
	modeRoundTrips = "prefetch-roundtrips" // prefetching, one Redis round trip per send (before batching)
	modePrefetch   = "prefetch"            // prefetching, a page's sends in one pipeline
)

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// BenchmarkImportPrefetch300ms imports 10,000 users (5 Salesforce pages of 2,000, plus
// the profile lookup) with the sandbox answering every query after 300 ms: sequentially
// (the behaviour before prefetching), prefetching with one Redis round trip per queued
// send (before batching) and prefetching with a page's sends in one pipeline (now); and
// at 0 ms (now). Run with -benchtime 1x: each b.N is 5 rounds of the four imports.
//
// Each import's run time is the import row's own (started_at to finished_at: from the
// task's start to the import finished). Its 10,000 invites:send tasks are queued during
// the import but handled only after it: in production sends run on other workers, and
// here they would take the importer's cores (one send handler waits, holding one of the
// worker's two slots, while the import runs in the other).
//
// Reported medians: s_0ms, s_300ms_seq, s_300ms_roundtrips, s_300ms_prefetch, the
// page's write (email lookup, page transaction, queueing its sends) of the round-trip
// and the batched runs, bound_s = queries × 300 ms + one page's write (of the batched
// run), and prefetch_over_bound, the figure the issue asks to be ≤ 1.15. Of the batched
// run also: s_query, a Salesforce answer as the importer gets it (the bound counts 300
// ms), and the page's write split into s_page_lookup, s_page_tx and s_page_queue.
func BenchmarkImportPrefetch300ms(b *testing.B) {
	const n, rounds, latency = 10000, 5, 300 * time.Millisecond
	st := storetest.Postgres(b)
	w := newImportWorld(b, st, n, 0)
	rdb := w.redis.MakeRedisClient().(redis.UniversalClient)
	defer rdb.Close()
	timer := &pageTimer{}
	runner := &switchRunner{svcs: map[string]*invites.Service{}}
	for _, mode := range []string{modeSequential, modeRoundTrips, modePrefetch} {
		q := worker.InviteSendQueue{Client: w.client, Redis: rdb}
		if mode == modeRoundTrips {
			q.Redis = nil
		}
		svc, err := invites.New(invites.Config{Store: timedStore{store.Invites{Store: st}, timer}, Directories: timedDirs{w.dirs, timer},
			Sender: timedSender{q, timer}, Sequential: mode == modeSequential})
		if err != nil {
			b.Fatal(err)
		}
		runner.svcs[mode] = svc
	}
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
	one := func(mode string, d time.Duration) (secs float64, queries int64, pageWrite float64) {
		// The previous import's 10,000 no-op sends drain first, so this import does not
		// wait in the queue behind them.
		for deadline := time.Now().Add(2 * time.Minute); sends.n.Load() < imports*n; time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				b.Fatalf("%d of %d sends handled after 2 minutes", sends.n.Load(), imports*n)
			}
		}
		imports++
		hold := make(chan struct{})
		sends.hold.Store(&hold)
		defer func() { sends.hold.Store(nil); close(hold) }()
		setLatency(b, w, d)
		timer.reset()
		runner.mode.Store(&mode)
		org, err := st.CreateOrg(context.Background(), directory.Org{Name: "bench"})
		if err != nil {
			b.Fatal(err)
		}
		w.org = org
		q0 := w.sb.Counters().Endpoint(sandbox.Salesforce, "query").Calls
		imp := w.enqueue(b)
		info := waitTaskB(b, w, jobs.TaskIDInvitesImport(jobs.TypeInvitesImport, org.ID, imp.ID))
		row, err := st.GetImport(context.Background(), org.ID, imp.ID)
		if err != nil {
			b.Fatal(err)
		}
		secs = row.FinishedAt.Sub(row.StartedAt).Seconds()
		var sum worker.ImportSummary
		if err := json.Unmarshal(info.Result, &sum); err != nil || sum.Counts.Invited != n {
			b.Fatalf("summary %s: want %d invited", info.Result, n)
		}
		q := w.sb.Counters().Endpoint(sandbox.Salesforce, "query").Calls - q0
		pages := float64(n / 2000)
		return secs, q, time.Duration(timer.nanos.Load()).Seconds() / pages
	}
	var zero, seqs, rts, pres, bounds, ratios, writes, rtWrites, fetches, lookups, txs, queues []float64
	for range b.N {
		for range rounds {
			t0, _, _ := one(modePrefetch, 0)
			ts, _, _ := one(modeSequential, latency)
			tr, _, rtWrite := one(modeRoundTrips, latency)
			tp, q, write := one(modePrefetch, latency)
			secs := func(a *atomic.Int64, per float64) float64 { return time.Duration(a.Load()).Seconds() / per }
			pages := float64(n / 2000)
			fetch := secs(&timer.fetch, float64(max(timer.fetches.Load(), 1)))
			fetches, lookups = append(fetches, fetch), append(lookups, secs(&timer.lookup, pages))
			txs, queues = append(txs, secs(&timer.write, pages)), append(queues, secs(&timer.queue, pages))
			// The bound: every query's latency plus one page's write (measured in
			// this same prefetching run).
			bound := float64(q)*latency.Seconds() + write
			zero, seqs, rts, pres, bounds = append(zero, t0), append(seqs, ts), append(rts, tr), append(pres, tp), append(bounds, bound)
			ratios, writes, rtWrites = append(ratios, tp/bound), append(writes, write), append(rtWrites, rtWrite)
			b.Logf("round: 0ms %.2fs, 300ms sequential %.2fs, prefetch+round trips %.2fs (page write %.3fs), prefetch+batch %.2fs (page write %.3fs), bound %.2fs (%d queries), ratio %.2f",
				t0, ts, tr, rtWrite, tp, write, bound, q, tp/bound)
			b.Logf("  prefetch+batch split: Salesforce answer as seen by the importer %.3fs per query; per page: lookup %.3fs, transaction %.3fs, queue sends %.3fs",
				fetch, lookups[len(lookups)-1], txs[len(txs)-1], queues[len(queues)-1])
		}
	}
	b.ReportMetric(median(fetches), "s_query")
	b.ReportMetric(median(lookups), "s_page_lookup")
	b.ReportMetric(median(txs), "s_page_tx")
	b.ReportMetric(median(queues), "s_page_queue")
	b.ReportMetric(median(rtWrites), "s_page_write_roundtrips")
	b.ReportMetric(median(writes), "s_page_write")
	b.ReportMetric(median(zero), "s_0ms")
	b.ReportMetric(median(seqs), "s_300ms_seq")
	b.ReportMetric(median(rts), "s_300ms_roundtrips")
	b.ReportMetric(median(pres), "s_300ms_prefetch")
	b.ReportMetric(median(bounds), "bound_s")
	b.ReportMetric(median(ratios), "prefetch_over_bound")
	b.ReportMetric(median(seqs)/median(pres), "seq_over_prefetch")
}
