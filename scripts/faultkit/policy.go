package main

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"tether/sync/directory"
	"tether/sync/reminders"
	"tether/sync/store"
)

// CallsPerDay is the daily budget of provider calls of a connection that stays broken:
// the call that found it broken and a probe every 6 hours (connections.Policy.ProbeEvery)
// make 5.
const CallsPerDay = 5

// allowedCalls is the budget of a broken connection over span: CallsPerDay for each day
// begun.
func allowedCalls(span time.Duration) int64 {
	days := int64(span/(24*time.Hour)) + 1
	return CallsPerDay * days
}

// brokenCalls are the provider requests each broken connection cost since its break
// (from the sandbox's per-grant request counter, minus what chaos read just before).
type brokenCalls struct {
	n, over   int
	max, sum  int64
	worst     string
	allowed   int64
	perConnID map[string]int64
}

func callFigures(m Manifest, f Fates, byGrant map[string]int64, now time.Time) brokenCalls {
	out := brokenCalls{allowed: allowedCalls(now.Sub(f.BrokenAt)), perConnID: map[string]int64{}}
	broken := set(append(append([]string{}, f.Revoked...), f.Disabled...))
	for _, s := range m.Connections {
		if !broken[s.ConnID] {
			continue
		}
		c := byGrant[s.GrantID] - f.Baseline[s.ConnID]
		out.perConnID[s.ConnID] = c
		out.n++
		out.sum += c
		if c > out.max {
			out.max, out.worst = c, fmt.Sprintf("%s %s (grant %s)", s.Kind, s.ConnID, s.GrantID)
		}
		if c > out.allowed {
			out.over++
		}
	}
	return out
}

func (b brokenCalls) figures() []figure {
	mean := 0.0
	if b.n > 0 {
		mean = float64(b.sum) / float64(b.n)
	}
	note := fmt.Sprintf("of %d broken connections, %.1f on average; budget %d (%d a day)", b.n, mean, b.allowed, CallsPerDay)
	if b.worst != "" {
		note += "; most: " + b.worst
	}
	return []figure{
		{name: "provider calls per broken connection since its break (most)", value: int(b.max), want: fmt.Sprintf("<= %d", b.allowed),
			bad: b.max > b.allowed, final: true, note: note},
		{name: "broken connections over the daily call budget", value: b.over, want: "= 0", bad: b.over != 0, final: true},
	}
}

// allowedReminders is the most reminders the policy s lets a rep get between from (the
// earliest break) and to, with a reason the rep can fix all along: Decide run forward
// from the break. Quiet hours are left out, since they only ever delay.
func allowedReminders(s reminders.Settings, from, to time.Time) int {
	s = s.Normalize()
	s.QuietStart, s.QuietEnd = 1, 1 // equal non-zero: none
	reason := []directory.ActionReason{{Requirement: "calendar", State: "needs_reconnect", Actor: directory.ActorRep}}
	var hist []reminders.Sent
	n := 0
	for t := from; !t.After(to) && n < 1000; {
		d := reminders.Decide(reminders.Input{Now: t, Settings: s, Location: time.UTC, Reasons: reason, NoticedAt: from, History: hist})
		if d.Rep == reminders.KindReminder {
			hist = append(hist, reminders.Sent{Kind: reminders.KindReminder, Sequence: d.Sequence, At: t})
			n++
		}
		if d.Next.IsZero() || !d.Next.After(t) {
			break
		}
		t = d.Next
	}
	return n
}

// memberReminders judges one membership's records against the policy: how many
// reminders beyond what it allows, two reminders closer than its minimum gap, an admin
// alert repeated for the same problems, more all-set notes than streaks.
func memberReminders(rs []reminders.Reminder, s reminders.Settings, allowed int) (reminded, over, gaps, adminRepeats, allSetExtra int) {
	s = s.Normalize()
	var email []reminders.Reminder
	for _, r := range rs {
		if r.Channel == reminders.ChannelEmail || r.Channel == "" {
			email = append(email, r)
		}
	}
	sort.Slice(email, func(i, j int) bool { return email[i].Sequence < email[j].Sequence })
	var last time.Time
	lastAdmin := ""
	allSets := 0
	for _, r := range email {
		switch r.Kind {
		case reminders.KindReminder, "":
			if reminded > 0 && r.SentAt.Sub(last) < s.MinGap {
				gaps++
			}
			reminded++
			last = r.SentAt
		case reminders.KindAllSet:
			allSets++
		case reminders.KindAdmin:
			if r.AdminKey != "" && r.AdminKey == lastAdmin {
				adminRepeats++
			}
			lastAdmin = r.AdminKey
		}
	}
	if reminded > allowed {
		over = reminded - allowed
	}
	if allSets > reminded {
		allSetExtra = allSets - reminded
	}
	return
}

