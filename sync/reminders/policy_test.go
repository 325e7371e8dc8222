package reminders

import (
	"testing"
	"time"

	"tether/sync/directory"
)

var (
	t0      = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC) // a Monday, 10:00 UTC: outside quiet hours
	day     = 24 * time.Hour
	repCal  = directory.ActionReason{Requirement: "calendar", Kind: "google_calendar", State: "needs_reconnect", Actor: directory.ActorRep}
	repSF   = directory.ActionReason{Requirement: "salesforce", Kind: "salesforce", State: "missing", Actor: directory.ActorRep}
	adminSF = directory.ActionReason{Requirement: "salesforce", Kind: "salesforce", State: "needs_admin", Code: "INACTIVE_USER", Actor: directory.ActorAdmin}
	opZoom  = directory.ActionReason{Requirement: "conferencing", Kind: "zoom", State: "needs_admin", Actor: directory.ActorOperator}
	recZoom = directory.ActionReason{Requirement: "conferencing", Kind: "zoom", State: "missing", Actor: directory.ActorRep, Recommended: true}
)

// sim is a fake clock driving Decide the way the notify task does: each decision's send
// is recorded, and the clock jumps to the decision's Next.
type sim struct {
	in    Input
	sends []Sent
}

func (s *sim) step() Decision {
	s.in.History = s.sends
	d := Decide(s.in)
	if d.Rep != "" {
		s.sends = append(s.sends, Sent{Kind: d.Rep, Sequence: d.Sequence, At: s.in.Now})
	}
	if d.Admin {
		seq := d.Sequence
		if d.Rep != "" {
			seq++
		}
		s.sends = append(s.sends, Sent{Kind: KindAdmin, Sequence: seq, At: s.in.Now, AdminKey: d.AdminKey})
	}
	return d
}

func TestDecideScheduleOneThreeSevenThenWeekly(t *testing.T) {
	s := &sim{in: Input{Now: t0, NoticedAt: t0, Reasons: []directory.ActionReason{repCal, repSF}}}
	want := []time.Duration{5 * time.Minute, 5*time.Minute + day, 5*time.Minute + 3*day, 5*time.Minute + 7*day,
		5*time.Minute + 14*day, 5*time.Minute + 21*day, 5*time.Minute + 28*day}
	var got []time.Duration
	for i := 0; len(got) < len(want) && i < 50; i++ {
		d := s.step()
		if d.Rep == KindReminder {
			got = append(got, s.in.Now.Sub(t0))
			if len(d.RepReasons) != 2 {
				t.Fatalf("reminder %d carries %d reasons, want both", len(got), len(d.RepReasons))
			}
		}
		if d.Next.IsZero() {
			t.Fatalf("after %d reminders nothing more is due, want a next reminder", len(got))
		}
		s.in.Now = d.Next
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("reminder %d sent at +%s, want +%s", i+1, got[i], want[i])
		}
	}
	// Sequences are consecutive and escalation starts at the third.
	for i, h := range s.sends {
		if h.Sequence != i+1 {
			t.Errorf("send %d has sequence %d", i+1, h.Sequence)
		}
	}
}

