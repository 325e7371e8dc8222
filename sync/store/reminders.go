package store

import (
	"context"
	"fmt"
	"time"

	"tether/sync/reminders"
)

// InsertReminder records a reminder sent to a membership of orgID (r.OrgID is ignored)
// and returns it as stored; an empty ID gets a new one, a zero SentAt is now. Returns directory.ErrDuplicate if the
// membership already has a reminder with that channel and sequence (a re-run of the same
// send), directory.ErrNotFound if the org has no such membership, directory.ErrInvalid for a sequence < 1 or
// an unknown channel.
func (q *Queries) InsertReminder(ctx context.Context, orgID string, r reminders.Reminder) (reminders.Reminder, error) {
	if err := requireOrg(orgID); err != nil {
		return reminders.Reminder{}, err
	}
	r.OrgID = orgID
	stamp(&r.ID, &r.SentAt, time.Now())
	reasons, err := jsonArg(strs(r.Reasons))
	if err != nil {
		return reminders.Reminder{}, fmt.Errorf("insert reminder %s: %w", r.ID, err)
	}
	_, err = q.q.ExecContext(ctx, `INSERT INTO reminders (id, org_id, membership_id, reasons, channel, sequence, sent_at)
VALUES ($1, $2, $3, $4, $5, $6, $7)`, r.ID, orgID, r.MembershipID, reasons, string(r.Channel), r.Sequence, tm(r.SentAt))
	if err != nil {
		return reminders.Reminder{}, q.wrap(err, "insert reminder %s in org %s", r.ID, orgID)
	}
	return r, nil
}

// ListReminders returns the reminders of a membership of orgID, newest first, at most
// limit (<= 0 means 1000).
func (q *Queries) ListReminders(ctx context.Context, orgID, membershipID string, limit int) ([]reminders.Reminder, error) {
	rows, err := q.q.QueryContext(ctx, `SELECT id, org_id, membership_id, reasons, channel, sequence, sent_at
FROM reminders WHERE org_id = $1 AND membership_id = $2 ORDER BY sent_at DESC, id DESC LIMIT $3`,
		orgID, membershipID, pageSize(limit))
	if err != nil {
		return nil, q.wrap(err, "list reminders of membership %s in org %s", membershipID, orgID)
	}
	return collect(rows, func(s scanner) (reminders.Reminder, error) {
		var r reminders.Reminder
		err := s.Scan(&r.ID, &r.OrgID, &r.MembershipID, js(&r.Reasons), &r.Channel, &r.Sequence, ts(&r.SentAt))
		return r, err
	})
}
