package worker_test

import (
	"strings"
	"testing"
	"time"

	"tether/jobs"
	"tether/sync/reminders"
	"tether/sync/store"
	"tether/sync/store/storetest"
)

// nextIsQueued reads the member's view at now and checks that its next reminder is want
// and that the task queued in Redis for that reminder runs then; it returns the view.
func (b *remindBundle) nextIsQueued(t *testing.T, now time.Time, seq int, want time.Time, quiet bool) reminders.View {
	t.Helper()
	b.clock.set(now)
	v, err := b.svc.View(t.Context(), b.org.ID, b.rep.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !v.Next.Equal(want) || v.NextKind != reminders.KindReminder || v.Quiet != quiet {
		t.Fatalf("read at %s: next %s (%s, quiet %v, %q), want %s (quiet %v)", now, v.Next, v.NextKind, v.Quiet, v.Why, want, quiet)
	}
	info, err := b.inspector.GetTaskInfo(jobs.QueueLow, jobs.TaskIDRemindersFollowUp(b.rep.ID, seq, want))
	if err != nil {
		t.Fatalf("read at %s: the view says reminder %d at %s, but no such task is queued: %v", now, seq, want, err)
	}
	if !info.NextProcessAt.Equal(want) {
		t.Fatalf("reminder %d: the view says %s, the task runs at %s", seq, want, info.NextProcessAt)
	}
	return v
}

// TestReminderViewNextIsTheQueuedTask: the member's next reminder, read at different
// times, is the time of the task the notify queued, not the read's time plus the grace;
// a second break within the grace does not move it (the first task still sends); past
// its time and not yet run it is due now; after the send it is the follow-up's.
func TestReminderViewNextIsTheQueuedTask(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		b := setupReminders(t, st, nil)
		// Ahead of the wall clock, so Asynq holds the tasks as scheduled, with their time.
		t0 := time.Date(2031, 3, 4, 10, 0, 0, 0, time.UTC) // no quiet hours near
		b.clock.set(t0)
		b.reasons(t, calBroken)
		b.clock.set(t0.Add(time.Second)) // the worker's batch
		b.notify(t, t0)
		first := t0.Add(5 * time.Minute)
		b.nextIsQueued(t, t0.Add(42*time.Second), 1, first, false)
		b.nextIsQueued(t, t0.Add(4*time.Minute+17*time.Second), 1, first, false)

		b.clock.set(t0.Add(2 * time.Minute))
		b.notify(t, t0.Add(2*time.Minute)) // another break, within the grace
		b.nextIsQueued(t, t0.Add(3*time.Minute), 1, first, false)

		// Past its time and not yet run (the worker is behind): due now, not moved on.
		b.clock.set(first.Add(time.Minute))
		if v, err := b.svc.View(t.Context(), b.org.ID, b.rep.ID); err != nil || v.Due != reminders.KindReminder ||
			!v.Next.Equal(first.Add(time.Minute)) || v.Streak != 1 {
			t.Fatalf("read after the queued time: %+v, %v", v.Summary, err)
		}

		if res, err := b.runFollowUp(t, first, 1, first); err != nil || len(res.Sent) != 1 { // the follow-up runs
			t.Fatalf("the queued reminder: %+v, %v", res, err)
		}
		b.nextIsQueued(t, first.Add(time.Hour), 2, first.Add(24*time.Hour), false)
		v := b.nextIsQueued(t, first.Add(20*time.Hour), 2, first.Add(24*time.Hour), false)
		if v.Why != "reminder 2 of the streak" {
			t.Fatalf("why: %q", v.Why)
		}
	})
}

func TestReminderViewNextInQuietHoursIsTheQueuedTask(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		b := setupReminders(t, st, nil)
		noticed, morning := b.heldByQuietHours(t)
		v := b.nextIsQueued(t, noticed.Add(5*time.Hour), 1, morning, true)
		if v.Why != "quiet hours until 2031-03-05 08:00 UTC" {
			t.Fatalf("why: %q", v.Why)
		}
	})
}

// TestReminderViewBeforeAnyNotify: a member whose break no notify has handled yet has no
// reminder queued, and the view says so instead of promising one a grace from now.
func TestReminderViewBeforeAnyNotify(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		b := setupReminders(t, st, nil)
		b.reasons(t, calBroken)
		v, err := b.svc.View(t.Context(), b.org.ID, b.rep.ID)
		if err != nil || !v.Next.IsZero() || v.Why != "no reminder queued yet: the member's notify has not run (tether members recompute "+b.org.ID+" queues it)" {
			t.Fatalf("view before any notify: %+v, %v", v, err)
		}
	})
}

// TestReminderViewAfterPolicyChange: a reminder the policy change did not move (here no
// Retimer, as when Redis did not answer the change) keeps its time when the org drops
// quiet hours and shortens the grace; the view shows the task's time, not one a new grace
// from the read, and says why. (TestReminderRetimedByPolicyChange moves it.)
func TestReminderViewAfterPolicyChange(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		b := setupReminders(t, st, nil)
		noticed := time.Date(2031, 3, 4, 19, 58, 0, 0, time.UTC)
		b.clock.set(noticed)
		b.reasons(t, calBroken)
		b.clock.set(noticed.Add(time.Second))
		b.notify(t, noticed)
		morning := time.Date(2031, 3, 5, 8, 0, 0, 0, time.UTC)
		grace, none := "10s", "none"
		if _, err := (reminders.SettingsEditor{Store: st}).Update(t.Context(), b.org.ID,
			reminders.SettingsChange{Grace: &grace, QuietHours: &none}); err != nil {
			t.Fatal(err)
		}
		v := b.nextIsQueued(t, noticed.Add(time.Hour), 1, morning, false)
		if !strings.Contains(v.Why, "queued before the org's reminder policy or the member's time zone changed") {
			t.Fatalf("the view must say the queued time is the old policy's: %q", v.Why)
		}
	})
}

// heldByQuietHours breaks the rep's calendar at 19:58 UTC and runs the notify: the first
// reminder, due at the end of the grace (20:03, in the default quiet hours of the org's
// UTC), is queued for 08:00 the next morning. It returns the break's time and that morning.
func (b *remindBundle) heldByQuietHours(t *testing.T) (noticed, morning time.Time) {
	t.Helper()
	noticed = time.Date(2031, 3, 4, 19, 58, 0, 0, time.UTC)
	b.clock.set(noticed)
	b.reasons(t, calBroken)
	b.clock.set(noticed.Add(time.Second))
	b.notify(t, noticed)
	morning = time.Date(2031, 3, 5, 8, 0, 0, 0, time.UTC)
	b.nextIsQueued(t, noticed.Add(time.Minute), 1, morning, true)
	return noticed, morning
}
