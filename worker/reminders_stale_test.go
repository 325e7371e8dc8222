package worker_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"tether/connectors/email"
	"tether/jobs"
	"tether/sync/directory"
	"tether/sync/reminders"
	"tether/sync/store"
	"tether/sync/store/storetest"
	"tether/worker"
)

// runFollowUp runs at now, as the worker's handler does, the follow-up queued in Redis
// for (seq, at): its payload must name that reminder and time. The task is deleted
// afterwards, as if it had finished.
func (b *remindBundle) runFollowUp(t *testing.T, now time.Time, seq int, at time.Time) (reminders.Result, error) {
	t.Helper()
	id := jobs.TaskIDRemindersFollowUp(b.rep.ID, seq, at)
	info, err := b.inspector.GetTaskInfo(jobs.QueueLow, id)
	if err != nil {
		t.Fatalf("follow-up %s: %v", id, err)
	}
	p, err := jobs.Decode[jobs.RemindersNotify](info.Payload)
	if err != nil || p.Sequence != seq || p.At != at.Unix() || p.MembershipID != b.rep.ID {
		t.Fatalf("follow-up %s carries %+v (%v)", id, p, err)
	}
	b.clock.set(now)
	res, err := b.svc.FollowUp(t.Context(), p.OrgID, p.MembershipID, p.Sequence, time.Unix(p.At, 0))
	if err := b.inspector.DeleteTask(jobs.QueueLow, id); err != nil {
		t.Fatal(err)
	}
	return res, err
}

// recorded fails unless the rep's record names reminder seq at at.
func (b *remindBundle) recorded(t *testing.T, seq int, at time.Time) {
	t.Helper()
	mr, err := b.st.MemberReminders(t.Context(), b.org.ID, []string{b.rep.ID})
	if q := mr[b.rep.ID].Queued; err != nil || q.Sequence != seq || !q.At.Equal(at) {
		t.Fatalf("the record names reminder %d at %s (%v), want %d at %s", q.Sequence, q.At, err, seq, at)
	}
}

// followUps lists the rep's follow-up tasks queued in Redis.
func (b *remindBundle) followUps(t *testing.T) []string {
	t.Helper()
	ts, err := b.inspector.ListScheduledTasks(jobs.QueueLow)
	if err != nil && !errors.Is(err, asynq.ErrQueueNotFound) {
		t.Fatal(err)
	}
	var ids []string
	for _, ti := range ts {
		if strings.HasPrefix(ti.ID, jobs.TypeRemindersNotify+":"+b.rep.ID+":") {
			ids = append(ids, ti.ID)
		}
	}
	return ids
}

// TestReminderSecondBreakThenLongerGrace: a second break within the grace queues no
// second task (the one recorded suffices). A second task for the same reminder, later (as
// code before this change queued it), that a longer grace does not move sends nothing
// when it runs, before the new grace has passed, and neither does a retry of it; the
// reminder goes once, at the new time.
func TestReminderSecondBreakThenLongerGrace(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		b := setupReminders(t, st, nil)
		url := b.membersAPI(t) + "/v1/orgs/" + b.org.ID + "/reminder-settings"
		t0 := time.Date(2031, 3, 4, 10, 0, 0, 0, time.UTC) // ahead of the wall clock, no quiet hours near
		b.clock.set(t0)
		b.reasons(t, calBroken)
		b.clock.set(t0.Add(time.Second))
		b.notify(t, t0)
		first := t0.Add(5 * time.Minute)

		b.clock.set(t0.Add(2 * time.Minute))
		b.reasons(t, calBroken, sfMissing)
		b.notify(t, t0.Add(2*time.Minute))
		if ids := b.followUps(t); len(ids) != 1 || ids[0] != jobs.TaskIDRemindersFollowUp(b.rep.ID, 1, first) {
			t.Fatalf("after a second break within the grace Redis holds %v, want only the first break's task", ids)
		}
		b.recorded(t, 1, first)
		second := t0.Add(7 * time.Minute)
		if err := b.queue.FollowUp(t.Context(), b.org.ID, b.rep.ID, 1, second); err != nil {
			t.Fatal(err)
		}

		call(t, http.MethodPatch, url, `{"grace":"30m"}`)
		moved := t0.Add(30 * time.Minute)
		b.recorded(t, 1, moved)
		b.gone(t, 1, first)

		for _, now := range []time.Time{second, second.Add(time.Minute)} { // its run, and a retry
			if err := b.queue.FollowUp(t.Context(), b.org.ID, b.rep.ID, 1, second); err != nil {
				t.Fatal(err)
			}
			res, err := b.runFollowUp(t, now, 1, second)
			if err != nil || !res.Stale || len(res.Sent) != 0 || res.Decision.Why != "early: reminder 1 is recorded for "+moved.Format(time.RFC3339) {
				t.Fatalf("the second break's task at %s: %+v, %v; want it stale", now, res, err)
			}
			if n := len(b.sink.Messages()); n != 0 {
				t.Fatalf("%d emails at %s, before the new grace has passed", n, now)
			}
		}
		b.recorded(t, 1, moved)

		res, err := b.runFollowUp(t, moved, 1, moved)
		if err != nil || res.Stale || len(res.Sent) != 1 || res.Sent[0].Sequence != 1 {
			t.Fatalf("the recorded task at the new time: %+v, %v", res, err)
		}
		if msgs := b.sink.Messages(); len(msgs) != 1 || msgs[0].MessageID != reminders.MessageID(b.rep.ID, 1) {
			t.Fatalf("%d emails, want the first reminder once", len(msgs))
		}
		b.recorded(t, 2, moved.Add(24*time.Hour))
	})
}

