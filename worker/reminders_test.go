package worker_test

import (
	"context"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"tether/connectors/email"
	"tether/connectors/email/mailsink"
	"tether/jobs"
	"tether/sync/connect"
	"tether/sync/connections"
	"tether/sync/directory"
	"tether/sync/reminders"
	"tether/sync/store"
	"tether/sync/store/storetest"
	"tether/worker"
	"tether/worker/redistest"
)

var _ reminders.Store = (*store.Store)(nil)

var connectLink = regexp.MustCompile(`https://tether\.example\.com/connect/[^\s"<>]+`)

var (
	calBroken = directory.ActionReason{Requirement: "calendar", AnyOf: []string{"google_calendar", "microsoft_calendar"},
		Kind: "google_calendar", ConnectionID: "c-cal", State: "needs_reconnect", Actor: directory.ActorRep,
		Message: "reconnect Google Calendar, or connect Outlook calendar instead (google_calendar: token revoked)"}
	sfMissing = directory.ActionReason{Requirement: "salesforce", AnyOf: []string{"salesforce"}, State: "missing",
		Actor: directory.ActorRep, Message: "connect Salesforce"}
	zoomAdmin = directory.ActionReason{Requirement: "salesforce", AnyOf: []string{"salesforce"}, Kind: "salesforce",
		State: "needs_admin", Code: "INACTIVE_USER", Actor: directory.ActorAdmin,
		Message: "the salesforce connection is refused by the provider account or org; an admin must act"}
)

// remindClock is the fake clock the service reads.
type remindClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *remindClock) now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *remindClock) set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

// remindBundle: a store (one backend), an org with an admin and a rep, real connect links,
// an SMTP sink, the reminders service on a fake clock and its queue on a leased Redis.
type remindBundle struct {
	st        *store.Store
	sink      *mailsink.Sink
	mailer    *email.Mailer
	clock     *remindClock
	svc       *reminders.Service
	queue     jobs.ReminderQueue
	opt       asynq.RedisClientOpt
	inspector *asynq.Inspector
	org       directory.Org
	rep       directory.Membership
	admin     directory.Membership
}

func setupReminders(t *testing.T, st *store.Store, mail reminders.Mailer) *remindBundle {
	t.Helper()
	ctx := t.Context()
	opt, _ := redistest.Client(t, 14)
	sink, m := reminderSink(t)
	var err error
	b := &remindBundle{st: st, sink: sink, mailer: m, clock: &remindClock{t: time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)}, opt: opt}
	b.org, err = st.CreateOrg(ctx, directory.Org{Name: "Acme"})
	if err != nil {
		t.Fatal(err)
	}
	b.admin = b.member(t, "boss@acme.example", directory.RoleAdmin)
	b.rep = b.member(t, "rep@acme.example", directory.RoleChat)
	links, err := connect.NewLinks(connect.LinksParams{Store: st, Secret: []byte(strings.Repeat("s", 48)),
		BaseURL: "https://tether.example.com", Now: b.clock.now})
	if err != nil {
		t.Fatal(err)
	}
	client := asynq.NewClient(opt)
	b.inspector = asynq.NewInspector(opt)
	t.Cleanup(func() { _ = client.Close(); _ = b.inspector.Close() })
	b.queue = jobs.ReminderQueue{Client: client}
	if mail == nil {
		mail = email.ReminderMailer(m, "")
	}
	b.svc, err = reminders.New(reminders.Config{Store: st, Mailer: mail, Links: links, Queue: b.queue, Now: b.clock.now})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// reminderSink is an in-process SMTP sink and the mailer reminders send through to it.