// repFixable: the membership has a counted reason its rep can fix, so a reminder is owed.
func repFixable(m directory.Membership) bool {
	for _, r := range m.ActionRequired {
		if !r.Recommended && r.Actor == directory.ActorRep {
			return true
		}
	}
	return false
}

// reminderFigures reads every membership of the manifest's org: its reminders against the
// org's policy over the run, and each reminder email's copies at the sink.
func reminderFigures(ctx context.Context, st *store.Store, m Manifest, f Fates, msgs []mailSummary, now time.Time) ([]figure, []string, error) {
	settings, err := st.ReminderSettings(ctx, m.ConnOrg)
	if err != nil {
		return nil, nil, err
	}
	from := f.BrokenAt
	if from.IsZero() {
		from = f.Started
	}
	allowed := allowedReminders(settings, from, now)
	members := map[string]bool{}
	for _, s := range m.Connections {
		members[s.MembershipID] = true
	}
	var reminded, owed, missing, over, gaps, adminRepeats, allSetExtra, unconfirmed, records int
	var examples []string
	for id := range members {
		mem, err := st.GetMembership(ctx, m.ConnOrg, id)
		if err != nil {
			return nil, nil, err
		}
		rs, err := st.ListReminders(ctx, m.ConnOrg, id, 0)
		if err != nil {
			return nil, nil, err
		}
		records += len(rs)
		for _, r := range rs {
			if r.Status == reminders.StatusUnconfirmed {
				unconfirmed++
			}
		}
		n, o, g, a, x := memberReminders(rs, settings, allowed)
		if n > 0 {
			reminded++
		}
		if o > 0 || g > 0 || a > 0 || x > 0 {
			if len(examples) < 5 {
				examples = append(examples, fmt.Sprintf("membership %s: %d reminders (policy allows %d), %d closer than %s, %d repeated admin alerts, %d all-set notes too many",
					id, n, allowed, g, settings.Normalize().MinGap, a, x))
			}
		}
		over += o
		gaps += g
		adminRepeats += a
		allSetExtra += x
		if repFixable(mem) {
			owed++
			if n == 0 {
				missing++
				if len(examples) < 10 {
					examples = append(examples, fmt.Sprintf("membership %s needs action by its rep (%s) and got no reminder", id, reasonsOf(mem)))
				}
			}
		}
	}
	// Every reminder, all-set note and admin alert carries a Message-ID per (membership,
	// sequence): a copy at the sink is a duplicate.
	byID := map[string]int{}
	for _, mm := range msgs {
		if strings.HasPrefix(mm.MessageID, "reminder-") { // reminders.MessageID, every kind
			byID[mm.MessageID]++
		}
	}
	emails, dups := 0, 0
	for _, k := range byID {
		emails += k
		dups += k - 1
	}
	s := settings.Normalize()
	policy := fmt.Sprintf("grace %s, steps %s, min gap %s", s.Grace, durations(s.Steps), s.MinGap)
	return []figure{
		{name: "reminders beyond the policy (per membership, over the run)", value: over, want: "= 0", bad: over != 0, final: true,
			note: fmt.Sprintf("the policy (%s) allows %d per rep from the first break to now (%s)", policy, allowed, now.Sub(from).Round(time.Second))},
		{name: "reminders to one rep closer than the minimum gap", value: gaps, want: "= 0", bad: gaps != 0, final: true},
		{name: "admin alerts repeated for the same problems; extra all-set notes", value: adminRepeats + allSetExtra, want: "= 0", bad: adminRepeats+allSetExtra != 0, final: true},
		{name: "memberships owed a reminder (rep can fix) that got none", value: missing, want: "= 0", bad: missing != 0,
			note: fmt.Sprintf("%d owed one, %d memberships reminded, %d records (%d unconfirmed: outcome unknown after a kill, never re-sent)", owed, reminded, records, unconfirmed)},
		{name: "duplicate reminder emails at the sink (same Message-ID)", value: dups, want: "= 0", bad: dups != 0, final: true,
			note: fmt.Sprintf("%d reminder, all-set and admin emails received", emails)},
	}, examples, nil
}

func reasonsOf(m directory.Membership) string {
	var out []string
	for _, r := range m.ActionRequired {
		if !r.Recommended {
			out = append(out, r.Requirement+" "+r.State+" ("+r.Actor+")")
		}
	}
	return strings.Join(out, ", ")
}

func durations(ds []time.Duration) string {
	var out []string
	for _, d := range ds {
		out = append(out, d.String())
	}
	return strings.Join(out, ",")
}
