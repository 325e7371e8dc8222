package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"tether/connectors/email"
	"tether/connectors/email/mailsink"
	"tether/jobs"
	"tether/sync/connect"
	"tether/sync/directory"
	"tether/sync/reminders"
	"tether/worker/redistest"
)

// killAfterReminderAccept, set to 1 in a re-executed test binary (TETHER_TEST_MAIN),
// makes the worker SIGKILL itself the moment the SMTP server accepted a reminder, before
// the send is recorded. Only this test file sets the hook.
const killAfterReminderAccept = "TETHER_TEST_KILL_AFTER_REMINDER_ACCEPT"

func init() {
	if os.Getenv(killAfterReminderAccept) == "1" {
		wrapReminderMailer = func(m reminders.Mailer) reminders.Mailer { return killingMailer{m} }
	}
}

type killingMailer struct{ reminders.Mailer }

func (k killingMailer) Send(ctx context.Context, m reminders.Message) error {
	err := k.Mailer.Send(ctx, m)
	if err == nil {
		dieNow("the SMTP server accepted the reminder; killing the worker before the record")
	}
	return err
}

// TestWorkerKilledAfterReminderAccept: a real `tether worker` process runs a due
// reminder, the SMTP server accepts it, and the process is SIGKILLed before the send is
// recorded. A fresh worker runs the task's retry: it sends nothing, the sink holds
// exactly one reminder email, and the member's history shows the one message, still
// counted, with the next reminder a day later.
func TestWorkerKilledAfterReminderAccept(t *testing.T) {
	ctx := context.Background()
	opt, rdb := redistest.Client(t, 12)
	sink, err := mailsink.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sink.Close() })
	dbURL := "sqlite:" + filepath.Join(t.TempDir(), "tether.db")
	env := killEnv(t, dbURL, opt, map[string]string{
		"TETHER_SMTP_URL": fmt.Sprintf("smtp+insecure://%s:%d", sink.Host(), sink.Port())})
	st, _ := openTestStore(t, dbURL)
	org, err := st.CreateOrg(ctx, directory.Org{Name: "Acme", SeatLimit: 10})
	if err != nil {
		t.Fatal(err)
	}
	var rep directory.Membership
	for _, p := range []struct {
		mail string
		role directory.Role
	}{{"boss@acme.example", directory.RoleAdmin}, {"rep@acme.example", directory.RoleChat}} {
		u, err := st.CreateUser(ctx, directory.User{Email: p.mail, Name: p.mail})
		if err != nil {
			t.Fatal(err)
		}
		if rep, err = st.CreateMembership(ctx, org.ID, directory.Membership{UserID: u.ID, Role: p.role, Status: directory.MembershipActive}); err != nil {
			t.Fatal(err)
		}
	}
	// No quiet hours: the wall clock's hour must not matter.
	if err := st.SetReminderSettings(ctx, org.ID, reminders.Settings{QuietStart: 1, QuietEnd: 1}, time.Now()); err != nil {
		t.Fatal(err)
	}
	broken := directory.ActionReason{Requirement: "calendar", AnyOf: []string{"google_calendar"}, Kind: "google_calendar",
		State: "needs_reconnect", Actor: directory.ActorRep, Message: "reconnect Google Calendar"}
	if err := st.SetActionRequired(ctx, org.ID, rep.ID, []directory.ActionReason{broken}, time.Now()); err != nil {
		t.Fatal(err)
	}

	due := time.Now().Add(-time.Second).Truncate(time.Second)
	taskID := jobs.TaskIDRemindersFollowUp(rep.ID, 1, due)
	// Recorded as the notify that queues it records it: a follow-up sends only while the
	// membership's record names it.
	if err := st.SetReminderQueued(ctx, org.ID, rep.ID, reminders.Queued{Sequence: 1, At: due, Noticed: due.Add(-5 * time.Minute)}, due); err != nil {
		t.Fatal(err)
	}
	killedWorker(t, env, killAfterReminderAccept, "killing the worker before the record", func() {
		client := asynq.NewClient(opt)
		defer client.Close()
		if err := (jobs.ReminderQueue{Client: client}).FollowUp(ctx, org.ID, rep.ID, 1, due); err != nil {
			t.Fatal(err)
		}
	})
	if n := len(sink.Messages()); n != 1 {
		t.Fatalf("%d emails at the server after the kill, want 1", n)
	}
	r, err := st.GetReminderBySequence(ctx, org.ID, rep.ID, reminders.ChannelEmail, 1)
	if err != nil || r.Status != reminders.StatusAttempting {
		t.Fatalf("the killed run's record: %+v, %v; want attempting", r, err)
	}

	// The killed worker's lease would lapse and a worker's recoverer would retry the
	// task; expire the lease now to stand in for that wait.
	if err := rdb.ZAdd(ctx, "asynq:{"+jobs.QueueLow+"}:lease",
		redis.Z{Score: float64(time.Now().Add(-time.Minute).Unix()), Member: taskID}).Err(); err != nil {
		t.Fatal(err)
	}
	stderr, stop := start(t, env, "worker")
	t.Cleanup(func() { _ = stop() })
	info := waitCompleted(t, opt, jobs.QueueLow, taskID, stderr)
	if !strings.Contains(string(info.Result), "sent=0") {
		t.Fatalf("the retry's result %q, want nothing sent", info.Result)
	}
	msgs := sink.Messages()
	if len(msgs) != 1 || msgs[0].MessageID != reminders.MessageID(rep.ID, 1) {
		t.Fatalf("%d emails at the server after the retry, want exactly the one reminder", len(msgs))
	}
	// The history shows it, and the schedule counts it: the next reminder is a day after.
	out := runTether(t, ctx, env, "members", "reminders", org.ID, "rep@acme.example")
	if out.err != nil || !strings.Contains(out.stdout, "#1 reminder email attempting") {
		t.Fatalf("members reminders: %v\n%s%s", out.err, out.stdout, out.stderr)
	}
	v, err := reminders.Viewer{Store: st}.View(ctx, org.ID, rep.ID)
	if err != nil || len(v.Sent) != 1 || v.Next.Before(r.SentAt.Add(24*time.Hour)) {
		t.Fatalf("view after the retry: %+v, %v", v, err)
	}
	// The retry came within StaleAttempt of the killed run, which might still have been
	// sending; the member's next run after it (here on a clock StaleAttempt on) settles
	// the record unconfirmed, sending nothing, and the history says so.
	later := func() time.Time { return time.Now().Add(reminders.StaleAttempt + time.Second) }
	links, err := connect.NewLinks(connect.LinksParams{Store: st, Secret: []byte(testLinkSecret), Now: later})
	if err != nil {
		t.Fatal(err)
	}
	m, err := email.New(email.Config{Host: sink.Host(), Port: sink.Port(), TLS: email.TLSNone, From: "tether <t@acme.example>"})
	if err != nil {
		t.Fatal(err)
	}
	client := asynq.NewClient(opt)
	t.Cleanup(func() { _ = client.Close() })
	svc, err := reminders.New(reminders.Config{Store: st, Mailer: email.ReminderMailer(m, ""), Links: links,
		Queue: jobs.ReminderQueue{Client: client}, Now: later})
	if err != nil {
		t.Fatal(err)
	}
	res, err := svc.Notify(ctx, org.ID, rep.ID, time.Time{})
	if err != nil || len(res.Sent) != 0 || len(res.Settled) != 1 || res.Settled[0] != 1 {
		t.Fatalf("the run after StaleAttempt: %+v, %v; want sequence 1 settled, nothing sent", res, err)
	}
	if n := len(sink.Messages()); n != 1 {
		t.Fatalf("%d emails after the settling run, want 1", n)
	}
	out = runTether(t, ctx, env, "members", "reminders", org.ID, "rep@acme.example")
	if out.err != nil || !strings.Contains(out.stdout, "#1 reminder email unconfirmed") {
		t.Fatalf("members reminders after the settling run: %v\n%s%s", out.err, out.stdout, out.stderr)
	}
}
