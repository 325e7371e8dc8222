package reminders

import (
	"context"
	"errors"
	"fmt"
	"time"

	"tether/sync/directory"
)

// View is what an admin sees of a member's reminders.
type View struct {
	OrgID        string
	MembershipID string
	// Sent is every message, newest first.
	Sent []Reminder
	// SlackFailure is the last Slack message that failed and was left to a retry; zero
	// when none did.
	SlackFailure SlackFailure
	Summary
}

// Summary is a member's reminders at a glance, as the members list shows them.
type Summary struct {
	// Last is the newest message to or about the member, any channel; nil when none.
	Last *Reminder
	// Next is when the next message to the rep is due if nothing changes (now when one is
	// due now); zero when none is.
	Next time.Time
	// NextKind is what goes at Next: a reminder or the all-set note.
	NextKind Kind
	// Due is what would go now (a reminder, the all-set note), empty if nothing.
	Due Kind
	// Quiet is true when Next is the end of the rep's quiet hours.
	Quiet bool
	// Streak is how many reminders the current streak holds; Escalated is true once the
	// rep is on the admins' daily digest.
	Streak    int
	Escalated bool
	// Why says why Next is then, or why nothing is next.
	Why string
}

// ErrUnknownMember is returned by View for a membership the org does not have.
var ErrUnknownMember = errors.New("no such member in this org")

// View returns what was sent to and about the member, and what the policy says comes
// next, read now. Sends nothing.
func (s *Service) View(ctx context.Context, orgID, membershipID string) (View, error) {
	return Viewer{Store: s.c.Store, Now: s.c.Now}.View(ctx, orgID, membershipID)
}

