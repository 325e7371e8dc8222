package main

import (
	"testing"
	"time"

	"tether/sync/reminders"
)

// The suite's reminder bound is the policy run forward: one at the grace, then 1, 3 and 7
// days after the first, then weekly, never two within a day.
func TestAllowedRemindersFollowsThePolicy(t *testing.T) {
	from := time.Date(2026, 3, 2, 23, 0, 0, 0, time.UTC) // inside default quiet hours: ignored
	def := reminders.Settings{}
	fast := reminders.Settings{Grace: 20 * time.Second}
	for _, c := range []struct {
		name string
		s    reminders.Settings
		span time.Duration
		want int
	}{
		{"before the grace", def, 4 * time.Minute, 0},
		{"at the grace", def, 5 * time.Minute, 1},
		{"a fault run", fast, 10 * time.Minute, 1},
		{"a day after the first", fast, 24*time.Hour + 20*time.Second, 2},
		{"three days", fast, 72*time.Hour + 20*time.Second, 3},
		{"a week and a week", fast, 14*24*time.Hour + 20*time.Second, 5},
	} {
		if got := allowedReminders(c.s, from, from.Add(c.span)); got != c.want {
			t.Errorf("%s: %d reminders allowed over %s, want %d", c.name, got, c.span, c.want)
		}
	}
}

func TestMemberRemindersFlagsWhatThePolicyForbids(t *testing.T) {
	at := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	rem := func(seq int, d time.Duration) reminders.Reminder {
		return reminders.Reminder{Channel: reminders.ChannelEmail, Kind: reminders.KindReminder, Sequence: seq, SentAt: at.Add(d)}
	}
	admin := func(seq int, key string) reminders.Reminder {
		return reminders.Reminder{Channel: reminders.ChannelEmail, Kind: reminders.KindAdmin, Sequence: seq, AdminKey: key, SentAt: at}
	}
	s := reminders.Settings{}
	if n, over, gaps, rep, extra := memberReminders([]reminders.Reminder{rem(1, 0), admin(2, "k1"), admin(3, "k2")}, s, 1); n != 1 || over+gaps+rep+extra != 0 {
		t.Errorf("one reminder and two distinct admin alerts: %d reminded, %d over, %d gaps, %d repeats, %d extra; want 1 and nothing flagged", n, over, gaps, rep, extra)
	}
	// Two reminders an hour apart (a duplicate send under a new sequence) break both the
	// count and the gap; the same admin alert twice is a repeat.
	n, over, gaps, rep, _ := memberReminders([]reminders.Reminder{rem(2, time.Hour), rem(1, 0), admin(3, "k1"), admin(4, "k1")}, s, 1)
	if n != 2 || over != 1 || gaps != 1 || rep != 1 {
		t.Errorf("two reminders an hour apart and a repeated alert: %d reminded, %d over, %d gaps, %d repeats; want 2, 1, 1, 1", n, over, gaps, rep)
	}
	allSet := reminders.Reminder{Channel: reminders.ChannelEmail, Kind: reminders.KindAllSet, Sequence: 5}
	if _, _, _, _, extra := memberReminders([]reminders.Reminder{allSet}, s, 1); extra != 1 {
		t.Errorf("an all-set note without a reminder: %d extra, want 1", extra)
	}
	slack := rem(2, time.Minute)
	slack.Channel = reminders.ChannelSlack
	if n, _, gaps, _, _ := memberReminders([]reminders.Reminder{rem(1, 0), slack}, s, 1); n != 1 || gaps != 0 {
		t.Errorf("a Slack copy of the email counted: %d reminded, %d gaps", n, gaps)
	}
}

func TestCallFiguresCountOnlyWhatTheBreakCost(t *testing.T) {
	broke := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	m := Manifest{Connections: []Seeded{
		{ConnID: "c1", GrantID: "g1", Kind: "zoom"},
		{ConnID: "c2", GrantID: "g2", Kind: "google_calendar"},
		{ConnID: "c3", GrantID: "g3", Kind: "salesforce"}, // healthy: never counted
	}}
	f := Fates{Revoked: []string{"c1"}, Disabled: []string{"c2"}, BrokenAt: broke, Baseline: map[string]int64{"c1": 40, "c2": 7}}
	b := callFigures(m, f, map[string]int64{"g1": 42, "g2": 13, "g3": 900}, broke.Add(10*time.Minute))
	if b.n != 2 || b.max != 6 || b.over != 1 || b.allowed != CallsPerDay {
		t.Fatalf("got %d broken, most %d, %d over, budget %d; want 2, 6, 1, %d", b.n, b.max, b.over, b.allowed, CallsPerDay)
	}
	figs := b.figures()
	if !figs[0].bad || !figs[1].bad {
		t.Errorf("a connection over the budget must fail the run: %+v", figs)
	}
	if got := allowedCalls(49 * time.Hour); got != 3*CallsPerDay {
		t.Errorf("budget over 49 h: %d, want %d", got, 3*CallsPerDay)
	}
}