// moveFirst is the reconciler's inspector, which, asked for the task of reminder (seq,
// at), first lets move run: a policy change landing between the reconciler's read of the
// record and its look into Redis.
type moveFirst struct {
	worker.TaskInspector
	id   string
	move func()
}

func (m *moveFirst) GetTaskInfo(queue, id string) (*asynq.TaskInfo, error) {
	if id == m.id && m.move != nil {
		m.move()
		m.move = nil
	}
	return m.TaskInspector.GetTaskInfo(queue, id)
}

// TestReminderReconcilerRacingAMove: a reconciler that read the record just before a
// longer grace moved it queues the old task again. That task, run at its old time, sends
// nothing and queues again the recorded one, which Redis has lost meanwhile; the reminder
// goes once, at the new time.
func TestReminderReconcilerRacingAMove(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		b := setupReminders(t, st, nil)
		url := b.membersAPI(t) + "/v1/orgs/" + b.org.ID + "/reminder-settings"
		t0 := time.Date(2031, 3, 4, 10, 0, 0, 0, time.UTC)
		b.clock.set(t0)
		b.reasons(t, calBroken)
		b.clock.set(t0.Add(time.Second))
		b.notify(t, t0)
		first, moved := t0.Add(5*time.Minute), t0.Add(30*time.Minute)

		client := asynq.NewClient(b.opt)
		t.Cleanup(func() { _ = client.Close() })
		u := unused{t}
		in := &moveFirst{TaskInspector: b.inspector, id: jobs.TaskIDRemindersFollowUp(b.rep.ID, 1, first),
			move: func() { call(t, http.MethodPatch, url, `{"grace":"30m"}`) }}
		rec := &worker.Reconciler{Store: st, Queue: client, Inspector: in, Imports: unusedImports{u}, Invites: u,
			Audits: u, Logger: zerolog.Nop()}
		if got, err := rec.Reconcile(t.Context()); err != nil || got.Reminders != 1 {
			t.Fatalf("reconcile racing the move: %+v, %v; want the old task queued again", got, err)
		}
		b.recorded(t, 1, moved)
		// Redis loses the moved task; the stale one is still there.
		if err := b.inspector.DeleteTask(jobs.QueueLow, jobs.TaskIDRemindersFollowUp(b.rep.ID, 1, moved)); err != nil {
			t.Fatal(err)
		}

		res, err := b.runFollowUp(t, first, 1, first)
		if err != nil || !res.Stale || len(res.Sent) != 0 {
			t.Fatalf("the old task at its old time: %+v, %v; want it stale", res, err)
		}
		if n := len(b.sink.Messages()); n != 0 {
			t.Fatalf("%d emails at the old time", n)
		}
		if ids := b.followUps(t); len(ids) != 1 || ids[0] != jobs.TaskIDRemindersFollowUp(b.rep.ID, 1, moved) {
			t.Fatalf("after the stale run Redis holds %v, want the recorded task back", ids)
		}

		if res, err := b.runFollowUp(t, moved, 1, moved); err != nil || len(res.Sent) != 1 {
			t.Fatalf("the recorded task at the new time: %+v, %v", res, err)
		}
		if n := len(b.sink.Messages()); n != 1 {
			t.Fatalf("%d emails, want the first reminder once", n)
		}
	})
}

