package worker_test

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"tether/connectors/email"
	"tether/connectors/email/mailsink"
	"tether/jobs"
	"tether/sync/directory"
	"tether/sync/events"
	"tether/sync/onboarding"
	"tether/sync/store"
	"tether/sync/store/storetest"
	"tether/worker"
	"tether/worker/redistest"
)

// inviteBundle is a worker on Redis DB 11 running invites:send against a SQLite store and
// an in-process SMTP sink.
type inviteBundle struct {
	st        *store.Store
	sink      *mailsink.Sink
	client    *asynq.Client
	inspector *asynq.Inspector
	org       directory.Org
	invite    directory.Invite
}

// sinkSender is the invitation sender over SMTP to an in-process mail sink.
func sinkSender(t *testing.T, st *store.Store) (*mailsink.Sink, *onboarding.Sender) {
	t.Helper()
	sink, err := mailsink.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sink.Close() })
	sender, err := smtpSender(st, sink.Port())
	if err != nil {
		t.Fatal(err)
	}
	return sink, sender
}

// smtpSender is the invitation sender over SMTP to 127.0.0.1:port (also what the
// killed worker process of invites_send_kill_test.go builds).
func smtpSender(st *store.Store, port int) (*onboarding.Sender, error) {
	m, err := email.New(email.Config{Host: "127.0.0.1", Port: port, TLS: email.TLSNone,
		From: "Acme <invite@acme.example>", Timeout: 5 * time.Second})
	if err != nil {
		return nil, err
	}
	return onboarding.NewSender(onboarding.SenderConfig{Store: st, Mailer: email.InviteMailer(m, ""),
		PublicURL: "https://tether.example.com"})
}