func reminderSink(t *testing.T) (*mailsink.Sink, *email.Mailer) {
	t.Helper()
	sink, err := mailsink.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sink.Close() })
	m, err := email.New(email.Config{Host: sink.Host(), Port: sink.Port(), TLS: email.TLSNone,
		From: "tether <reminders@acme.example>", Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return sink, m
}

func (b *remindBundle) member(t *testing.T, mail string, role directory.Role) directory.Membership {
	t.Helper()
	u, err := b.st.CreateUser(t.Context(), directory.User{Email: mail, Name: mail})
	if err != nil {
		t.Fatal(err)
	}
	m, err := b.st.CreateMembership(t.Context(), b.org.ID, directory.Membership{UserID: u.ID, Role: role, Status: directory.MembershipActive})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func (b *remindBundle) reasons(t *testing.T, rs ...directory.ActionReason) {
	t.Helper()
	if err := b.st.SetActionRequired(t.Context(), b.org.ID, b.rep.ID, rs, b.clock.now()); err != nil {
		t.Fatal(err)
	}
}

func (b *remindBundle) notify(t *testing.T, noticed time.Time) reminders.Result {
	t.Helper()
	res, err := b.svc.Notify(t.Context(), b.org.ID, b.rep.ID, noticed)
	if err != nil {
		t.Fatalf("notify at %s: %v", b.clock.now(), err)
	}
	return res
}

// to counts the sink's messages to addr.
func to(msgs []mailsink.Received, addr string) []mailsink.Received {
	var out []mailsink.Received
	for _, m := range msgs {
		for _, r := range m.To {
			if strings.EqualFold(r, addr) {
				out = append(out, m)
			}
		}
	}
	return out
}

func TestRemindersThreeBreaksWithinGraceAreOneDigest(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		b := setupReminders(t, st, nil)
		b.clock = nil // this test runs on the wall clock: the worker's grace period is real
		svc, err := reminders.New(reminders.Config{Store: st, Mailer: email.ReminderMailer(b.mailer, ""),
			Links: mustLinks(t, st), Queue: b.queue})
		if err != nil {
			t.Fatal(err)
		}
		// The org's grace of 3s outlasts the worker's 1s batch, so the notify the batch
		// makes queues a follow-up for the end of the grace, which sends. No quiet hours:
		// the wall clock's hour must not matter.
		if err := st.SetReminderSettings(t.Context(), b.org.ID, reminders.Settings{Grace: 3 * time.Second, QuietStart: 1, QuietEnd: 1}, time.Now()); err != nil {
			t.Fatal(err)
		}
		if err := st.SetActionRequired(t.Context(), b.org.ID, b.rep.ID, []directory.ActionReason{calBroken, sfMissing}, time.Now()); err != nil {
			t.Fatal(err)
		}
		w, err := worker.New(worker.Params{Redis: b.opt, Logger: zerolog.Nop(), Registerer: prometheus.NewRegistry(),
			Concurrency: 2, TaskCheckInterval: 50 * time.Millisecond, DelayedTaskCheckInterval: 100 * time.Millisecond,
			ReminderBatch: time.Second, ReminderMaxDelay: 10 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if err := worker.Register(w, complete(t, worker.Services{Reminders: svc})); err != nil {
			t.Fatal(err)
		}
		// Three breaks within the grace, through the observer the connection changes call.
		trig := &reminders.Trigger{Store: st, Queue: b.queue}
		began := time.Now()
		for range 3 {
			if err := trig.ConnectionChanged(t.Context(), b.org.ID, b.rep.ID); err != nil {
				t.Fatal(err)
			}
		}
		start(t, w)
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
		defer cancel()
		msgs, err := b.sink.Wait(ctx, 1)
		if err != nil {
			t.Fatal(err)
		}
		// The break's time is kept in whole seconds: at least 2s of the 3s grace.
		if took := time.Since(began); took < 2*time.Second {
			t.Fatalf("the digest came %s after the breaks, before the org's 3s grace", took)
		}
		time.Sleep(2 * time.Second) // a second digest would arrive within this
		msgs = b.sink.Messages()
		if len(msgs) != 1 {
			t.Fatalf("%d emails for three breaks within the grace period, want one digest", len(msgs))
		}
		m := msgs[0]
		if len(m.To) != 1 || m.To[0] != "rep@acme.example" || m.MessageID != reminders.MessageID(b.rep.ID, 1) {
			t.Fatalf("digest to %v id %q", m.To, m.MessageID)
		}
		// One link per broken or missing connection kind: the broken Google calendar and
		// Salesforce; each a connect link the link service verifies.
		links := connectLink.FindAllString(m.Text, -1)
		if len(links) != 2 || !strings.Contains(m.HTML, "<a href=") {
			t.Fatalf("links in the digest: %v\n%s", links, m.Text)
		}
		verifier := mustLinks(t, st)
		kinds := map[string]bool{}
		for _, l := range links {
			k, err := verifier.Verify(strings.TrimPrefix(l, "https://tether.example.com/connect/"))
			if err != nil || k.MembershipID != b.rep.ID {
				t.Fatalf("link %s: %+v %v", l, k, err)
			}
			kinds[string(k.Kind)] = true
		}
		if !kinds["google_calendar"] || !kinds["salesforce"] {
			t.Fatalf("link kinds %v", kinds)
		}
		if !strings.Contains(m.Text, "boss@acme.example") || !strings.Contains(m.Text, "You get this because") {
			t.Fatalf("the email must say why it came and who the admin is:\n%s", m.Text)
		}
		// The follow-up is queued with its deterministic TaskID.
		sched, err := b.inspector.ListScheduledTasks(jobs.QueueLow)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, s := range sched {
			found = found || strings.HasPrefix(s.ID, "reminders:notify:"+b.rep.ID+":2:")
		}
		if !found {
			t.Fatalf("no follow-up reminder scheduled: %+v", sched)
		}
	})
}

func mustLinks(t *testing.T, st *store.Store) *connect.Links {
	t.Helper()
	l, err := connect.NewLinks(connect.LinksParams{Store: st, Secret: []byte(strings.Repeat("s", 48)), BaseURL: "https://tether.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestRemindersScheduleEscalationAndAllSet(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		b := setupReminders(t, st, nil)
		t0 := b.clock.now()
		b.reasons(t, calBroken)
		// Before the grace is over: nothing, the reminder is scheduled at its end.
		b.clock.set(t0.Add(time.Minute))
		if res := b.notify(t, t0); len(res.Sent) != 0 || !res.Decision.Next.Equal(t0.Add(5*time.Minute)) {
			t.Fatalf("within the grace: %+v", res)
		}
		want := []time.Duration{5 * time.Minute, 5*time.Minute + 24*time.Hour, 5*time.Minute + 72*time.Hour,
			5*time.Minute + 7*24*time.Hour, 5*time.Minute + 14*24*time.Hour, 5*time.Minute + 21*24*time.Hour}
		for i, off := range want {
			b.clock.set(t0.Add(off))
			res := b.notify(t, t0)
			if len(res.Sent) != 1 || res.Sent[0].Kind != reminders.KindReminder || res.Sent[0].Sequence != i+1 {
				t.Fatalf("reminder %d at +%s: %+v", i+1, off, res)
			}
			if i+1 < len(want) && !res.Decision.Next.Equal(t0.Add(want[i+1])) {
				t.Fatalf("after reminder %d the next is %s, want +%s", i+1, res.Decision.Next, want[i+1])
			}
			// A second run at the same time sends nothing more.
			if again := b.notify(t, t0); len(again.Sent) != 0 {
				t.Fatalf("re-run after reminder %d sent %+v", i+1, again.Sent)
			}
			// The follow-up task is in Redis under its deterministic id.
			id := jobs.TaskIDRemindersFollowUp(b.rep.ID, i+2, res.Decision.Next)
			if _, err := b.inspector.GetTaskInfo(jobs.QueueLow, id); err != nil {
				t.Fatalf("follow-up %s: %v", id, err)
			}
			if i+1 == 3 {
				// The third reminder without a fix queues the admins' daily digest.
				day := b.clock.now().UTC().Format("20060102")
				if _, err := b.inspector.GetTaskInfo(jobs.QueueLow, jobs.TypeRemindersDigest+":"+b.org.ID+":"+day); err != nil {
					t.Fatalf("no admin digest queued after the third reminder: %v", err)
				}
				dg, err := b.svc.Digest(t.Context(), b.org.ID)
				if err != nil || !dg.Sent || len(dg.Members) != 1 || dg.Members[0].Membership.ID != b.rep.ID {
					t.Fatalf("admin digest: %+v %v", dg, err)
				}
				if dg, err := b.svc.Digest(t.Context(), b.org.ID); err != nil || dg.Sent {
					t.Fatalf("a second digest the same day: %+v %v", dg, err)
				}
			}
		}
		msgs := b.sink.Messages()
		if got := len(to(msgs, "rep@acme.example")); got != len(want) {
			t.Fatalf("rep got %d emails, want %d", got, len(want))
		}
		adm := to(msgs, "boss@acme.example")
		if len(adm) != 1 || !strings.Contains(adm[0].Text, "rep@acme.example") || !strings.Contains(adm[0].Text, "reconnect Google Calendar") {
			t.Fatalf("admin emails %+v", adm)
		}
		// Fixed: one all-set note, then nothing.
		b.reasons(t)
		b.clock.set(b.clock.now().Add(time.Hour))
		res := b.notify(t, time.Time{})
		if len(res.Sent) != 1 || res.Sent[0].Kind != reminders.KindAllSet || !res.Decision.Next.IsZero() {
			t.Fatalf("after the fix: %+v", res)
		}
		b.clock.set(b.clock.now().Add(30 * 24 * time.Hour))
		if res := b.notify(t, time.Time{}); len(res.Sent) != 0 {
			t.Fatalf("after the all-set: %+v", res)
		}
		msgs = to(b.sink.Messages(), "rep@acme.example")
		if len(msgs) != len(want)+1 || !strings.Contains(msgs[len(msgs)-1].Subject, "all set") {
			t.Fatalf("rep emails after the fix: %d, last %q", len(msgs), msgs[len(msgs)-1].Subject)
		}
		v, err := b.svc.View(t.Context(), b.org.ID, b.rep.ID)
		if err != nil || len(v.Sent) != len(want)+1 || v.Sent[0].Kind != reminders.KindAllSet || !v.Next.IsZero() {
			t.Fatalf("view %+v %v", v, err)
		}
	})
}

func TestRemindersFixedBeforeGraceSendsNothing(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		b := setupReminders(t, st, nil)
		t0 := b.clock.now()
		b.reasons(t, calBroken)
		b.clock.set(t0.Add(time.Minute))
		b.notify(t, t0)
		b.reasons(t) // fixed within the grace
		b.clock.set(t0.Add(5 * time.Minute))
		if res := b.notify(t, t0); len(res.Sent) != 0 || !res.Decision.Next.IsZero() {
			t.Fatalf("fixed before the first reminder: %+v", res)
		}
		if n := len(b.sink.Messages()); n != 0 {
			t.Fatalf("%d emails for a break fixed before the grace ended", n)
		}
	})
}

