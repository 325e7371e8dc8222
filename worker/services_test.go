package worker_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/rs/zerolog"

	"tether/connectors/email"
	"tether/internal/syncbuf"
	"tether/jobs"
	"tether/sync/connections"
	"tether/sync/directory"
	"tether/sync/members"
	"tether/sync/onboarding"
	"tether/sync/permissions"
	"tether/sync/reminders"
	"tether/worker"
)

// complete fills the services s leaves nil with ones that fail tb when called: Register
// requires every service, and a test of one task family must not reach another's.
func complete(tb testing.TB, s worker.Services) worker.Services {
	u := unused{tb}
	if s.Events == nil {
		s.Events = u
	}
	if s.EventRetention == 0 {
		s.EventRetention = time.Hour
	}
	if s.Invites == nil {
		s.Invites = u
	}
	if s.Imports == nil {
		s.Imports = unusedImports{u}
	}
	if s.Permissions.Auditor == nil {
		s.Permissions.Auditor = u
	}
	if s.Permissions.Orgs == nil {
		s.Permissions.Orgs = u
	}
	if s.Permissions.Daily == nil {
		s.Permissions.Daily = u
	}
	if s.InviteExpiry == nil {
		s.InviteExpiry = u
	}
	if s.Reconciler == nil {
		s.Reconciler = u
	}
	if s.Connections == nil {
		s.Connections = u
	}
	if s.Deactivator == nil {
		s.Deactivator = u
	}
	if s.Reminders == nil {
		s.Reminders = u
	}
	return s
}

func (u unused) RefreshThen(context.Context, string, string, bool, func(connections.Result, error)) (connections.Result, error) {
	u.called("Connections.RefreshThen")
	return connections.Result{}, nil
}

func (u unused) Verify(context.Context, string, string, bool) (connections.Result, error) {
	u.called("Connections.Verify")
	return connections.Result{}, nil
}

func (u unused) Sweep(context.Context, time.Time) (connections.SweepResult, error) {
	u.called("Connections.Sweep")
	return connections.SweepResult{}, nil
}

// unused implements every service by failing the test.
type unused struct{ tb testing.TB }

func (u unused) called(what string) { u.tb.Errorf("unexpected call of %s", what) }

func (u unused) Prune(context.Context, time.Duration) (int64, error) {
	u.called("Prune")
	return 0, nil
}
func (u unused) Send(context.Context, string, string, int) (onboarding.Outcome, error) {
	u.called("Send")
	return "", nil
}
func (u unused) Fail(context.Context, string, string, string) error { u.called("Fail"); return nil }
func (u unused) Settle(context.Context, string, string, int) (bool, error) {
	u.called("Settle")
	return false, nil
}
func (u unused) Retrying(context.Context, string, string, int, string) error {
	u.called("Retrying")
	return nil
}
func (u unused) RunAudit(context.Context, string, string) (permissions.Report, error) {
	u.called("RunAudit")
	return permissions.Report{}, nil
}
func (u unused) FailAudit(context.Context, string, string, string) error {
	u.called("FailAudit")
	return nil
}
func (u unused) Daily(context.Context, string, time.Time) (permissions.AuditRun, error) {
	u.called("Daily")
	return permissions.AuditRun{}, nil
}
func (u unused) ListOrgsWithTeamConnection(context.Context, string, int) ([]string, error) {
	u.called("ListOrgsWithTeamConnection")
	return nil, nil
}
func (u unused) EnqueueContext(context.Context, *asynq.Task, ...asynq.Option) (*asynq.TaskInfo, error) {
	u.called("EnqueueContext")
	return nil, nil
}
func (u unused) ExpireInvites(context.Context, time.Time) (int64, error) {
	u.called("ExpireInvites")
	return 0, nil
}
func (u unused) Reconcile(context.Context) (worker.ReconcileResult, error) {
	u.called("Reconcile")
	return worker.ReconcileResult{}, nil
}

func (u unused) Deactivate(context.Context, string, string, time.Time) (members.DeactivateResult, error) {
	u.called("Deactivate")
	return members.DeactivateResult{}, nil
}
func (u unused) Abandon(context.Context, string, string, string) error {
	u.called("Abandon")
	return nil
}

// unusedImports is unused as an ImportRunner (its Fail differs from the sender's).
type unusedImports struct{ unused }

func (u unusedImports) Run(context.Context, string, string) (directory.Import, error) {
	u.called("Run")
	return directory.Import{}, nil
}
func (u unusedImports) Fail(context.Context, string, string, string) (directory.Import, error) {
	u.called("Fail")
	return directory.Import{}, nil
}

// Every task type of the catalogue gets a handler: none can be archived as "no handler".
func TestRegisterHandlesEveryCatalogueType(t *testing.T) {
	b := setup(t)
	w := b.newWorker(t, time.Second)
	if err := worker.Register(w, complete(t, worker.Services{})); err != nil {
		t.Fatal(err)
	}
	have := w.Types()
	for _, typ := range jobs.Types() {
		if !slices.Contains(have, typ) {
			t.Errorf("catalogue type %s has no handler", typ)
		}
	}
	if len(have) != len(jobs.Types()) {
		t.Errorf("registered %v, catalogue %v", have, jobs.Types())
	}
}

// A missing service is named, with the task types it would leave unhandled.
func TestRegisterNamesMissingServices(t *testing.T) {
	b := setup(t)
	s := complete(t, worker.Services{})
	s.Invites = nil
	err := worker.Register(b.newWorker(t, time.Second), s)
	if err == nil || !strings.Contains(err.Error(), "Services.Invites is required (it runs invites:send)") {
		t.Fatalf("Register without Invites: %v", err)
	}
}

// The trial mailer logs the recipient and subject of each email and nothing else: the
// body holds the Join link, a credential.
func TestLogMailerLogsRecipientAndSubjectOnly(t *testing.T) {
	var buf syncbuf.Buffer
	m := email.LogMailer(zerolog.New(&buf))
	err := m.Send(t.Context(), onboarding.Email{To: "ann@acme.example", Subject: "Join Acme on tether",
		Text: "https://tether.example.com/join/SECRET-TOKEN", HTML: "<a href=\"https://tether.example.com/join/SECRET-TOKEN\">Join</a>", MessageID: "invite-1-1@tether.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{`"to":"ann@acme.example"`, `"subject":"Join Acme on tether"`, "TETHER_MAILER=log"} {
		if !strings.Contains(out, want) {
			t.Errorf("log %s lacks %s", out, want)
		}
	}
	if strings.Contains(out, "SECRET-TOKEN") {
		t.Errorf("the Join link was logged: %s", out)
	}
}

func (u unused) Notify(context.Context, string, string, time.Time) (reminders.Result, error) {
	u.called("Reminders.Notify")
	return reminders.Result{}, nil
}

func (u unused) FollowUp(context.Context, string, string, int, time.Time) (reminders.Result, error) {
	u.called("Reminders.FollowUp")
	return reminders.Result{}, nil
}

func (u unused) Digest(context.Context, string) (reminders.DigestResult, error) {
	u.called("Reminders.Digest")
	return reminders.DigestResult{}, nil
}
