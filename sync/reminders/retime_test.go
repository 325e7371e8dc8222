package reminders

import (
	"testing"
	"time"

	"tether/sync/directory"
)

// TestRetimed: when a new policy has a queued reminder go, as the notify would queue it.
func TestRetimed(t *testing.T) {
	noQuiet := Settings{QuietStart: noQuiet, QuietEnd: noQuiet}
	sentOne := []Reminder{{Channel: ChannelEmail, Kind: KindReminder, Sequence: 1, SentAt: t0}}
	evening := time.Date(2026, 3, 2, 19, 58, 0, 0, time.UTC) // grace ends in the default quiet hours
	morning := time.Date(2026, 3, 3, 8, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		name      string
		reasons   []directory.ActionReason
		sent      []Reminder
		q         Queued // as recorded
		prev, now Settings
		at        time.Time // the time now, for Retime
		want      time.Time // zero: not moved
	}{
		// A first reminder held by quiet hours goes its break plus the new grace.
		{name: "quiet hours dropped", reasons: []directory.ActionReason{repCal},
			q: Queued{Sequence: 1, At: morning, Noticed: evening}, now: Settings{Grace: 10 * time.Minute, QuietStart: noQuiet.QuietStart, QuietEnd: noQuiet.QuietEnd},
			at: evening.Add(time.Minute), want: evening.Add(10 * time.Minute)},
		// Without the break's time recorded (before migration 00022), the old time less
		// the old grace stands for it.
		{name: "longer grace, break unrecorded", reasons: []directory.ActionReason{repCal},
			q: Queued{Sequence: 1, At: t0.Add(5 * time.Minute)}, now: Settings{Grace: 30 * time.Minute},
			at: t0.Add(time.Minute), want: t0.Add(30 * time.Minute)},
		// Reminder 2 follows the steps from the first, the min gap still holding.
		{name: "longer steps", reasons: []directory.ActionReason{repCal}, sent: sentOne,
			q: Queued{Sequence: 2, At: t0.Add(day)}, now: Settings{Steps: []time.Duration{48 * time.Hour}},
			at: t0.Add(time.Hour), want: t0.Add(48 * time.Hour)},
		// ... and the quiet hours: 22:00 waits for 08:00.
		{name: "longer steps into quiet hours", reasons: []directory.ActionReason{repCal}, sent: sentOne,
			q: Queued{Sequence: 2, At: t0.Add(day)}, now: Settings{Steps: []time.Duration{36 * time.Hour}},
			at: t0.Add(time.Hour), want: morning.Add(day)},
		{name: "shorter steps, min gap holds", reasons: []directory.ActionReason{repCal}, sent: sentOne,
			q: Queued{Sequence: 2, At: t0.Add(day)}, now: Settings{Steps: []time.Duration{12 * time.Hour}},
			at: t0.Add(time.Hour), want: t0.Add(day)},
		// Due by now under the new policy: queued for now.
		{name: "shorter gap, due now", reasons: []directory.ActionReason{repCal}, sent: sentOne,
			q: Queued{Sequence: 2, At: t0.Add(day)}, now: Settings{Steps: []time.Duration{time.Hour}, MinGap: time.Hour},
			at: t0.Add(2 * time.Hour), want: t0.Add(2 * time.Hour)},
		// Fixed, the all-set note waiting for quiet hours goes at once without them.
		{name: "all-set note, quiet hours dropped", sent: sentOne,
			q: Queued{Sequence: 2, At: morning}, now: noQuiet, at: evening.Add(time.Hour), want: evening.Add(time.Hour)},
		// A record that is not the reminder the policy sends next is left to its task.
		{name: "another sequence", reasons: []directory.ActionReason{repCal}, sent: sentOne,
			q: Queued{Sequence: 5, At: t0.Add(day)}, now: Settings{Steps: []time.Duration{36 * time.Hour}}, at: t0.Add(time.Hour)},
		{name: "only the admins' problem", reasons: []directory.ActionReason{adminSF},
			q: Queued{Sequence: 1, At: t0.Add(day)}, now: noQuiet, at: t0.Add(time.Hour)},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := directory.Membership{ID: "m1", OrgID: "o1", Status: directory.MembershipActive, ActionRequired: c.reasons}
			got, ok := retimed(m, c.q, MemberReminders{Sent: c.sent, Queued: c.q}, c.prev, c.now, c.at)
			if ok != !c.want.IsZero() || !got.Equal(c.want) {
				t.Fatalf("retimed %s (%v), want %s", got, ok, c.want)
			}
		})
	}
}
