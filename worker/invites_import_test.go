package worker_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"tether/connectors/salesforce"
	"tether/connectors/sandbox"
	"tether/connectors/sandbox/sandboxtest"
	"tether/connectors/sandbox/sfdc"
	"tether/jobs"
	"tether/sync/directory"
	"tether/sync/invites"
	"tether/sync/onboarding"
	"tether/sync/store"
	"tether/sync/store/storetest"
	"tether/worker"
	"tether/worker/redistest"
)

// importWorld is a sandbox Salesforce org with n active users in the Sales User profile,
// a store with one tether org, real Redis (DB 4, the invite import's), and the import
// service wired as in cmd/tether.
type importWorld struct {
	sb        *sandbox.Sandbox
	sfOrg     string
	st        *store.Store
	org       directory.Org
	svc       *invites.Service
	redis     asynq.RedisClientOpt
	client    *asynq.Client
	inspector *asynq.Inspector
	dirs      invites.Directories
	// sbURL is the sandbox's base URL (its admin API is sbURL/admin); empty when the
	// caller owns the sandbox.
	sbURL string
	tb    testing.TB
}

func newImportWorld(tb testing.TB, st *store.Store, n, batch int) *importWorld {
	tb.Helper()
	sf := sandboxtest.NewSalesforceOrg(tb, importOrgSpec(n))
	w := wireImportWorld(tb, st, sf.InstanceURL, sf.Grant.AccessToken, batch)
	w.sb, w.sfOrg, w.sbURL = sf.Sandbox, sf.OrgID, sf.URL
	return w
}

// importOrgSpec is the Salesforce org of the import tests and benchmarks: the generated
// org's profiles and integration user (first), then n active Sales Users with distinct
// emails, so an import of the Sales User profile invites exactly n people.
func importOrgSpec(n int) sfdc.OrgSpec {
	spec := sfdc.GenerateOrg(11, 0)
	for i := range n {
		spec.Users = append(spec.Users, sfdc.UserSpec{
			Username: fmt.Sprintf("rep%06d@acme.example.com", i), Email: fmt.Sprintf("Rep%06d@Acme.com", i),
			FirstName: "Rep", LastName: fmt.Sprint(i), Profile: sfdc.ProfileSalesUser,
		})
	}
	return spec
}

// wireImportWorld builds the tether side of an importWorld against a Salesforce at
// instanceURL whose team token is token: the store's org, Redis and the import service.
// sb and sfOrg stay empty; the caller owns the sandbox.
func wireImportWorld(tb testing.TB, st *store.Store, instanceURL, token string, batch int) *importWorld {
	tb.Helper()
	w := &importWorld{st: st, tb: tb}
	dirs, err := salesforce.NewInviteDirectories(salesforce.InviteDirectoriesParams{
		Auth: func(context.Context, string) (salesforce.TeamAuth, error) {
			return salesforce.TeamAuth{InstanceURL: instanceURL,
				Token: func(context.Context) (string, error) { return token, nil }}, nil
		},
		BatchSize: batch,
		Usage:     st,
	})
	if err != nil {
		tb.Fatal(err)
	}
	if w.org, err = st.CreateOrg(context.Background(), directory.Org{Name: "Acme"}); err != nil {
		tb.Fatal(err)
	}
	w.redis, _ = redistest.Client(tb, 4)
	w.client = asynq.NewClient(w.redis)
	w.inspector = asynq.NewInspector(w.redis)
	tb.Cleanup(func() { _ = w.client.Close(); _ = w.inspector.Close() })
	w.dirs = dirs
	w.svc, err = invites.New(invites.Config{
		Store: store.Invites{Store: st}, Directories: dirs, Sender: worker.InviteSendQueue{Client: w.client},
	})
	if err != nil {
		tb.Fatal(err)
	}
	return w
}

// sendLog records the invites:send tasks the worker handled.
type sendLog struct {
	mu   sync.Mutex
	seen map[string][]int // invite id -> attempts handled
}

func (l *sendLog) Send(_ context.Context, _, inviteID string, attempt int) (onboarding.Outcome, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.seen == nil {
		l.seen = map[string][]int{}
	}
	l.seen[inviteID] = append(l.seen[inviteID], attempt)
	return onboarding.Sent, nil
}

// Fail fails the test: these sends never give up.
func (l *sendLog) Fail(_ context.Context, _, inviteID, reason string) error {
	panic("send of invite " + inviteID + " gave up: " + reason)
}

// Settle settles nothing: these sends never leave an attempt behind.
func (l *sendLog) Settle(context.Context, string, string, int) (bool, error)   { return false, nil }
func (l *sendLog) Retrying(context.Context, string, string, int, string) error { return nil }

func (l *sendLog) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.seen)
}

type noPrune struct{}

func (noPrune) Prune(context.Context, time.Duration) (int64, error) { return 0, nil }

