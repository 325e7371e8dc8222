package worker_test

import (
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"tether/jobs"
	"tether/sync/store"
	"tether/sync/store/storetest"
	"tether/worker"
)

// A reminder the notify queued (and recorded) is lost with Redis (restarted without
// persistence): the reconciler queues it again under its TaskID, at its time, once
// however often it runs; a deactivated member's is left alone.
func TestReconcilerRequeuesLostReminder(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		b := setupReminders(t, st, nil)
		t0 := b.clock.now()
		b.reasons(t, calBroken)
		b.clock.set(t0.Add(time.Minute))
		res := b.notify(t, t0)
		if len(res.Sent) != 0 || res.Decision.Next.IsZero() {
			t.Fatalf("within the grace: %+v", res)
		}
		id := jobs.TaskIDRemindersFollowUp(b.rep.ID, 1, res.Decision.Next)
		if _, err := b.inspector.GetTaskInfo(jobs.QueueLow, id); err != nil {
			t.Fatalf("the first reminder's task %s: %v", id, err)
		}
		c := redis.NewClient(&redis.Options{Addr: b.opt.Addr, DB: b.opt.DB})
		defer c.Close()
		if err := c.FlushDB(t.Context()).Err(); err != nil {
			t.Fatal(err)
		}

		client := asynq.NewClient(b.opt)
		t.Cleanup(func() { _ = client.Close() })
		u := unused{t}
		rec := &worker.Reconciler{Store: st, Queue: client, Inspector: b.inspector, Imports: unusedImports{u}, Invites: u,
			Audits: u, Logger: zerolog.Nop(), PageSize: 3}
		if got, err := rec.Reconcile(t.Context()); err != nil || got.Reminders != 1 {
			t.Fatalf("reconcile after the loss: %+v %v, want 1 reminder requeued", got, err)
		}
		// Its TaskID names the member, the sequence and the time; the fake clock's time is
		// long past, so Redis holds it ready to run.
		info, err := b.inspector.GetTaskInfo(jobs.QueueLow, id)
		if err != nil || info.State != asynq.TaskStatePending || info.Type != jobs.TypeRemindersNotify {
			t.Fatalf("requeued task %s: %+v %v, want it pending", id, info, err)
		}
		if got, err := rec.Reconcile(t.Context()); err != nil || got.Reminders != 0 || got.RemindersLive != 1 {
			t.Fatalf("second reconcile: %+v %v, want the reminder live and nothing requeued", got, err)
		}

		if err := c.FlushDB(t.Context()).Err(); err != nil {
			t.Fatal(err)
		}
		if _, err := st.DeactivateMembership(t.Context(), b.org.ID, b.rep.ID, b.clock.now()); err != nil {
			t.Fatal(err)
		}
		if got, err := rec.Reconcile(t.Context()); err != nil || got.Reminders+got.RemindersLive != 0 {
			t.Fatalf("reconcile after deactivation: %+v %v, want the member left alone", got, err)
		}
	})
}