func TestDecide(t *testing.T) {
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	rem := func(seq int, at time.Time) Sent { return Sent{Kind: KindReminder, Sequence: seq, At: at} }
	tests := []struct {
		name string
		in   Input
		// expectations
		rep       Kind
		seq       int
		admin     bool
		next      time.Time // zero: nothing due
		escalated bool
		repN      int // reasons in the rep's reminder
	}{
		{name: "grace not over: wait for it",
			in:  Input{Now: t0.Add(time.Minute), NoticedAt: t0, Reasons: []directory.ActionReason{repCal}},
			seq: 1, next: t0.Add(5 * time.Minute)},
		{name: "grace over: first reminder, next one a day later",
			in:  Input{Now: t0.Add(5 * time.Minute), NoticedAt: t0, Reasons: []directory.ActionReason{repCal}},
			rep: KindReminder, seq: 1, repN: 1, next: t0.Add(5*time.Minute + day)},
		{name: "org grace of one hour",
			in:  Input{Now: t0.Add(10 * time.Minute), NoticedAt: t0, Settings: Settings{Grace: time.Hour}, Reasons: []directory.ActionReason{repCal}},
			seq: 1, next: t0.Add(time.Hour)},
		{name: "the follow-up queued for the end of an hour's grace (no noticed time) sends",
			in:  Input{Now: t0.Add(time.Hour), Settings: Settings{Grace: time.Hour}, Reasons: []directory.ActionReason{repCal}},
			rep: KindReminder, seq: 1, repN: 1, next: t0.Add(time.Hour + day)},
		{name: "recommended only: nothing",
			in:  Input{Now: t0.Add(time.Hour), NoticedAt: t0, Reasons: []directory.ActionReason{recZoom}},
			seq: 1},
		{name: "fixed before any reminder: nothing, no all-set",
			in:  Input{Now: t0.Add(time.Hour), NoticedAt: t0},
			seq: 1},
		{name: "fixed after reminders: one all-set note",
			in:  Input{Now: t0.Add(2 * day), History: []Sent{rem(1, t0), rem(2, t0.Add(day))}},
			rep: KindAllSet, seq: 3},
		{name: "all-set already sent: nothing more",
			in:  Input{Now: t0.Add(3 * day), History: []Sent{rem(1, t0), {Kind: KindAllSet, Sequence: 2, At: t0.Add(day)}}},
			seq: 3},
		{name: "broken again after all-set: a new streak starts with the grace",
			in: Input{Now: t0.Add(3 * day), NoticedAt: t0.Add(3*day - 10*time.Minute), Reasons: []directory.ActionReason{repCal},
				History: []Sent{rem(1, t0), {Kind: KindAllSet, Sequence: 2, At: t0.Add(day)}}},
			rep: KindReminder, seq: 3, repN: 1, next: t0.Add(4 * day)},
		{name: "admin-only problem: admins at once, the rep never",
			in:  Input{Now: t0, NoticedAt: t0, Reasons: []directory.ActionReason{adminSF, opZoom}},
			seq: 1, admin: true},
		{name: "admin problem already reported: not again",
			in: Input{Now: t0.Add(day), NoticedAt: t0, Reasons: []directory.ActionReason{adminSF},
				History: []Sent{{Kind: KindAdmin, Sequence: 1, At: t0, AdminKey: AdminKey([]directory.ActionReason{adminSF})}}},
			seq: 2},
		{name: "a new admin problem is reported",
			in: Input{Now: t0.Add(day), NoticedAt: t0, Reasons: []directory.ActionReason{adminSF, opZoom},
				History: []Sent{{Kind: KindAdmin, Sequence: 1, At: t0, AdminKey: AdminKey([]directory.ActionReason{adminSF})}}},
			seq: 2, admin: true},
		{name: "mixed: the rep hears only of what the rep can fix, the admins of the rest",
			in:  Input{Now: t0.Add(5 * time.Minute), NoticedAt: t0, Reasons: []directory.ActionReason{adminSF, repCal}},
			rep: KindReminder, seq: 1, repN: 1, admin: true, next: t0.Add(5*time.Minute + day)},
		{name: "third reminder escalates to the admins' digest",
			in: Input{Now: t0.Add(3 * day), Reasons: []directory.ActionReason{repCal},
				History: []Sent{rem(1, t0), rem(2, t0.Add(day))}},
			rep: KindReminder, seq: 3, repN: 1, escalated: true, next: t0.Add(7 * day)},
		{name: "never two in a day: a step closer than the gap waits for it",
			in: Input{Now: t0.Add(day), Settings: Settings{Steps: []time.Duration{time.Hour, 2 * time.Hour}}, Reasons: []directory.ActionReason{repCal},
				History: []Sent{rem(1, t0), rem(2, t0.Add(5*time.Hour))}},
			seq: 3, next: t0.Add(29 * time.Hour)},
		{name: "quiet hours delay the first reminder to their end (UTC)",
			in:  Input{Now: t0.Add(11 * time.Hour), NoticedAt: t0.Add(11 * time.Hour), Reasons: []directory.ActionReason{repCal}},
			seq: 1, next: time.Date(2026, 3, 3, 8, 0, 0, 0, time.UTC)},
		{name: "quiet hours end: delivered",
			in: Input{Now: time.Date(2026, 3, 3, 8, 0, 0, 0, time.UTC), NoticedAt: t0.Add(11 * time.Hour),
				Reasons: []directory.ActionReason{repCal}},
			rep: KindReminder, seq: 1, repN: 1, next: time.Date(2026, 3, 4, 8, 0, 0, 0, time.UTC)},
		{name: "quiet hours in the rep's zone: 19:30 UTC is 20:30 in Paris",
			in: Input{Now: time.Date(2026, 3, 2, 19, 30, 0, 0, time.UTC), NoticedAt: time.Date(2026, 3, 2, 19, 0, 0, 0, time.UTC),
				Location: paris, Reasons: []directory.ActionReason{repCal}},
			seq: 1, next: time.Date(2026, 3, 3, 7, 0, 0, 0, time.UTC)},
		{name: "the org's zone when the rep's is unknown",
			in: Input{Now: time.Date(2026, 3, 2, 19, 30, 0, 0, time.UTC), NoticedAt: time.Date(2026, 3, 2, 19, 0, 0, 0, time.UTC),
				Settings: Settings{TimeZone: "Europe/Paris"}, Reasons: []directory.ActionReason{repCal}},
			seq: 1, next: time.Date(2026, 3, 3, 7, 0, 0, 0, time.UTC)},
		{name: "all-set note waits out quiet hours too",
			in:  Input{Now: t0.Add(12 * time.Hour), History: []Sent{rem(1, t0)}},
			seq: 2, next: time.Date(2026, 3, 3, 8, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Decide(tt.in)
			if d.Rep != tt.rep || d.Sequence != tt.seq || d.Admin != tt.admin || !d.Next.Equal(tt.next) ||
				d.Escalated != tt.escalated || (d.Rep == KindReminder && len(d.RepReasons) != tt.repN) {
				t.Errorf("Decide = rep %q seq %d admin %v next %s escalated %v rep reasons %d (%s);\n want rep %q seq %d admin %v next %s escalated %v rep reasons %d",
					d.Rep, d.Sequence, d.Admin, d.Next, d.Escalated, len(d.RepReasons), d.Why,
					tt.rep, tt.seq, tt.admin, tt.next, tt.escalated, tt.repN)
			}
			for _, r := range d.RepReasons {
				if r.Actor != directory.ActorRep {
					t.Errorf("the rep is told of %s (actor %s)", r.Requirement, r.Actor)
				}
			}
		})
	}
}

