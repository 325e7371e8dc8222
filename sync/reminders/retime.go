package reminders

import (
	"context"
	"errors"
	"fmt"
	"time"

	"tether/sync/connections"
	"tether/sync/directory"
)

// RetimeStore is what re-timing an org's queued reminders reads and writes.
type RetimeStore interface {
	GetMembership(ctx context.Context, orgID, id string) (directory.Membership, error)
	// QueuedReminders pages through active memberships (of every org, in (org, id)
	// order after after) that record a queued reminder.
	QueuedReminders(ctx context.Context, after directory.Ref, limit int) ([]QueuedReminder, error)
	MemberReminders(ctx context.Context, orgID string, membershipIDs []string) (map[string]MemberReminders, error)
	// MoveReminderQueued replaces the recorded from by to; false when the membership no
	// longer records from (a notify ran meanwhile).
	MoveReminderQueued(ctx context.Context, orgID, membershipID string, from, to Queued) (bool, error)
}

// Rescheduler queues a follow-up and deletes one. Asynq cannot change a queued task's
// time, so re-timing is a new task under its own TaskID, then the old one deleted.
type Rescheduler interface {
	// FollowUp is Enqueuer.FollowUp.
	FollowUp(ctx context.Context, orgID, membershipID string, seq int, at time.Time) error
	// CancelFollowUp deletes the follow-up queued for (membership, seq, at); one gone or
	// already running is no error.
	CancelFollowUp(ctx context.Context, membershipID string, seq int, at time.Time) error
}

// Retimer moves the reminders an org has queued to its current policy, after a change of
// it (SettingsEditor calls it).
type Retimer struct {
	Store RetimeStore
	Queue Rescheduler
}

// Retime re-decides, by the org's policy now (s), every reminder the org's active
// members have queued for after now, and moves each whose time changed: the membership's
// record is moved, the new task queued, and only then the old task deleted, so until the
// new task is in Redis the old one is there to queue it again. An old task left behind
// (running, a failed delete, or queued again by a reconciler that read the record before
// the move) sends nothing, since the record no longer names it (Service.FollowUp). Each is timed as a
// notify would time it under s: the next reminder of a streak and an all-set note
// waiting for quiet hours from the history, a first reminder from its break
// (Queued.Noticed; when not recorded, the old time less the old grace, prev). A reminder
// due by now under s is queued for now. Returns how many moved; on an error the ones
// before it are moved, the rest keep their time (each re-decides by s when it runs), and
// running it again goes on.
func (r Retimer) Retime(ctx context.Context, orgID string, prev, s Settings, now time.Time) (int, error) {
	const page = 500
	moved := 0
	for after := (directory.Ref{OrgID: orgID}); ; {
		qs, err := r.Store.QueuedReminders(ctx, after, page)
		if err != nil {
			return moved, fmt.Errorf("re-time the reminders of org %s: %w", orgID, err)
		}
		var ids []string
		for _, q := range qs {
			if q.OrgID == orgID && q.At.After(now) {
				ids = append(ids, q.MembershipID)
			}
		}
		mrs, err := r.Store.MemberReminders(ctx, orgID, ids)
		if err != nil {
			return moved, fmt.Errorf("re-time the reminders of org %s: %w", orgID, err)
		}
		for _, q := range qs {
			if q.OrgID != orgID {
				return moved, nil
			}
			mr, ok := mrs[q.MembershipID]
			if !ok || mr.Queued.Sequence != q.Sequence || !mr.Queued.At.Equal(q.At) {
				continue // past due (its task runs now), gone, or changed since the page was read
			}
			ok, err := r.move(ctx, orgID, q, mr, prev, s, now)
			if err != nil {
				return moved, err
			}
			if ok {
				moved++
			}
		}
		if len(qs) < page {
			return moved, nil
		}
		after = directory.Ref{OrgID: orgID, ID: qs[len(qs)-1].MembershipID}
	}
}

// RetimeMember re-decides, by the org's policy s, the reminder membershipID has queued for
// after now, after the member's time zone changed (quiet hours are in the rep's zone), and
// moves it as Retime does. Reports whether it moved.
func (r Retimer) RetimeMember(ctx context.Context, orgID, membershipID string, s Settings, now time.Time) (bool, error) {
	mrs, err := r.Store.MemberReminders(ctx, orgID, []string{membershipID})
	if err != nil {
		return false, fmt.Errorf("re-time the reminder of member %s of org %s: %w", membershipID, orgID, err)
	}
	mr, ok := mrs[membershipID]
	if !ok || mr.Queued.At.IsZero() || !mr.Queued.At.After(now) {
		return false, nil // none queued, or due now: its task decides by the new zone when it runs
	}
	q := QueuedReminder{OrgID: orgID, MembershipID: membershipID, Queued: mr.Queued}
	return r.move(ctx, orgID, q, mr, s, s, now)
}