// TestReminderRecordedTaskDecidesByPolicyNow: the recorded task decides when it runs by
// the policy then, whatever its time. Run by hand before its time, it sends nothing and
// asks to run again at it, without spending a retry. At its time under a grace made
// longer without moving it, it queues itself again for the break plus the new grace and
// the record follows. Run in the second its TaskID names but a moment before the
// recorded instant (reminder 2, timed from a send at a fraction of a second), it sends.
func TestReminderRecordedTaskDecidesByPolicyNow(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		b := setupReminders(t, st, nil)
		t0 := time.Date(2031, 3, 4, 10, 0, 0, 0, time.UTC)
		b.clock.set(t0)
		b.reasons(t, calBroken)
		b.clock.set(t0.Add(time.Second))
		b.notify(t, t0)
		first := t0.Add(5 * time.Minute)

		b.clock.set(t0.Add(2 * time.Minute))
		res, err := b.svc.FollowUp(t.Context(), b.org.ID, b.rep.ID, 1, first)
		var early *reminders.EarlyError
		if !errors.As(err, &early) || early.RetryAfter() != 3*time.Minute || len(res.Sent) != 0 {
			t.Fatalf("run before its time: %+v, %v; want an EarlyError asking for 3m", res, err)
		}

		// Stored without the Retimer (as when Redis failed during the change).
		if err := st.SetReminderSettings(t.Context(), b.org.ID, reminders.Settings{Grace: 20 * time.Minute}, b.clock.now()); err != nil {
			t.Fatal(err)
		}
		later := t0.Add(20 * time.Minute)
		res, err = b.runFollowUp(t, first, 1, first)
		if err != nil || res.Stale || len(res.Sent) != 0 || !res.Decision.Next.Equal(later) {
			t.Fatalf("the recorded task under a longer grace: %+v, %v; want it queued again for %s", res, err, later)
		}
		b.recorded(t, 1, later)
		if n := len(b.sink.Messages()); n != 0 {
			t.Fatalf("%d emails before the new grace has passed", n)
		}

		sent := later.Add(400 * time.Millisecond)
		if res, err := b.runFollowUp(t, sent, 1, later); err != nil || len(res.Sent) != 1 {
			t.Fatalf("the re-timed reminder: %+v, %v", res, err)
		}
		second := sent.Add(24 * time.Hour)
		b.recorded(t, 2, second)
		if res, err := b.runFollowUp(t, second.Truncate(time.Second), 2, second); err != nil || len(res.Sent) != 1 || res.Sent[0].Sequence != 2 {
			t.Fatalf("reminder 2 run in its second, before its instant: %+v, %v", res, err)
		}
		if n := len(b.sink.Messages()); n != 2 {
			t.Fatalf("%d emails, want reminders 1 and 2", n)
		}
	})
}