// TestRemindersNoLinkForAKindTheMicrosoftGrantServes: a reason read before the rep's
// Microsoft grant covered Teams gets no Teams link (it would ask them to replace a working
// grant), only the Zoom one.
func TestRemindersNoLinkForAKindTheMicrosoftGrantServes(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		b := setupReminders(t, st, nil)
		t0 := b.clock.now()
		if _, err := st.CreateConnection(t.Context(), b.org.ID, connections.Connection{MembershipID: b.rep.ID,
			Kind: connections.KindMicrosoftCalendar, State: connections.StateHealthy,
			Scopes: []string{connections.ScopeMicrosoftCalendar, connections.ScopeMicrosoftTeams}}); err != nil {
			t.Fatal(err)
		}
		b.reasons(t, directory.ActionReason{Requirement: "conferencing", AnyOf: []string{"zoom", "teams"}, State: "missing",
			Actor: directory.ActorRep, Message: "connect Zoom or Microsoft Teams"}, sfMissing)
		b.clock.set(t0.Add(10 * time.Minute))
		b.notify(t, t0)
		rep := to(b.sink.Messages(), "rep@acme.example")
		if len(rep) != 1 {
			t.Fatalf("%d reminders, want 1", len(rep))
		}
		verifier, err := connect.NewLinks(connect.LinksParams{Store: st, Secret: []byte(strings.Repeat("s", 48)), Now: b.clock.now})
		if err != nil {
			t.Fatal(err)
		}
		kinds := map[connections.Kind]bool{}
		for _, l := range connectLink.FindAllString(rep[0].Text, -1) {
			k, err := verifier.Verify(strings.TrimPrefix(l, "https://tether.example.com/connect/"))
			if err != nil {
				t.Fatal(err)
			}
			kinds[k.Kind] = true
		}
		if kinds[connections.KindTeams] || !kinds[connections.KindZoom] || !kinds[connections.KindSalesforce] {
			t.Fatalf("link kinds %v: want zoom and salesforce, no teams (the Microsoft grant serves it)\n%s", kinds, rep[0].Text)
		}
	})
}