func TestSettingsValidate(t *testing.T) {
	if err := DefaultSettings().Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	for _, s := range []Settings{{Grace: 2 * time.Hour}, {Steps: []time.Duration{2 * day, day}}, {EscalateAfter: -1},
		{QuietStart: 1500}, {TimeZone: "Mars/Olympus"}} {
		if err := s.Validate(); err == nil {
			t.Errorf("%+v: accepted, want an error", s)
		}
	}
}

// TestAdminAlertOwed: owed while the admins were never told of the admin-only problems as
// they are now; the rep's reasons, the recommended ones and Slack twins do not count.
func TestAdminAlertOwed(t *testing.T) {
	adminCal := directory.ActionReason{Requirement: "calendar", Kind: "google_calendar", State: "needs_admin", Code: "admin_policy_enforced", Actor: directory.ActorAdmin}
	told := func(rs ...directory.ActionReason) Reminder {
		return Reminder{Kind: KindAdmin, Channel: ChannelEmail, Sequence: 1, Status: StatusSent, AdminKey: AdminKey(rs)}
	}
	for _, tc := range []struct {
		name    string
		reasons []directory.ActionReason
		sent    []Reminder
		want    bool
	}{
		{"nothing for an admin", []directory.ActionReason{repCal}, nil, false},
		{"never told", []directory.ActionReason{repCal, adminSF}, nil, true},
		{"told of these", []directory.ActionReason{repCal, adminSF}, []Reminder{told(adminSF)}, false},
		{"told of an earlier set", []directory.ActionReason{adminSF, adminCal}, []Reminder{told(adminSF)}, true},
		{"told, then the set changed back", []directory.ActionReason{adminSF},
			[]Reminder{told(adminSF), {Kind: KindAdmin, Channel: ChannelEmail, Sequence: 2, Status: StatusSent, AdminKey: AdminKey([]directory.ActionReason{adminSF, adminCal})}}, true},
		{"only the Slack twin recorded", []directory.ActionReason{adminSF}, []Reminder{{Kind: KindAdmin, Channel: ChannelSlack, Sequence: 1, AdminKey: AdminKey([]directory.ActionReason{adminSF})}}, true},
		{"only a rep reminder", []directory.ActionReason{adminSF}, []Reminder{{Kind: KindReminder, Channel: ChannelEmail, Sequence: 1}}, true},
	} {
		if got := AdminAlertOwed(tc.reasons, tc.sent); got != tc.want {
			t.Errorf("%s: owed %t, want %t", tc.name, got, tc.want)
		}
	}
}
