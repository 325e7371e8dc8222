package main

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"tether/jobs"
	"tether/sync/directory"
	"tether/sync/onboarding"
	"tether/sync/store"
	"tether/worker/redistest"
)

func TestInviteResendQueuesOneAttempt(t *testing.T) {
	opt, _ := redistest.Client(t, 12)
	ctx := t.Context()
	dbPath := filepath.Join(t.TempDir(), "tether.db")
	st, err := store.Open(ctx, "sqlite:"+dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	org, err := st.CreateOrg(ctx, directory.Org{Name: "Acme"})
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := onboarding.NewToken(strings.NewReader(strings.Repeat("r", 32)))
	inv, err := st.CreateInvite(ctx, org.ID, directory.Invite{Email: "ann@acme.example", Role: directory.RoleChat,
		TokenHash: tok.Hash, ExpiresAt: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"TETHER_REDIS_URL":    redistest.URL(opt),
		"TETHER_DATABASE_URL": "sqlite:" + dbPath,
		"TETHER_LOG_LEVEL":    "warn",
	}
	resendTo := func(ref string) (string, error) {
		var out, errOut bytes.Buffer
		err := run(context.Background(), []string{"tether", "invite", "resend", "--org", org.ID, ref},
			func(k string) string { return env[k] }, strings.NewReader(""), &out, &errOut)
		return out.String(), err
	}
	resend := func() (string, error) { return resendTo("ANN@acme.example") }
	// A typo names the org and the verb that lists its invites.
	if _, err := resendTo("nobody@acme.example"); !errors.Is(err, onboarding.ErrInviteNotFound) ||
		!strings.Contains(err.Error(), "tether invite list --org "+org.ID) {
		t.Fatalf("resend to no invite: %v", err)
	}
	out, err := resend()
	if err != nil || !strings.Contains(out, "attempt 1 of invite "+inv.ID) {
		t.Fatalf("resend: %q, %v", out, err)
	}
	in := asynq.NewInspector(opt)
	defer in.Close()
	info, err := in.GetTaskInfo(jobs.QueueDefault, jobs.TaskIDInvitesSend(org.ID, inv.ID, 1))
	if err != nil || info.State != asynq.TaskStatePending {
		t.Fatalf("queued task: %+v, %v", info, err)
	}
	// Again before the worker ran: nothing more is queued, and the person is told so
	// without a failing exit (that email is on its way).
	if out, err := resend(); err != nil || !strings.Contains(out, "attempt 1 of invite "+inv.ID+" to ann@acme.example is already queued") {
		t.Fatalf("second resend: %q, %v", out, err)
	}
	if n, _ := in.ListPendingTasks(jobs.QueueDefault); len(n) != 1 {
		t.Fatalf("%d pending tasks, want 1", len(n))
	}
	// A revoked invite is not resent; the error says what to do instead, once.
	if err := st.RevokeInvite(ctx, org.ID, inv.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := resendTo(inv.ID); !errors.Is(err, onboarding.ErrNotPending) ||
		!strings.Contains(err.Error(), "is revoked, not pending: nothing to resend") ||
		!strings.Contains(err.Error(), "tether invite emails --org "+org.ID) || strings.Contains(err.Error(), "invite is not pending") {
		t.Fatalf("resend of a revoked invite: %v", err)
	}
}