// newWorker returns a worker running the import handlers and, with sends, a recording
// invites:send handler.
func (w *importWorld) newWorker(tb testing.TB, shutdown time.Duration, sends worker.InviteSender) *worker.Worker {
	tb.Helper()
	wk, err := worker.New(worker.Params{
		Redis: w.redis, Logger: zerolog.Nop(), Registerer: prometheus.NewRegistry(),
		Concurrency: 2, ShutdownTimeout: shutdown,
		TaskCheckInterval: 20 * time.Millisecond, DelayedTaskCheckInterval: 100 * time.Millisecond,
	})
	if err != nil {
		tb.Fatal(err)
	}
	if err := worker.Register(wk, complete(tb, worker.Services{Events: noPrune{}, EventRetention: time.Hour, Imports: w.svc, Invites: sends})); err != nil {
		tb.Fatal(err)
	}
	return wk
}

// enqueue creates a Salesforce import of the Sales User profile and queues its task.
func (w *importWorld) enqueue(tb testing.TB) directory.Import {
	tb.Helper()
	imp, err := w.svc.Create(context.Background(), invites.Request{
		OrgID: w.org.ID, Profiles: []string{sfdc.ProfileSalesUser}, Role: directory.RoleChat,
	})
	if err != nil {
		tb.Fatal(err)
	}
	t, err := jobs.NewImportTask(w.org.ID, imp.ID, imp.CreatedAt)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := w.client.Enqueue(t); err != nil {
		tb.Fatal(err)
	}
	return imp
}

// The worker is shut down while a page is in flight (a sandbox latency fault holds every
// query for 400 ms); the task goes back to the queue and a second worker finishes it from
// the checkpoint: no duplicate invite and exactly one send task per invite.
func TestImportSurvivesWorkerKilledMidImport(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		// Pages of 200: SQLite's parser is quadratic in numbered parameters, and a
		// 1,000-invite INSERT takes seconds under -race.
		const n, batch = 1000, 200
		w := newImportWorld(t, st, n, batch)
		w.sb.Faults().MustAdd(sandbox.Fault{Provider: sandbox.Salesforce, Endpoint: "query",
			Kind: sandbox.FaultLatency, Latency: sandbox.Fixed(400 * time.Millisecond)})

		sends := &sendLog{}
		first := w.newWorker(t, 50*time.Millisecond, sends)
		stopFirst := start(t, first)
		imp := w.enqueue(t)
		taskID := jobs.TaskIDInvitesImport(jobs.TypeInvitesImport, w.org.ID, imp.ID)

		// Wait for the first page to commit, then kill the worker while the second is
		// being fetched.
		deadline := time.Now().Add(20 * time.Second)
		for {
			cur, err := st.GetImport(context.Background(), w.org.ID, imp.ID)
			if err != nil {
				t.Fatal(err)
			}
			if cur.Progress.Done >= batch {
				break
			}
			if time.Now().After(deadline) {
				info, ierr := w.inspector.GetTaskInfo(jobs.QueueDefault, taskID)
				t.Fatalf("first page never committed: %s %+v; task %+v %v", cur.Status, cur.Progress, info, ierr)
			}
			time.Sleep(10 * time.Millisecond)
		}
		stopFirst()
		mid, _ := st.GetImport(context.Background(), w.org.ID, imp.ID)
		if mid.Status == directory.ImportDone {
			t.Fatalf("the import finished before the worker was killed; the test proves nothing")
		}

		start(t, w.newWorker(t, 5*time.Second, sends))
		info := waitTask(t, w.inspector, jobs.QueueDefault, taskID, 30*time.Second)
		var sum worker.ImportSummary
		if err := json.Unmarshal(info.Result, &sum); err != nil {
			t.Fatalf("task result %q: %v", info.Result, err)
		}
		if sum.Status != directory.ImportDone || sum.Counts.Invited != n || sum.Counts.Found != n || sum.Counts.AlreadyInvited != 0 {
			t.Errorf("summary %+v", sum)
		}
		var invitesN, distinct int
		err := st.DB().QueryRow(`SELECT count(*), count(DISTINCT email) FROM invites WHERE org_id = $1`, w.org.ID).Scan(&invitesN, &distinct)
		if err != nil || invitesN != n || distinct != n {
			t.Errorf("%d invites (%d distinct emails), want %d: %v", invitesN, distinct, n, err)
		}
		// Every invite's first attempt is handled; no other attempt is ever queued.
		rows, err := st.DB().Query(`SELECT id FROM invites WHERE org_id = $1`, w.org.ID)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var want []string
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				t.Fatal(err)
			}
			want = append(want, id)
		}
		deadline = time.Now().Add(20 * time.Second)
		for sends.count() < n && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		sends.mu.Lock()
		defer sends.mu.Unlock()
		for _, id := range want {
			if a := sends.seen[id]; len(a) == 0 || slices.ContainsFunc(a, func(x int) bool { return x != 1 }) {
				t.Fatalf("invite %s: attempts handled %v, want attempt 1", id, a)
			}
		}
		if len(sends.seen) != n {
			t.Errorf("%d invites sent, want %d", len(sends.seen), n)
		}
	})
}

// waitTask polls until the task completes (fails the test if it is archived).
func waitTask(t *testing.T, in *asynq.Inspector, queue, id string, within time.Duration) *asynq.TaskInfo {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		info, err := in.GetTaskInfo(queue, id)
		if err == nil {
			switch info.State {
			case asynq.TaskStateCompleted:
				return info
			case asynq.TaskStateArchived:
				t.Fatalf("task %s archived: %s", id, info.LastErr)
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("task %s not completed within %s", id, within)
	return nil
}
