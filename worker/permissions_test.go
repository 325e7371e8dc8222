package worker_test

import (
	"context"
	"errors"
	"strings"
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
	"tether/sync/events"
	"tether/sync/permissions"
	"tether/sync/store"
	"tether/sync/store/storetest"
	"tether/worker"
	"tether/worker/redistest"
)

type auditSessions struct{ s permissions.Session }

func (a auditSessions) Team(context.Context, string) (permissions.Session, error) { return a.s, nil }

type auditToken string

func (t auditToken) Token(context.Context) (string, error) { return string(t), nil }
func (t auditToken) Refresh(context.Context) (string, error) {
	return "", permissions.ErrNeedsReconnect
}

type noMail struct{}

func (noMail) SendMail(context.Context, permissions.Mail) error { return nil }

// auditWorld is a sandbox Salesforce org (sandboxtest), a tether org in st, the audit
// service reading the org's team user over HTTP, and real Redis (DB 12).
type auditWorld struct {
	sf        *sandboxtest.SalesforceOrg
	st        *store.Store
	org       directory.Org
	svc       *permissions.Service
	redis     asynq.RedisClientOpt
	client    *asynq.Client
	inspector *asynq.Inspector
	requests  permissions.Requests
}

func newAuditWorld(t *testing.T, st *store.Store) *auditWorld {
	t.Helper()
	a := &auditWorld{st: st, sf: sandboxtest.NewSalesforceOrg(t, sfdc.GenerateOrg(5, 1))}
	var err error
	if a.org, err = st.CreateOrg(t.Context(), directory.Org{Name: "Acme"}); err != nil {
		t.Fatal(err)
	}
	a.svc, err = permissions.NewService(permissions.Params{Store: st, Prober: &salesforce.AuditProber{}, Mailer: noMail{},
		Sessions: auditSessions{permissions.Session{OrgID: a.org.ID, InstanceURL: a.sf.InstanceURL, UserID: a.sf.UserID,
			Credentials: auditToken(a.sf.Grant.AccessToken)}}})
	if err != nil {
		t.Fatal(err)
	}
	a.redis, _ = redistest.Client(t, 12)
	a.client, a.inspector = asynq.NewClient(a.redis), asynq.NewInspector(a.redis)
	t.Cleanup(func() { _ = a.client.Close(); _ = a.inspector.Close() })
	a.requests = permissions.Requests{Store: st, Tasks: worker.AuditTasks{Client: a.client}}
	return a
}

