package reminders_test

import (
	"testing"
	"time"

	"tether/sync/directory"
	"tether/sync/reminders"
)

// Quiet hours end at 08:00 on the wall clock of the rep's zone, across DST changes.
func TestQuietHoursAcrossDST(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	london, err := time.LoadLocation("Europe/London")
	if err != nil {
		t.Fatal(err)
	}
	broken := []directory.ActionReason{{Requirement: "calendar", Kind: "google_calendar", State: "needs_reconnect", Actor: directory.ActorRep}}
	for _, tc := range []struct {
		name string
		loc  *time.Location
		due  time.Time // when the first reminder falls due (noticed + 5 min grace)
		want time.Time // when it goes
	}{
		// 2026-03-08: New York springs forward at 02:00 EST; 00:00 EST is quiet, 08:00 is EDT (12:00 UTC).
		{"spring forward", ny, time.Date(2026, 3, 8, 5, 0, 0, 0, time.UTC), time.Date(2026, 3, 8, 12, 0, 0, 0, time.UTC)},
		// 2026-11-01: New York falls back at 02:00 EDT; 01:30 EDT is quiet, 08:00 is EST (13:00 UTC).
		{"fall back", ny, time.Date(2026, 11, 1, 5, 30, 0, 0, time.UTC), time.Date(2026, 11, 1, 13, 0, 0, 0, time.UTC)},
		// 2026-10-25: London falls back at 02:00 BST; 22:00 BST the evening before is quiet.
		{"evening before the change", london, time.Date(2026, 10, 24, 21, 0, 0, 0, time.UTC), time.Date(2026, 10, 25, 8, 0, 0, 0, time.UTC)},
		// Outside quiet hours nothing moves.
		{"daytime", ny, time.Date(2026, 3, 9, 15, 0, 0, 0, time.UTC), time.Date(2026, 3, 9, 15, 0, 0, 0, time.UTC)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			noticed := tc.due.Add(-reminders.DefaultGrace)
			d := reminders.Decide(reminders.Input{Now: noticed, Settings: reminders.DefaultSettings(), Location: tc.loc,
				Reasons: broken, NoticedAt: noticed})
			if d.Rep != "" || !d.Next.Equal(tc.want) {
				t.Fatalf("before it is due: rep %q, next %s; want next %s", d.Rep, d.Next.UTC(), tc.want)
			}
			// At the moment it is due the reminder goes (never dropped), not before.
			d = reminders.Decide(reminders.Input{Now: tc.want, Settings: reminders.DefaultSettings(), Location: tc.loc,
				Reasons: broken, NoticedAt: noticed})
			if d.Rep != reminders.KindReminder {
				t.Fatalf("at %s: %q (%s), want the reminder", tc.want, d.Rep, d.Why)
			}
		})
	}
}