func TestRemindersAdminOnlyNeverReachTheRep(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		b := setupReminders(t, st, nil)
		t0 := b.clock.now()
		b.reasons(t, zoomAdmin)
		for i := range 10 {
			b.clock.set(t0.Add(time.Duration(i) * 24 * time.Hour))
			b.notify(t, t0)
		}
		msgs := b.sink.Messages()
		if n := len(to(msgs, "rep@acme.example")); n != 0 {
			t.Fatalf("the rep got %d emails about a problem only an admin can fix", n)
		}
		adm := to(msgs, "boss@acme.example")
		if len(adm) != 1 || !strings.Contains(adm[0].Text, "INACTIVE_USER") || !strings.Contains(adm[0].Text, "rep@acme.example") {
			t.Fatalf("admins got %d alerts (want 1 naming the rep and the code): %+v", len(adm), adm)
		}
		// A problem the rep can fix joins: the rep hears of it only.
		b.reasons(t, zoomAdmin, calBroken)
		b.clock.set(b.clock.now().Add(time.Hour))
		b.notify(t, b.clock.now().Add(-10*time.Minute))
		rep := to(b.sink.Messages(), "rep@acme.example")
		if len(rep) != 1 || strings.Contains(rep[0].Text, "INACTIVE_USER") || strings.Contains(rep[0].Text, "an admin must act") {
			t.Fatalf("rep email: %+v", rep)
		}
	})
}