// move re-times one membership's queued reminder if s gives it another time.
func (r Retimer) move(ctx context.Context, orgID string, q QueuedReminder, mr MemberReminders, prev, s Settings, now time.Time) (bool, error) {
	m, err := r.Store.GetMembership(ctx, orgID, q.MembershipID)
	if errors.Is(err, directory.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("re-time the reminder of member %s of org %s: %w", q.MembershipID, orgID, err)
	}
	at, ok := retimed(m, q.Queued, mr, prev, s, now)
	if !ok || at.Unix() == q.At.Unix() {
		return false, nil
	}
	to := Queued{Sequence: q.Sequence, At: at}
	done, err := r.Store.MoveReminderQueued(ctx, orgID, m.ID, q.Queued, to)
	if err != nil || !done {
		return false, err // a notify recorded another meanwhile and queued its task
	}
	// The record first: the new task, run at once when due now, must find it names it.
	if err := r.Queue.FollowUp(ctx, orgID, m.ID, to.Sequence, to.At); err != nil {
		// The old task, still queued, finds the record names another and queues it, as
		// does the reconciler.
		return true, fmt.Errorf("re-time reminder %d of member %s of org %s: %w", q.Sequence, m.ID, orgID, err)
	}
	if err := r.Queue.CancelFollowUp(ctx, m.ID, q.Sequence, q.At); err != nil {
		// Left queued, the old task finds the record names the new one and sends nothing.
		return true, fmt.Errorf("re-timed reminder %d of member %s of org %s, but its old task at %s stays: %w",
			q.Sequence, m.ID, orgID, q.At.UTC().Format(time.RFC3339), err)
	}
	return true, nil
}

// retimed is when s has m's queued reminder q go; false when s queues none (the task,
// when it runs, decides by s anyway) or q is not the one s would send next.
func retimed(m directory.Membership, q Queued, mr MemberReminders, prev, s Settings, now time.Time) (time.Time, bool) {
	if m.Status != directory.MembershipActive {
		return time.Time{}, false
	}
	s = s.Normalize()
	noticed := mr.Queued.Noticed
	if noticed.IsZero() {
		noticed = q.At.Add(-prev.Normalize().Grace) // queued before migration 00022, or by a follow-up
	}
	in := Input{Now: now, Settings: s, Location: Location(mr.TimeZone, s.TimeZone), Reasons: m.ActionRequired,
		History: historyOf(mr.Sent), NoticedAt: noticed}
	d := Decide(in)
	if d.Sequence != q.Sequence {
		return time.Time{}, false
	}
	switch {
	case d.Rep != "":
		return now, true
	case !d.Next.IsZero():
		return d.Next, true
	}
	return time.Time{}, false
}

// ZoneRetimer re-times a member's queued reminder by the org's policy after the member's
// own time zone changed (members.Service calls it as its Zones).
type ZoneRetimer struct {
	Settings interface {
		ReminderSettings(ctx context.Context, orgID string) (Settings, error)
	}
	Retimer *Retimer
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// ZoneChanged moves membershipID's queued reminder to quiet hours in its zone now.
func (z ZoneRetimer) ZoneChanged(ctx context.Context, orgID, membershipID string) error {
	s, err := z.Settings.ReminderSettings(ctx, orgID)
	if err != nil {
		return fmt.Errorf("read reminder settings of org %s: %w", orgID, err)
	}
	now := time.Now
	if z.Now != nil {
		now = z.Now
	}
	_, err = z.Retimer.RetimeMember(ctx, orgID, membershipID, s, now())
	return err
}

// LearntZones records a zone a verification found as the member's own when the member has
// none (connections.UpkeepParams.Zones) and then re-times the member's queued reminder to
// it, as an admin's change does: the view and the record then agree with the new zone's
// quiet hours instead of naming a reminder queued before it.
type LearntZones struct {
	Store connections.ZoneLearner // the store's conditional write
	// Zones re-times the member's reminder (ZoneRetimer, or one built when called).
	Zones interface {
		ZoneChanged(ctx context.Context, orgID, membershipID string) error
	}
}

// LearnMemberTimeZone is true when tz became the member's zone; an error with true means
// the reminder was not re-timed (its notify still re-decides quiet hours when it runs).
func (l LearntZones) LearnMemberTimeZone(ctx context.Context, orgID, membershipID, tz string) (bool, error) {
	set, err := l.Store.LearnMemberTimeZone(ctx, orgID, membershipID, tz)
	if err != nil || !set {
		return set, err
	}
	if err := l.Zones.ZoneChanged(ctx, orgID, membershipID); err != nil {
		return true, fmt.Errorf("re-time the queued reminder of member %s to its learnt zone %s: %w", membershipID, tz, err)
	}
	return true, nil
}