// seedInvite stores the org Acme with one pending invite to addr.
func seedInvite(t *testing.T, st *store.Store, addr string) (directory.Org, directory.Invite) {
	t.Helper()
	ctx := t.Context()
	org, err := st.CreateOrg(ctx, directory.Org{Name: "Acme"})
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := onboarding.NewToken(strings.NewReader(strings.Repeat("p", 32)))
	inv, err := st.CreateInvite(ctx, org.ID, directory.Invite{Email: addr, Role: directory.RoleChat,
		TokenHash: tok.Hash, ExpiresAt: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	return org, inv
}

// inviteWorker is a worker on opt running invites:send with sender, not started. tb
// hears about services a task needs and the test did not give (complete).
func inviteWorker(tb testing.TB, opt asynq.RedisClientOpt, st *store.Store, sender *onboarding.Sender) (*worker.Worker, error) {
	w, err := worker.New(worker.Params{Redis: opt, Logger: zerolog.Nop(), Registerer: prometheus.NewRegistry(),
		Concurrency: 2, TaskCheckInterval: 50 * time.Millisecond, DelayedTaskCheckInterval: 100 * time.Millisecond})
	if err != nil {
		return nil, err
	}
	return w, worker.Register(w, complete(tb, worker.Services{Events: events.NewService(st, nil), EventRetention: time.Hour, Invites: sender}))
}

func setupInvites(t *testing.T) *inviteBundle {
	t.Helper()
	opt, _ := redistest.Client(t, 11)
	st := storetest.SQLite(t)
	sink, sender := sinkSender(t, st)
	org, inv := seedInvite(t, st, "ann@acme.example")
	w, err := inviteWorker(t, opt, st, sender)
	if err != nil {
		t.Fatal(err)
	}
	start(t, w)
	b := &inviteBundle{st: st, sink: sink, client: asynq.NewClient(opt), inspector: asynq.NewInspector(opt), org: org, invite: inv}
	t.Cleanup(func() { _ = b.client.Close(); _ = b.inspector.Close() })
	return b
}

func (b *inviteBundle) enqueue(t *testing.T, attempt int) string {
	t.Helper()
	task, err := jobs.NewInviteSendTask(b.org.ID, b.invite.ID, attempt)
	if err != nil {
		t.Fatal(err)
	}
	info, err := b.client.Enqueue(task)
	if err != nil {
		t.Fatal(err)
	}
	return info.ID
}

// waitState polls the task until it reaches state (or the test's 10 s budget ends).
func (b *inviteBundle) waitState(t *testing.T, id string, state asynq.TaskState) *asynq.TaskInfo {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		info, err := b.inspector.GetTaskInfo(jobs.QueueDefault, id)
		if err == nil && info.State == state {
			return info
		}
		if time.Now().After(deadline) {
			t.Fatalf("task %s never reached %s (last: %+v, %v)", id, state, info, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

var joinLink = regexp.MustCompile(`https://tether\.example\.com/join/([A-Za-z0-9_-]+)`)

func TestInvitesSendRetriesTransientSMTPFailure(t *testing.T) {
	// Not parallel: both tests share Redis DB 11, and one worker would take the other's task.
	b := setupInvites(t)
	b.sink.FailNext(1, 451)
	id := b.enqueue(t, 1)

	info := b.waitState(t, id, asynq.TaskStateRetry)
	if info.Retried != 1 || !strings.Contains(info.LastErr, "451") {
		t.Fatalf("after the 451: retried %d, last error %q", info.Retried, info.LastErr)
	}
	// While it retries, the invite says why (the invites list shows it), not only the log.
	if inv, err := b.st.GetInvite(t.Context(), b.org.ID, b.invite.ID); err != nil ||
		inv.LastSendError != info.LastErr || !strings.Contains(inv.LastSendError, "deferred it (SMTP 451)") || inv.SendError != "" {
		t.Fatalf("invite while retrying: last send error %q, send error %q (%v); want the attempt's sentence %q", inv.LastSendError, inv.SendError, err, info.LastErr)
	}
	// Skip the backoff: run the retry now.
	if err := b.inspector.RunTask(jobs.QueueDefault, id); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	msgs, err := b.sink.Wait(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	b.waitState(t, id, asynq.TaskStateCompleted)
	msg := msgs[0]
	if msg.To[0] != "ann@acme.example" || msg.MessageID != "invite-"+b.invite.ID+"-1@tether.example.com" ||
		!strings.Contains(msg.From, "invite@acme.example") {
		t.Fatalf("message to %v, id %q, from %q", msg.To, msg.MessageID, msg.From)
	}
	m := joinLink.FindStringSubmatch(msg.Text)
	if m == nil || !strings.Contains(msg.HTML, m[0]) {
		t.Fatalf("no Join link in both parts:\n%s\n%s", msg.Text, msg.HTML)
	}
	// The link's token is stored only as its hash.
	hash, ok := onboarding.HashToken(m[1])
	inv, err := b.st.GetInvite(t.Context(), b.org.ID, b.invite.ID)
	if err != nil || !ok || inv.TokenHash != hash || inv.SentCount != 1 || strings.Contains(inv.TokenHash, m[1]) || inv.LastSendError != "" {
		t.Fatalf("stored invite %+v (err %v), link hash %s", inv, err, hash)
	}
	// The same attempt enqueued again once its retention is over is a no-op: drop the
	// completed task to stand in for the retention running out.
	if err := b.inspector.DeleteTask(jobs.QueueDefault, id); err != nil {
		t.Fatal(err)
	}
	id = b.enqueue(t, 1)
	b.waitState(t, id, asynq.TaskStateCompleted)
	if n := len(b.sink.Messages()); n != 1 {
		t.Fatalf("re-run of a recorded attempt sent again: %d messages", n)
	}
}

func TestInvitesSendArchivesPermanentSMTPFailure(t *testing.T) {
	// Not parallel: both tests share Redis DB 11, and one worker would take the other's task.
	b := setupInvites(t)
	b.sink.FailNext(1, 550)
	id := b.enqueue(t, 1)

	info := b.waitState(t, id, asynq.TaskStateArchived)
	if info.Retried != 0 || !strings.Contains(info.LastErr, "undeliverable") || !strings.Contains(info.LastErr, "550") {
		t.Fatalf("archived after %d retries with %q", info.Retried, info.LastErr)
	}
	if n := len(b.sink.Messages()); n != 0 {
		t.Fatalf("%d messages delivered", n)
	}
	inv, _ := b.st.GetInvite(t.Context(), b.org.ID, b.invite.ID)
	if inv.SentCount != 0 || inv.TokenHash != b.invite.TokenHash {
		t.Fatalf("a refused email changed the invite: %+v", inv)
	}
	// The invite says why it was not sent (the task's give-up hook runs after the archive).
	deadline := time.Now().Add(5 * time.Second)
	for inv.SendError == "" && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		inv, _ = b.st.GetInvite(t.Context(), b.org.ID, b.invite.ID)
	}
	if !strings.Contains(inv.SendError, "undeliverable") || !strings.Contains(inv.SendError, "550") || inv.SendFailedAt.IsZero() {
		t.Fatalf("invite send error %q at %v, want the 550 refusal", inv.SendError, inv.SendFailedAt)
	}

	// A resend replaces the archived attempt and goes out.
	enq := worker.InviteEnqueuer{Client: b.client, Inspector: b.inspector}
	_, attempt, err := onboarding.Resender{Store: b.st, Queue: enq}.Resend(t.Context(), b.org.ID, "ann@acme.example")
	if err != nil || attempt != 1 {
		t.Fatalf("resend: attempt %d, %v", attempt, err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if _, err := b.sink.Wait(ctx, 1); err != nil {
		t.Fatal(err)
	}
	// The recorded send clears the failure.
	deadline = time.Now().Add(5 * time.Second)
	for inv.SendError != "" && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		inv, _ = b.st.GetInvite(t.Context(), b.org.ID, b.invite.ID)
	}
	if inv.SendError != "" || inv.SentCount != 1 {
		t.Fatalf("after the resend: send error %q, sent %d", inv.SendError, inv.SentCount)
	}
}
