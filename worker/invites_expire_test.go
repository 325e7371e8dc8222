package worker_test

import (
	"testing"
	"time"

	"tether/jobs"
	"tether/sync/directory"
	"tether/sync/events"
	"tether/sync/store/storetest"
	"tether/worker"
)

// The scheduled sweep marks lapsed invites expired and leaves live ones pending.
func TestInvitesExpireHandler(t *testing.T) {
	b := setup(t)
	st := storetest.SQLite(t)
	ctx := t.Context()
	org, err := st.CreateOrg(ctx, directory.Org{Name: "Acme"})
	if err != nil {
		t.Fatal(err)
	}
	mk := func(email string, expires time.Time) directory.Invite {
		inv, err := st.CreateInvite(ctx, org.ID, directory.Invite{Email: email, Role: directory.RoleChat,
			TokenHash: "h-" + email, ExpiresAt: expires})
		if err != nil {
			t.Fatal(err)
		}
		return inv
	}
	lapsed := mk("old@acme.example", time.Now().Add(-time.Minute))
	live := mk("new@acme.example", time.Now().Add(time.Hour))

	w := b.newWorker(t, time.Second)
	if err := worker.Register(w, complete(t, worker.Services{Events: events.NewService(st, nil), EventRetention: time.Hour, InviteExpiry: st})); err != nil {
		t.Fatal(err)
	}
	start(t, w)
	entries, err := worker.Periodics("0 3 * * *")
	if err != nil {
		t.Fatal(err)
	}
	var task *worker.Periodic
	for i := range entries {
		if entries[i].Name == jobs.TypeInvitesExpire {
			task = &entries[i]
		}
	}
	if task == nil {
		t.Fatal("no invites:expire among the scheduler's periodic tasks")
	}
	tk, err := task.Task(task.Schedule.Next(time.Now().Add(-time.Hour)))
	if err != nil {
		t.Fatal(err)
	}
	info, err := b.client.Enqueue(tk)
	if err != nil {
		t.Fatal(err)
	}
	done := b.waitTask(t, jobs.QueueLow, info.ID, "completed", completed)
	if string(done.Result) != "expired=1" {
		t.Errorf("result %q, want expired=1", done.Result)
	}
	for _, c := range []struct {
		inv  directory.Invite
		want directory.InviteStatus
	}{{lapsed, directory.InviteExpired}, {live, directory.InvitePending}} {
		got, err := st.GetInvite(ctx, org.ID, c.inv.ID)
		if err != nil || got.Status != c.want {
			t.Errorf("invite %s: %s (%v), want %s", c.inv.Email, got.Status, err, c.want)
		}
	}
}