// Viewer reads members' reminders without sending anything: what tether serve and the
// CLI need, with no mailer or link secret.
type Viewer struct {
	Store ViewStore
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

func (vw Viewer) now() time.Time {
	if vw.Now != nil {
		return vw.Now()
	}
	return time.Now()
}

// View returns what was sent to and about the member, and what the policy says comes
// next, read now. Returns an error wrapping ErrUnknownMember for a membership the org
// does not have.
func (vw Viewer) View(ctx context.Context, orgID, membershipID string) (View, error) {
	m, err := vw.Store.GetMembership(ctx, orgID, membershipID)
	if errors.Is(err, directory.ErrNotFound) {
		return View{}, fmt.Errorf("%w: org %s has no member %q (tether members list %s lists them)", ErrUnknownMember, orgID, membershipID, orgID)
	}
	if err != nil {
		return View{}, fmt.Errorf("reminders of member %s of org %s: %w", membershipID, orgID, err)
	}
	sums, sent, err := vw.summaries(ctx, orgID, []directory.Membership{m})
	if err != nil {
		return View{}, err
	}
	return View{OrgID: orgID, MembershipID: m.ID, Sent: sent[m.ID].Sent, SlackFailure: openSlackFailure(sent[m.ID]), Summary: sums[m.ID]}, nil
}

// openSlackFailure is mr's last Slack failure unless a Slack message went out since:
// a failure a later send got past is history, not something for the admin to act on.
func openSlackFailure(mr MemberReminders) SlackFailure {
	f := mr.SlackFailure
	if f.Reason == "" {
		return SlackFailure{}
	}
	for _, r := range mr.Sent {
		if r.Channel == ChannelSlack && r.Status == StatusSent && !r.SentAt.Before(f.At) {
			return SlackFailure{}
		}
	}
	return f
}

// Summaries returns the summary of each of ms (memberships of orgID, such as a page of
// the members list), keyed by membership id: the org's settings and one read of every
// member's messages, whatever len(ms).
func (vw Viewer) Summaries(ctx context.Context, orgID string, ms []directory.Membership) (map[string]Summary, error) {
	sums, _, err := vw.summaries(ctx, orgID, ms)
	return sums, err
}

func (vw Viewer) summaries(ctx context.Context, orgID string, ms []directory.Membership) (map[string]Summary, map[string]MemberReminders, error) {
	out := make(map[string]Summary, len(ms))
	if len(ms) == 0 {
		return out, nil, nil
	}
	settings, err := vw.Store.ReminderSettings(ctx, orgID)
	if err != nil {
		return nil, nil, fmt.Errorf("read reminder settings of org %s: %w", orgID, err)
	}
	ids := make([]string, len(ms))
	for i, m := range ms {
		ids[i] = m.ID
	}
	got, err := vw.Store.MemberReminders(ctx, orgID, ids)
	if err != nil {
		return nil, nil, fmt.Errorf("read reminders of %d members of org %s: %w", len(ids), orgID, err)
	}
	now := vw.now()
	for _, m := range ms {
		out[m.ID] = summarize(m, settings, got[m.ID], now)
	}
	return out, got, nil
}

// summarize applies the policy to one member as it stands at now, with the time of the
// reminder actually queued (mr.Queued) in place of the policy's.
func summarize(m directory.Membership, settings Settings, mr MemberReminders, now time.Time) Summary {
	var s Summary
	if len(mr.Sent) > 0 {
		last := mr.Sent[0]
		for _, r := range mr.Sent[1:] {
			if r.SentAt.After(last.SentAt) {
				last = r
			}
		}
		s.Last = &last
	}
	if m.Status != directory.MembershipActive {
		s.Why = "member is " + string(m.Status) + ": no reminders"
		return s
	}
	loc := Location(mr.TimeZone, settings.Normalize().TimeZone)
	in := Input{Now: now, NoticedAt: now, Settings: settings, Location: loc, Reasons: m.ActionRequired,
		History: historyOf(mr.Sent)}
	d, older := queued(Decide(in), mr.Queued, settings, loc, now)
	s.Due, s.Streak, s.Escalated, s.Quiet = d.Rep, d.Streak, d.Escalated, d.Quiet
	switch {
	case d.Rep == KindReminder:
		s.Next, s.NextKind, s.Why = now, KindReminder, fmt.Sprintf("reminder %d of the streak is due now", d.Streak)
	case d.Rep == KindAllSet:
		s.Next, s.NextKind, s.Why = now, KindAllSet, "fixed: the all-set note is due now"
	case !d.Next.IsZero() && len(d.RepReasons) == 0:
		s.Next, s.NextKind = d.Next, KindAllSet
		s.Why = "fixed: the all-set note waits for quiet hours until " + localTime(d.Next, loc)
	case !d.Next.IsZero():
		s.Next, s.NextKind = d.Next, KindReminder
		switch {
		case d.Quiet:
			s.Why = "quiet hours until " + localTime(d.Next, loc)
		case d.Streak == 0:
			s.Why = "first reminder after the grace period"
		default:
			s.Why = fmt.Sprintf("reminder %d of the streak", d.Streak+1)
		}
		if older {
			s.Why += "; queued before the org's reminder policy or the member's time zone changed and not moved to it " +
				"(change the policy or the zone again to move it; its notify keeps to quiet hours either way)"
		}
	case len(d.RepReasons) > 0:
		// Every change of reasons queues a notify; none recorded means it has not run yet
		// (or its enqueue failed): the repair queues it again.
		s.Why = "no reminder queued yet: the member's notify has not run (tether members recompute " + m.OrgID + " queues it)"
	case len(d.AdminReasons) > 0 && d.Admin:
		s.Why = "only an admin can fix it, and the admins are not told yet" + adminsNotTold(m.OrgID)
	case len(d.AdminReasons) > 0:
		s.Why = "only an admin can fix it: the admins were told, the rep is not"
	case hasReminder(mr.Sent):
		s.Why = "fixed: all set"
	case m.ActionCheckedAt.IsZero():
		s.Why = "reasons not computed yet"
	default:
		s.Why = "nothing to fix"
	}
	if s.Escalated && s.NextKind == KindReminder {
		s.Why += "; on the admins' daily digest"
	}
	if d.Admin && len(d.RepReasons) > 0 {
		s.Why += "; the admins are not told yet of what only they can fix" + adminsNotTold(m.OrgID)
	}
	return s
}

// adminsNotTold says why an admin alert the policy wants sent may not have gone: the
// alert's notify retries a failure, and an org without an active admin fails every time
// (only the worker's log said so; the view claimed the admins were told).
func adminsNotTold(orgID string) string {
	return " (the member's notify sends it and retries a failure; if it stays so, the worker's log says why, " +
		"e.g. the org has no active admin: tether members set " + orgID + " MEMBER --role admin (or an admin's Join) makes the first one, " +
		"which sends it at once rather than at the failed notify's next retry)"
}

// queued corrects d, decided at now, by the reminder a notify queued (q): that task is
// what sends. The policy alone cannot place the first reminder (the break's time is in
// the task only: counted from now it would always be one grace away), nor a reminder
// queued before the org's policy changed. Without a queued first reminder, none is next.
// older is true when q is not what the current policy gives: it was queued under an
// earlier one.
func queued(d Decision, q Queued, settings Settings, loc *time.Location, now time.Time) (_ Decision, older bool) {
	if len(d.RepReasons) == 0 {
		return d, false
	}
	s := settings.Normalize()
	streak := d.Streak
	if d.Rep == KindReminder {
		streak--
	}
	switch {
	case !q.At.IsZero() && q.Sequence == d.Sequence && q.At.After(now):
		if streak == 0 {
			// The break was seen by now, so today's policy would have it by d.Next.
			older = q.At.After(d.Next)
		} else {
			// Sent times are recorded a moment after the decision: allow for it.
			older = d.Rep == KindReminder || q.At.Sub(d.Next).Abs() > time.Minute
		}
		d.Rep, d.Streak, d.Next = "", streak, q.At
		d.Quiet = s.QuietStart != s.QuietEnd && q.At.Equal(quiet(q.At.Add(-time.Minute), s, loc))
	case !q.At.IsZero() && q.Sequence == d.Sequence:
		d.Rep, d.Streak, d.Next, d.Quiet = KindReminder, streak+1, time.Time{}, false
	case streak == 0:
		d.Rep, d.Streak, d.Next, d.Quiet = "", 0, time.Time{}, false
	default:
		return d, false
	}
	d.Escalated = d.Streak >= s.EscalateAfter
	return d, older
}

// historyOf is the messages as the policy sees them: the email ones (a Slack message
// shares its email's sequence).
func historyOf(rs []Reminder) []Sent {
	var out []Sent
	for _, r := range rs {
		if r.Channel == ChannelEmail {
			out = append(out, Sent{Kind: r.Kind, Sequence: r.Sequence, At: r.SentAt, AdminKey: r.AdminKey})
		}
	}
	return out
}

func hasReminder(rs []Reminder) bool {
	for _, r := range rs {
		if r.Kind == KindReminder {
			return true
		}
	}
	return false
}

// localTime is t as the rep reads it: "2026-03-03 08:00 Europe/Paris".
func localTime(t time.Time, loc *time.Location) string {
	return t.In(loc).Format("2006-01-02 15:04") + " " + loc.String()
}