func TestRemindersQuietHoursDelayThenDeliver(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		b := setupReminders(t, st, nil)
		// The rep is in New York (Salesforce TimeZoneSidKey): 02:00 UTC is 21:00 there.
		if err := st.SetMemberTimeZone(t.Context(), b.org.ID, b.rep.ID, "America/New_York"); err != nil {
			t.Fatal(err)
		}
		noticed := time.Date(2026, 3, 3, 1, 50, 0, 0, time.UTC)
		b.reasons(t, calBroken)
		b.clock.set(noticed.Add(10 * time.Minute))
		res := b.notify(t, noticed)
		morning := time.Date(2026, 3, 3, 13, 0, 0, 0, time.UTC) // 08:00 in New York (EST)
		if len(res.Sent) != 0 || !res.Decision.Next.Equal(morning) {
			t.Fatalf("in quiet hours: %+v", res)
		}
		if _, err := b.inspector.GetTaskInfo(jobs.QueueLow, jobs.TaskIDRemindersFollowUp(b.rep.ID, 1, morning)); err != nil {
			t.Fatalf("the delayed reminder is not queued for the morning: %v", err)
		}
		b.clock.set(morning)
		if res := b.notify(t, noticed); len(res.Sent) != 1 {
			t.Fatalf("at the end of quiet hours: %+v", res)
		}
		if n := len(b.sink.Messages()); n != 1 {
			t.Fatalf("%d emails, want the delayed one", n)
		}
	})
}

// crashingMailer sends through the real mailer, then dies before the send is recorded:
// what a worker killed between the SMTP answer and the store write leaves behind.
type crashingMailer struct {
	real  reminders.Mailer
	crash bool
}

type crashed struct{}

func (c *crashingMailer) Send(ctx context.Context, m reminders.Message) error {
	if err := c.real.Send(ctx, m); err != nil {
		return err
	}
	if c.crash {
		c.crash = false
		panic(crashed{})
	}
	return nil
}

func TestRemindersNoDuplicateAfterCrashBetweenSendAndRecord(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		cm := &crashingMailer{crash: true}
		b := setupReminders(t, st, cm)
		cm.real = email.ReminderMailer(b.mailer, "")
		t0 := b.clock.now()
		b.reasons(t, calBroken)
		b.clock.set(t0.Add(5 * time.Minute))
		func() {
			defer func() {
				if p := recover(); p != (crashed{}) {
					t.Fatalf("want the simulated crash, got %v", p)
				}
			}()
			_, _ = b.svc.Notify(t.Context(), b.org.ID, b.rep.ID, t0)
		}()
		// The retry after the crash (Asynq's backoff later, same state) must not send again.
		b.clock.set(t0.Add(5*time.Minute + reminders.StaleAttempt))
		res := b.notify(t, t0)
		if len(res.Sent) != 0 || len(res.Settled) != 1 || res.Settled[0] != 1 {
			t.Fatalf("retry after the crash: %+v", res)
		}
		if n := len(b.sink.Messages()); n != 1 {
			t.Fatalf("%d emails after a crash between send and record, want 1", n)
		}
		r, err := st.GetReminderBySequence(t.Context(), b.org.ID, b.rep.ID, reminders.ChannelEmail, 1)
		if err != nil || r.Status != reminders.StatusUnconfirmed {
			t.Fatalf("the crashed send is recorded as %+v, %v; want unconfirmed", r, err)
		}
		// The schedule goes on from it: the next reminder a day later.
		if !res.Decision.Next.Equal(t0.Add(5*time.Minute + 24*time.Hour)) {
			t.Fatalf("next after the crashed send: %s", res.Decision.Next)
		}
	})
}

