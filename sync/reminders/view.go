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
	// Next is when the next reminder is due if nothing changes; zero when none is.
	Next time.Time
	// Due is what would go now (a reminder, the all-set note), empty if nothing.
	Due Kind
	// Streak is how many reminders the current streak holds; Escalated is true once the
	// rep is on the admins' daily digest.
	Streak    int
	Escalated bool
	Why       string
}

// ErrUnknownMember is returned by View for a membership the org does not have.
var ErrUnknownMember = errors.New("no such member in this org")

// View returns what was sent to and about the member, and what the policy says comes
// next, read now. Sends nothing.
func (s *Service) View(ctx context.Context, orgID, membershipID string) (View, error) {
	return Viewer{Store: s.c.Store, Now: s.c.Now}.View(ctx, orgID, membershipID)
}

// Viewer reads a member's reminders without sending anything: what tether serve and the
// CLI need, with no mailer or link secret.
type Viewer struct {
	Store ViewStore
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// View returns what was sent to and about the member, and what the policy says comes
// next, read now. Returns an error wrapping ErrUnknownMember for a membership the org
// does not have.
func (vw Viewer) View(ctx context.Context, orgID, membershipID string) (View, error) {
	now := time.Now
	if vw.Now != nil {
		now = vw.Now
	}
	m, err := vw.Store.GetMembership(ctx, orgID, membershipID)
	if errors.Is(err, directory.ErrNotFound) {
		return View{}, fmt.Errorf("%w: org %s has no member %q (tether members list %s lists them)", ErrUnknownMember, orgID, membershipID, orgID)
	}
	if err != nil {
		return View{}, fmt.Errorf("reminders of member %s of org %s: %w", membershipID, orgID, err)
	}
	v := View{OrgID: orgID, MembershipID: m.ID}
	if v.Sent, err = vw.Store.ListReminders(ctx, orgID, m.ID, 0); err != nil {
		return View{}, fmt.Errorf("reminders of member %s of org %s: %w", m.ID, orgID, err)
	}
	if m.Status != directory.MembershipActive {
		v.Why = "member is " + string(m.Status)
		return v, nil
	}
	in, err := input(ctx, vw.Store, m, now())
	if err != nil {
		return View{}, err
	}
	// The break's time is not stored: counted from now, the first reminder is at most
	// one grace period away.
	in.NoticedAt = in.Now
	d := Decide(in)
	v.Next, v.Due, v.Streak, v.Escalated, v.Why = d.Next, d.Rep, d.Streak, d.Escalated, d.Why
	if d.Rep == KindReminder {
		v.Next = in.Now
	}
	return v, nil
}