// TestReminderFollowUpsThroughTheWorker: a real worker runs two follow-ups of the
// recorded reminder 1, both due: the recorded one, queued before follow-ups carried their
// time in the payload (its TaskID tells it), and a stale copy a minute earlier. Whichever
// runs first, the rep gets reminder 1 exactly once and the record moves on to reminder 2.
func TestReminderFollowUpsThroughTheWorker(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		b := setupReminders(t, st, nil)
		svc, err := reminders.New(reminders.Config{Store: st, Mailer: email.ReminderMailer(b.mailer, ""),
			Links: mustLinks(t, st), Queue: b.queue}) // the wall clock: Asynq runs the tasks by it
		if err != nil {
			t.Fatal(err)
		}
		// No quiet hours: the wall clock's hour must not matter.
		if err := st.SetReminderSettings(t.Context(), b.org.ID, reminders.Settings{QuietStart: 1, QuietEnd: 1}, time.Now()); err != nil {
			t.Fatal(err)
		}
		if err := st.SetActionRequired(t.Context(), b.org.ID, b.rep.ID, []directory.ActionReason{calBroken}, time.Now()); err != nil {
			t.Fatal(err)
		}
		due := time.Now().Add(-time.Second).Truncate(time.Second)
		if err := st.SetReminderQueued(t.Context(), b.org.ID, b.rep.ID, reminders.Queued{Sequence: 1, At: due, Noticed: due.Add(-5 * time.Minute)}, due); err != nil {
			t.Fatal(err)
		}
		payload, err := json.Marshal(map[string]any{"org_id": b.org.ID, "membership_id": b.rep.ID, "sequence": 1})
		if err != nil {
			t.Fatal(err)
		}
		recorded := jobs.TaskIDRemindersFollowUp(b.rep.ID, 1, due)
		stale := jobs.TaskIDRemindersFollowUp(b.rep.ID, 1, due.Add(-time.Minute))
		client := asynq.NewClient(b.opt)
		t.Cleanup(func() { _ = client.Close() })
		if _, err := client.EnqueueContext(t.Context(), asynq.NewTask(jobs.TypeRemindersNotify, payload), asynq.Queue(jobs.QueueLow),
			asynq.TaskID(recorded), asynq.Retention(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if err := b.queue.FollowUp(t.Context(), b.org.ID, b.rep.ID, 1, due.Add(-time.Minute)); err != nil {
			t.Fatal(err)
		}

		w, err := worker.New(worker.Params{Redis: b.opt, Logger: zerolog.Nop(), Registerer: prometheus.NewRegistry(),
			Concurrency: 2, TaskCheckInterval: 50 * time.Millisecond, DelayedTaskCheckInterval: 100 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		if err := worker.Register(w, complete(t, worker.Services{Reminders: svc})); err != nil {
			t.Fatal(err)
		}
		start(t, w)
		deadline := time.Now().Add(10 * time.Second)
		for _, id := range []string{recorded, stale} {
			for {
				info, err := b.inspector.GetTaskInfo(jobs.QueueLow, id)
				if err == nil && info.State == asynq.TaskStateCompleted {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("task %s did not complete: %+v, %v", id, info, err)
				}
				time.Sleep(50 * time.Millisecond)
			}
		}
		if msgs := b.sink.Messages(); len(msgs) != 1 || msgs[0].MessageID != reminders.MessageID(b.rep.ID, 1) {
			t.Fatalf("%d emails, want reminder 1 once", len(msgs))
		}
		mr, err := st.MemberReminders(t.Context(), b.org.ID, []string{b.rep.ID})
		if q := mr[b.rep.ID].Queued; err != nil || q.Sequence != 2 {
			t.Fatalf("the record after both ran: %+v, %v; want reminder 2", q, err)
		}
	})
}

// TestReminderRecordedTaskCrashIsNotResent: the recorded task dies after the SMTP server
// accepted the reminder, before the send is recorded. Its retry is still the task the
// record names, and sends nothing: the attempt is settled unconfirmed and the record
// moves on to reminder 2, so the copy the retry leaves behind is stale.
func TestReminderRecordedTaskCrashIsNotResent(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		cm := &crashingMailer{crash: true}
		b := setupReminders(t, st, cm)
		cm.real = email.ReminderMailer(b.mailer, "")
		t0 := time.Date(2031, 3, 4, 10, 0, 0, 0, time.UTC)
		b.clock.set(t0)
		b.reasons(t, calBroken)
		b.clock.set(t0.Add(time.Second))
		b.notify(t, t0)
		first := t0.Add(5 * time.Minute)

		b.clock.set(first)
		func() {
			defer func() {
				if p := recover(); p != (crashed{}) {
					t.Fatalf("want the simulated crash, got %v", p)
				}
			}()
			_, _ = b.svc.FollowUp(t.Context(), b.org.ID, b.rep.ID, 1, first)
		}()
		res, err := b.runFollowUp(t, first.Add(reminders.StaleAttempt), 1, first) // Asynq's retry
		if err != nil || res.Stale || len(res.Sent) != 0 || len(res.Settled) != 1 {
			t.Fatalf("the retry after the crash: %+v, %v; want the attempt settled, nothing sent", res, err)
		}
		b.recorded(t, 2, first.Add(24*time.Hour))
		if err := b.queue.FollowUp(t.Context(), b.org.ID, b.rep.ID, 1, first); err != nil {
			t.Fatal(err)
		}
		if res, err := b.runFollowUp(t, first.Add(time.Hour), 1, first); err != nil || !res.Stale {
			t.Fatalf("another retry: %+v, %v; want it stale", res, err)
		}
		if n := len(b.sink.Messages()); n != 1 {
			t.Fatalf("%d emails, want the one the crashed run handed over", n)
		}
	})
}