func TestRemindersRefusedSendIsRetried(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		b := setupReminders(t, st, nil)
		t0 := b.clock.now()
		b.reasons(t, calBroken)
		b.clock.set(t0.Add(5 * time.Minute))
		b.sink.FailNext(1, 451)
		if _, err := b.svc.Notify(t.Context(), b.org.ID, b.rep.ID, t0); err == nil || !strings.Contains(err.Error(), "451") {
			t.Fatalf("a refused send must fail the task so it is retried: %v", err)
		}
		res := b.notify(t, t0)
		if len(res.Sent) != 1 || res.Sent[0].Sequence != 1 {
			t.Fatalf("the retry: %+v", res)
		}
		if n := len(b.sink.Messages()); n != 1 {
			t.Fatalf("%d emails, want exactly the retried one", n)
		}
	})
}

// TestRemindersMaybeSentIsNeverResent: the SMTP server keeps the message and drops the
// connection instead of answering after the final dot, so tether cannot tell whether it
// was accepted. The reminder (and the admins' digest) is recorded unconfirmed, the run
// ends without error, and no later run sends it again: one email each.
func TestRemindersMaybeSentIsNeverResent(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		b := setupReminders(t, st, nil)
		t0 := b.clock.now()
		if err := st.SetReminderSettings(t.Context(), b.org.ID, reminders.Settings{EscalateAfter: 1}, t0); err != nil {
			t.Fatal(err)
		}
		b.reasons(t, calBroken)
		b.clock.set(t0.Add(5 * time.Minute))
		b.sink.DropNext(1)
		res := b.notify(t, t0) // no error: a retry could only send it twice
		if len(res.Sent) != 0 || len(res.Unconfirmed) != 1 || res.Unconfirmed[0] != 1 {
			t.Fatalf("a send whose answer was lost: %+v", res)
		}
		// The task's retries and a second worker find it counted and send nothing.
		for range 2 {
			if again := b.notify(t, t0); len(again.Sent) != 0 || len(again.Unconfirmed) != 0 {
				t.Fatalf("re-run after the lost answer: %+v", again)
			}
		}
		if n := len(b.sink.Messages()); n != 1 {
			t.Fatalf("%d emails at the server, want exactly 1", n)
		}
		// The admins see it unconfirmed in the member's history, counted as sent by the
		// schedule: the next reminder is a day later.
		v, err := b.svc.View(t.Context(), b.org.ID, b.rep.ID)
		if err != nil || len(v.Sent) != 1 || v.Sent[0].Status != reminders.StatusUnconfirmed || v.Sent[0].Sequence != 1 ||
			!v.Next.Equal(t0.Add(5*time.Minute+24*time.Hour)) {
			t.Fatalf("view after the lost answer: %+v, %v", v, err)
		}

		// The same for the admins' digest.
		b.sink.DropNext(1)
		dg, err := b.svc.Digest(t.Context(), b.org.ID)
		if err != nil || dg.Sent || !dg.Unconfirmed {
			t.Fatalf("digest whose answer was lost: %+v, %v", dg, err)
		}
		if dg, err := b.svc.Digest(t.Context(), b.org.ID); err != nil || dg.Sent || !dg.Skipped {
			t.Fatalf("digest re-run: %+v, %v", dg, err)
		}
		if st, err := st.DigestStatus(t.Context(), b.org.ID, dg.Day); err != nil || st != reminders.StatusUnconfirmed {
			t.Fatalf("digest recorded %q, %v; want unconfirmed", st, err)
		}
		if n := len(to(b.sink.Messages(), "boss@acme.example")); n != 1 {
			t.Fatalf("%d digests at the server, want exactly 1", n)
		}
	})
}