// startWorker runs a worker handling audits (the rest of the catalogue fails the test).
func (a *auditWorld) startWorker(t *testing.T) {
	t.Helper()
	w, err := worker.New(worker.Params{Redis: a.redis, Logger: zerolog.Nop(), Registerer: prometheus.NewRegistry(),
		Concurrency: 2, TaskCheckInterval: 50 * time.Millisecond, DelayedTaskCheckInterval: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := worker.Register(w, complete(t, worker.Services{Events: events.NewService(a.st, nil), EventRetention: time.Hour,
		Permissions: worker.PermissionAudits{Auditor: a.svc, Daily: a.requests}})); err != nil {
		t.Fatal(err)
	}
	start(t, w)
}

func (a *auditWorld) reconciler(t *testing.T) *worker.Reconciler {
	u := unused{t}
	return &worker.Reconciler{Store: a.st, Queue: a.client, Inspector: a.inspector, Imports: unusedImports{u}, Invites: u,
		Audits: a.svc, Logger: zerolog.Nop(), PageSize: 2}
}

// waitRun waits until the org's audit run id reaches a final status and returns it.
func (a *auditWorld) waitRun(t *testing.T, id string) permissions.AuditRun {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		run, err := a.st.GetAuditRun(t.Context(), a.org.ID, id)
		if err != nil {
			t.Fatal(err)
		}
		if run.Status.Finished() {
			return run
		}
		if time.Now().After(deadline) {
			info, ierr := a.inspector.GetTaskInfo(jobs.QueueDefault, jobs.TaskIDAuditPermissions(a.org.ID, id))
			t.Fatalf("audit %s still %s; task %+v %v", id, run.Status, info, ierr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestAuditPermissionsTask runs an audit asked for through permissions.Requests on a real
// worker against the sandbox: the run ends done with the stored report, the task's result
// is the report id, a second request while one is pending joins it, and a spent daily API
// allocation snoozes the task without spending a retry while the run stays running.
func TestAuditPermissionsTask(t *testing.T) {
	a := newAuditWorld(t, storetest.SQLite(t))
	a.startWorker(t)

	run, created, err := a.requests.Request(t.Context(), a.org.ID, "token:ci")
	if err != nil || !created || run.Status != permissions.AuditQueued || run.RequestedBy != "token:ci" {
		t.Fatalf("request: %+v created %v: %v", run, created, err)
	}
	done := a.waitRun(t, run.ID)
	latest, err := a.st.LatestPermissionReport(t.Context(), a.org.ID)
	if err != nil {
		t.Fatal(err)
	}
	if done.Status != permissions.AuditDone || done.ReportID != latest.ID || len(latest.Checks) != len(permissions.CheckNames()) {
		t.Fatalf("run %+v, latest report %s with %d checks", done, latest.ID, len(latest.Checks))
	}
	info, err := a.inspector.GetTaskInfo(jobs.QueueDefault, jobs.TaskIDAuditPermissions(a.org.ID, run.ID))
	if err != nil || string(info.Result) != latest.ID {
		t.Fatalf("task %+v %v, want its result %s", info, err, latest.ID)
	}

	// Spent allocation: the next audit is snoozed about an hour, no retry spent.
	if err := a.sf.Sandbox.Salesforce().ExhaustDailyLimit(a.sf.OrgID); err != nil {
		t.Fatal(err)
	}
	second, created, err := a.requests.Request(t.Context(), a.org.ID, "")
	if err != nil || !created || second.ID == run.ID {
		t.Fatalf("request after the first finished: %+v created %v: %v, want a new run", second, created, err)
	}
	b := &inviteBundle{inspector: a.inspector}
	snoozed := b.waitState(t, jobs.TaskIDAuditPermissions(a.org.ID, second.ID), asynq.TaskStateRetry)
	if snoozed.Retried != 0 || time.Until(snoozed.NextProcessAt) < 30*time.Minute {
		t.Fatalf("request limit: retried %d, next at %s; want a snooze of about an hour without a spent retry", snoozed.Retried, snoozed.NextProcessAt)
	}
	// A request while it waits joins it instead of queuing another.
	joined, created, err := a.requests.Request(t.Context(), a.org.ID, "")
	if err != nil || created || joined.ID != second.ID || joined.Status != permissions.AuditRunning {
		t.Fatalf("request while one waits: %+v created %v: %v, want run %s running", joined, created, err, second.ID)
	}
}

// An audit asked for while Redis is down is stored queued and its producer says so; an
// audit whose task Redis lost (flushed) is the same case. The reconciler gives each its
// task back once, and the worker finishes it. Both backends, real Redis.
func TestReconcilerRequeuesAuditWithoutTask(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		a := newAuditWorld(t, st)
		down := asynq.NewClient(asynq.RedisClientOpt{Addr: "127.0.0.1:1", DialTimeout: 200 * time.Millisecond})
		t.Cleanup(func() { _ = down.Close() })
		run, _, err := permissions.Requests{Store: st, Tasks: worker.AuditTasks{Client: down}}.Request(t.Context(), a.org.ID, "")
		var nq *permissions.NotQueuedError
		if !errors.As(err, &nq) || run.ID == "" || run.Status != permissions.AuditQueued {
			t.Fatalf("request with Redis down: %+v %v, want the queued run and a *NotQueuedError", run, err)
		}
		for _, want := range []string{"permission audit " + run.ID + " of org " + a.org.ID + " is stored but its task could not be queued",
			"the reconciler queues it", "TETHER_RECONCILE_SCHEDULE"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q lacks %q", err, want)
			}
		}

		rec := a.reconciler(t)
		res, err := rec.Reconcile(t.Context())
		if err != nil || res.Audits != 1 {
			t.Fatalf("reconcile: %+v %v, want 1 audit requeued", res, err)
		}
		if res, err = rec.Reconcile(t.Context()); err != nil || res.Audits != 0 || res.AuditsLive != 1 {
			t.Fatalf("second reconcile: %+v %v, want the audit live and nothing requeued", res, err)
		}
		a.startWorker(t)
		if got := a.waitRun(t, run.ID); got.Status != permissions.AuditDone || got.ReportID == "" {
			t.Fatalf("audit after reconcile: %+v, want done with a report", got)
		}

		// Queued, then lost with Redis before a worker took it: the run is still queued.
		// The worker above would take it at once, so the daily sweep's run is created
		// straight in the store, as a producer that died before its enqueue leaves it.
		lost, _, err := st.CreateAuditRun(t.Context(), a.org.ID, permissions.AuditRun{Day: "20260101"})
		if err != nil {
			t.Fatal(err)
		}
		if res, err = rec.Reconcile(t.Context()); err != nil || res.Audits != 1 {
			t.Fatalf("reconcile the lost run: %+v %v, want 1 audit requeued", res, err)
		}
		if got := a.waitRun(t, lost.ID); got.Status != permissions.AuditDone {
			t.Fatalf("lost audit after reconcile: %+v, want done", got)
		}
		if res, err = rec.Reconcile(t.Context()); err != nil || res.Audits+res.AuditsLive+res.MarkedFailed != 0 {
			t.Fatalf("reconcile with every audit done: %+v %v, want nothing", res, err)
		}
	})
}

// An audit whose task runs out of retries (Salesforce answers 500 every time) is marked
// failed with a sentence saying so (not the client's chain), and the reconciler leaves it
// alone. Both backends.
func TestAuditWhoseRetriesRunOutIsFailedWithItsReason(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		a := newAuditWorld(t, st)
		a.sf.Sandbox.Faults().MustAdd(sandbox.Fault{Provider: sandbox.Salesforce, Kind: sandbox.FaultStatus, Status: 500})
		a.startWorker(t)
		run, _, err := st.CreateAuditRun(t.Context(), a.org.ID, permissions.AuditRun{RequestedBy: "ci"})
		if err != nil {
			t.Fatal(err)
		}
		task, err := jobs.NewAuditPermissionsTask(a.org.ID, run.ID, "", run.CreatedAt)
		if err != nil {
			t.Fatal(err)
		}
		// One attempt in all, so the last one comes without Asynq's minutes of backoff.
		if _, err := a.client.Enqueue(task, asynq.MaxRetry(0)); err != nil {
			t.Fatal(err)
		}
		got := a.waitRun(t, run.ID)
		want := "the permission audit gave up after 1 attempt: Salesforce answered HTTP 500, a failure on its side; " +
			"later, run `tether permissions check --org " + a.org.ID + "` again"
		if got.Status != permissions.AuditFailed || got.Error != want {
			t.Fatalf("run after its task gave up: %+v, want failed with the 500", got)
		}
		if res, err := a.reconciler(t).Reconcile(t.Context()); err != nil || res.Audits+res.MarkedFailed != 0 {
			t.Fatalf("reconcile: %+v %v, want the failed audit left alone", res, err)
		}
	})
}
