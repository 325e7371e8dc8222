package reminders

import (
	"context"
	"errors"
	"fmt"
	"time"

	"tether/sync/connections"
	"tether/sync/directory"
)

// TriggerStore is what the Trigger reads.
type TriggerStore interface {
	GetMembership(ctx context.Context, orgID, id string) (directory.Membership, error)
	ListReminders(ctx context.Context, orgID, membershipID string, limit int) ([]Reminder, error)
	MemberReminders(ctx context.Context, orgID string, ids []string) (map[string]MemberReminders, error)
}

// Trigger queues a notify when a membership needs action after a connection changed, or
// when a reminded one is fixed (for the all-set note). Put it after sync/members'
// recompute in the observer chain, so it reads the reasons just stored; sync/members
// calls ReasonsChanged, the same decision, after a recompute of its own (a role or photo
// change, a policy change, the repair).
type Trigger struct {
	Store TriggerStore
	Queue Enqueuer
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

var _ connections.Observer = (*Trigger)(nil)

// ConnectionChanged implements connections.Observer. An org-level connection
// (membershipID "") is nobody's reminder.
func (t *Trigger) ConnectionChanged(ctx context.Context, orgID, membershipID string) error {
	if membershipID == "" {
		return nil
	}
	return t.ReasonsChanged(ctx, orgID, membershipID)
}

// ReasonsChanged queues the membership's notify if its stored reasons call for one: it
// needs action, or it was reminded and is now fixed. A membership gone or not active is
// nobody's reminder.
func (t *Trigger) ReasonsChanged(ctx context.Context, orgID, membershipID string) error {
	m, err := t.Store.GetMembership(ctx, orgID, membershipID)
	if errors.Is(err, directory.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reminder trigger for member %s of org %s: %w", membershipID, orgID, err)
	}
	if m.Status != directory.MembershipActive {
		return nil
	}
	if !m.NeedsAction() {
		last, err := t.Store.ListReminders(ctx, orgID, m.ID, 1)
		if err != nil {
			return fmt.Errorf("reminder trigger for member %s of org %s: %w", m.ID, orgID, err)
		}
		if len(last) == 0 || last[0].Kind == KindAllSet {
			return nil // never reminded, or already told all is set
		}
	}
	now := time.Now
	if t.Now != nil {
		now = t.Now
	}
	return t.Queue.Notify(ctx, orgID, m.ID, now())
}

// AdminAlertsOwed queues the notify of each of ms (active members waiting on an admin)
// whose admins were never sent an alert about its current admin-only problems, reading
// all their messages at once; it returns how many it queued. An admin's arrival calls it:
// such an alert failed while the org had no admin and waits for its notify's retry, hours
// apart late in the backoff. Alerts already sent are not queued again, so every arrival
// may call it (two first admins at once each see the other, and neither may assume the
// other released them).
func (t *Trigger) AdminAlertsOwed(ctx context.Context, orgID string, ms []directory.Membership) (int, error) {
	if len(ms) == 0 {
		return 0, nil
	}
	ids := make([]string, len(ms))
	for i, m := range ms {
		ids[i] = m.ID
	}
	sent, err := t.Store.MemberReminders(ctx, orgID, ids)
	if err != nil {
		return 0, fmt.Errorf("read the messages of org %s's members waiting on an admin: %w", orgID, err)
	}
	now := time.Now
	if t.Now != nil {
		now = t.Now
	}
	n := 0
	for _, m := range ms {
		if m.Status != directory.MembershipActive || !AdminAlertOwed(m.ActionRequired, sent[m.ID].Sent) {
			continue
		}
		if err := t.Queue.Notify(ctx, orgID, m.ID, now()); err != nil {
			return n, fmt.Errorf("queue the notify of member %s of org %s: %w", m.ID, orgID, err)
		}
		n++
	}
	return n, nil
}

// Observers calls each observer in order and joins their errors; each runs even if an
// earlier one failed.
type Observers []connections.Observer

// ConnectionChanged implements connections.Observer.
func (os Observers) ConnectionChanged(ctx context.Context, orgID, membershipID string) error {
	var errs []error
	for _, o := range os {
		if o != nil {
			errs = append(errs, o.ConnectionChanged(ctx, orgID, membershipID))
		}
	}
	return errors.Join(errs...)
}
