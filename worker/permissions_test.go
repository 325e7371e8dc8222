package worker_test

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"tether/connectors/salesforce"
	"tether/connectors/sandbox"
	"tether/connectors/sandbox/sfdc"
	"tether/jobs"
	"tether/sync/directory"
	"tether/sync/events"
	"tether/sync/permissions"
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

// TestAuditPermissionsTask runs salesforce:audit_permissions through a real worker on
// Redis DB 12 against the sandbox and SQLite: the report is stored and the task's result
// is its id; a spent daily API allocation snoozes the task instead of failing it.
func TestAuditPermissionsTask(t *testing.T) {
	opt, _ := redistest.Client(t, 12)
	b := &inviteBundle{} // reuse waitState
	st := storetest.SQLite(t)
	sb := sandbox.New(sandbox.Options{})
	srv := httptest.NewServer(sb)
	t.Cleanup(func() { sb.Close(); srv.Close() })
	if err := sb.LoadScenario(sandbox.Scenario{Salesforce: &sfdc.Scenario{Orgs: []sfdc.OrgSpec{sfdc.GenerateOrg(5, 1)}}}); err != nil {
		t.Fatal(err)
	}
	sfOrg := sb.Salesforce().OrgIDs()[0]
	sfUser := sb.Salesforce().Users(sfOrg)[0]
	tok, err := sb.IssueGrant(sandbox.Salesforce, sfUser, nil)
	if err != nil {
		t.Fatal(err)
	}
	org, err := st.CreateOrg(t.Context(), directory.Org{Name: "Acme"})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := permissions.NewService(permissions.Params{Store: st, Prober: &salesforce.AuditProber{}, Mailer: noMail{},
		Sessions: auditSessions{permissions.Session{OrgID: org.ID, InstanceURL: srv.URL + "/salesforce", UserID: sfUser, Credentials: auditToken(tok.AccessToken)}}})
	if err != nil {
		t.Fatal(err)
	}
	w, err := worker.New(worker.Params{Redis: opt, Logger: zerolog.Nop(), Registerer: prometheus.NewRegistry(),
		Concurrency: 2, TaskCheckInterval: 50 * time.Millisecond, DelayedTaskCheckInterval: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := worker.Register(w, complete(t, worker.Services{Events: events.NewService(st, nil), EventRetention: time.Hour,
		Permissions: worker.PermissionAudits{Auditor: svc}})); err != nil {
		t.Fatal(err)
	}
	start(t, w)
	b.client, b.inspector = asynq.NewClient(opt), asynq.NewInspector(opt)
	t.Cleanup(func() { _ = b.client.Close(); _ = b.inspector.Close() })

	task, err := jobs.NewAuditPermissionsTask(org.ID)
	if err != nil {
		t.Fatal(err)
	}
	info, err := b.client.Enqueue(task)
	if err != nil {
		t.Fatal(err)
	}
	done := b.waitState(t, info.ID, asynq.TaskStateCompleted)
	latest, err := st.LatestPermissionReport(t.Context(), org.ID)
	if err != nil {
		t.Fatal(err)
	}
	if string(done.Result) != latest.ID || len(latest.Checks) != len(permissions.CheckNames()) {
		t.Fatalf("task result %q, latest report %s with %d checks", done.Result, latest.ID, len(latest.Checks))
	}

	// A re-run right after completion is accepted (Unique released on success).
	if err := sb.Salesforce().ExhaustDailyLimit(sfOrg); err != nil {
		t.Fatal(err)
	}
	info, err = b.client.Enqueue(task)
	if err != nil {
		t.Fatalf("re-run after completion refused: %v", err)
	}
	snoozed := b.waitState(t, info.ID, asynq.TaskStateRetry)
	if snoozed.Retried != 0 || time.Until(snoozed.NextProcessAt) < 30*time.Minute {
		t.Fatalf("request limit: retried %d, next at %s; want a snooze of about an hour without a spent retry", snoozed.Retried, snoozed.NextProcessAt)
	}
}
