package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"tether/sync/directory"
	"tether/sync/reminders"
)

const reminderCols = `id, org_id, membership_id, reasons, channel, sequence, sent_at, kind, status, message_id, admin_key, recipients,
slack_channel, slack_ts, links_at`

// InsertReminder records a reminder of a membership of orgID (r.OrgID is ignored) and
// returns it as stored; an empty ID gets a new one, a zero SentAt is now, an empty Kind
// is a reminder and an empty Status is sent. Returns directory.ErrDuplicate if the
// membership already has a message with that channel and sequence (the idempotency key
// of a send), directory.ErrNotFound if the org has no such membership,
// directory.ErrInvalid for a sequence < 1 or an unknown channel, kind or status.
func (q *Queries) InsertReminder(ctx context.Context, orgID string, r reminders.Reminder) (reminders.Reminder, error) {
	if err := requireOrg(orgID); err != nil {
		return reminders.Reminder{}, err
	}
	r.OrgID = orgID
	stamp(&r.ID, &r.SentAt, time.Now())
	if r.Kind == "" {
		r.Kind = reminders.KindReminder
	}
	if r.Status == "" {
		r.Status = reminders.StatusSent
	}
	reasons, err := jsonArg(strs(r.Reasons))
	if err != nil {
		return reminders.Reminder{}, fmt.Errorf("insert reminder %s: %w", r.ID, err)
	}
	to, err := jsonArg(strs(r.Recipients))
	if err != nil {
		return reminders.Reminder{}, fmt.Errorf("insert reminder %s: %w", r.ID, err)
	}
	_, err = q.q.ExecContext(ctx, `INSERT INTO reminders (`+reminderCols+`)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`, r.ID, orgID, r.MembershipID, reasons, string(r.Channel),
		r.Sequence, tm(r.SentAt), string(r.Kind), string(r.Status), r.MessageID, r.AdminKey, to, r.SlackChannel, r.SlackTS, tm(r.LinksAt))
	if err != nil {
		return reminders.Reminder{}, q.wrap(err, "insert reminder %s in org %s", r.ID, orgID)
	}
	return r, nil
}

// GetReminderBySequence returns the membership's message with that channel and sequence.
// Returns directory.ErrNotFound if there is none.
func (q *Queries) GetReminderBySequence(ctx context.Context, orgID, membershipID string, ch reminders.Channel, seq int) (reminders.Reminder, error) {
	r, err := scanReminder(q.q.QueryRowContext(ctx, `SELECT `+reminderCols+` FROM reminders
WHERE org_id = $1 AND membership_id = $2 AND channel = $3 AND sequence = $4`, orgID, membershipID, string(ch), seq))
	if err != nil {
		return reminders.Reminder{}, q.wrap(err, "read reminder %d of membership %s in org %s", seq, membershipID, orgID)
	}
	return r, nil
}

// SetReminderStatus records the outcome of a send. Returns directory.ErrNotFound for an
// unknown id.
func (q *Queries) SetReminderStatus(ctx context.Context, orgID, id string, st reminders.Status, at time.Time) error {
	res, err := q.q.ExecContext(ctx, `UPDATE reminders SET status = $1, sent_at = $2 WHERE org_id = $3 AND id = $4`,
		string(st), tm(at), orgID, id)
	if err != nil {
		return q.wrap(err, "set status of reminder %s in org %s", id, orgID)
	}
	return affected(res, "reminder %s in org %s", id, orgID)
}

// SetSlackSent records the Slack reminder id sent at at, with where Slack put it (the
// DM channel and the message's ts). Returns directory.ErrNotFound for an unknown id.
func (q *Queries) SetSlackSent(ctx context.Context, orgID, id string, msg reminders.SlackMessage, at time.Time) error {
	res, err := q.q.ExecContext(ctx, `UPDATE reminders SET status = 'sent', sent_at = $1, slack_channel = $2, slack_ts = $3
WHERE org_id = $4 AND id = $5`, tm(at), msg.Channel, msg.TS, orgID, id)
	if err != nil {
		return q.wrap(err, "record Slack reminder %s in org %s as sent", id, orgID)
	}
	return affected(res, "reminder %s in org %s", id, orgID)
}

// DeleteReminder forgets an attempt that certainly did not deliver (the server refused
// it), so a retry may send it. Deleting a missing row is not an error.
func (q *Queries) DeleteReminder(ctx context.Context, orgID, id string) error {
	_, err := q.q.ExecContext(ctx, `DELETE FROM reminders WHERE org_id = $1 AND id = $2 AND status = 'attempting'`, orgID, id)
	return q.wrap(err, "delete reminder attempt %s in org %s", id, orgID)
}

// ListReminders returns the messages of a membership of orgID, newest first, at most
// limit (<= 0 means 1000).
func (q *Queries) ListReminders(ctx context.Context, orgID, membershipID string, limit int) ([]reminders.Reminder, error) {
	rows, err := q.q.QueryContext(ctx, `SELECT `+reminderCols+`
FROM reminders WHERE org_id = $1 AND membership_id = $2 ORDER BY sequence DESC, sent_at DESC LIMIT $3`,
		orgID, membershipID, pageSize(limit))
	if err != nil {
		return nil, q.wrap(err, "list reminders of membership %s in org %s", membershipID, orgID)
	}
	return collect(rows, scanReminder)
}

func scanReminder(s scanner) (reminders.Reminder, error) {
	var r reminders.Reminder
	err := s.Scan(&r.ID, &r.OrgID, &r.MembershipID, js(&r.Reasons), &r.Channel, &r.Sequence, ts(&r.SentAt),
		&r.Kind, &r.Status, &r.MessageID, &r.AdminKey, js(&r.Recipients), &r.SlackChannel, &r.SlackTS, ts(&r.LinksAt))
	return r, err
}

// ReminderSettings returns the org's reminder policy, the defaults when none is stored.
// Returns directory.ErrNotFound for an unknown org.
func (q *Queries) ReminderSettings(ctx context.Context, orgID string) (reminders.Settings, error) {
	var raw []byte
	err := q.q.QueryRowContext(ctx, `SELECT settings FROM reminder_settings WHERE org_id = $1`, orgID).Scan(&raw)
	if errors.Is(err, sql.ErrNoRows) {
		if _, err := q.GetOrg(ctx, orgID); err != nil {
			return reminders.Settings{}, err
		}
		return reminders.DefaultSettings(), nil
	}
	if err != nil {
		return reminders.Settings{}, q.wrap(err, "read reminder settings of org %s", orgID)
	}
	var s reminders.Settings
	if err := json.Unmarshal(raw, &s); err != nil {
		return reminders.Settings{}, fmt.Errorf("reminder settings of org %s: %w", orgID, err)
	}
	return s.Normalize(), nil
}

// SetReminderSettings stores the org's reminder policy. Returns directory.ErrNotFound for
// an unknown org.
func (q *Queries) SetReminderSettings(ctx context.Context, orgID string, s reminders.Settings, at time.Time) error {
	if err := requireOrg(orgID); err != nil {
		return err
	}
	raw, err := json.Marshal(s)
	if err != nil {
		return err
	}
	_, err = q.q.ExecContext(ctx, `INSERT INTO reminder_settings (org_id, settings, updated_at) VALUES ($1, $2, $3)
ON CONFLICT (org_id) DO UPDATE SET settings = excluded.settings, updated_at = excluded.updated_at`, orgID, string(raw), tm(at))
	return q.wrap(err, "set reminder settings of org %s", orgID)
}

// MemberTimeZone returns the rep's own time zone ("" when unknown).
func (q *Queries) MemberTimeZone(ctx context.Context, orgID, membershipID string) (string, error) {
	var tz string
	err := q.q.QueryRowContext(ctx, `SELECT time_zone FROM memberships WHERE org_id = $1 AND id = $2`, orgID, membershipID).Scan(&tz)
	return tz, q.wrap(err, "read time zone of membership %s in org %s", membershipID, orgID)
}

// SetMemberTimeZone records the rep's own time zone (an IANA name, such as Salesforce's
// TimeZoneSidKey). Returns directory.ErrNotFound for an unknown membership.
func (q *Queries) SetMemberTimeZone(ctx context.Context, orgID, membershipID, tz string) error {
	res, err := q.q.ExecContext(ctx, `UPDATE memberships SET time_zone = $1 WHERE org_id = $2 AND id = $3`, tz, orgID, membershipID)
	if err != nil {
		return q.wrap(err, "set time zone of membership %s in org %s", membershipID, orgID)
	}
	return affected(res, "membership %s in org %s", membershipID, orgID)
}

// LearnMemberTimeZone records tz as the rep's own time zone only if the membership has
// none (a zone from the import or an admin stays); true when it was recorded.
func (q *Queries) LearnMemberTimeZone(ctx context.Context, orgID, membershipID, tz string) (bool, error) {
	res, err := q.q.ExecContext(ctx, `UPDATE memberships SET time_zone = $1 WHERE org_id = $2 AND id = $3 AND time_zone = ''`, tz, orgID, membershipID)
	if err != nil {
		return false, q.wrap(err, "learn time zone of membership %s in org %s", membershipID, orgID)
	}
	n, err := res.RowsAffected()
	return n == 1, q.wrap(err, "learn time zone of membership %s in org %s", membershipID, orgID)
}

// SetReminderQueued records the reminder just queued for the membership. For the
// sequence already recorded, the earlier time stays: of two notifies racing, the one
// counting from the earlier break wins, and only the recorded task sends. A zero rq.At
// forgets one due by now, whose task has run; one due later stays, since its task is
// still queued and will run. rq.Noticed goes with its time. A membership the org does
// not have is ignored.
func (q *Queries) SetReminderQueued(ctx context.Context, orgID, membershipID string, rq reminders.Queued, now time.Time) error {
	var err error
	if rq.At.IsZero() {
		_, err = q.q.ExecContext(ctx, `UPDATE memberships SET reminder_queued_seq = 0, reminder_queued_at = NULL, reminder_noticed_at = NULL
WHERE org_id = $1 AND id = $2 AND reminder_queued_at <= $3`, orgID, membershipID, tm(now))
	} else {
		_, err = q.q.ExecContext(ctx, `UPDATE memberships SET reminder_queued_seq = $1, reminder_queued_at = $2, reminder_noticed_at = $5
WHERE org_id = $3 AND id = $4
  AND NOT (reminder_queued_seq = $1 AND reminder_queued_at IS NOT NULL AND reminder_queued_at <= $2)`,
			rq.Sequence, tm(rq.At), orgID, membershipID, tm(rq.Noticed))
	}
	return q.wrap(err, "record the reminder queued for membership %s in org %s", membershipID, orgID)
}

// MoveReminderQueued records that the membership's queued reminder from now runs at
// to.At instead of from.At (a new policy re-timed it), only if the membership still
// records from: false when a notify recorded another meanwhile.
func (q *Queries) MoveReminderQueued(ctx context.Context, orgID, membershipID string, from, to reminders.Queued) (bool, error) {
	res, err := q.q.ExecContext(ctx, `UPDATE memberships SET reminder_queued_seq = $1, reminder_queued_at = $2
WHERE org_id = $3 AND id = $4 AND reminder_queued_seq = $5 AND reminder_queued_at = $6`,
		to.Sequence, tm(to.At), orgID, membershipID, from.Sequence, tm(from.At))
	if err != nil {
		return false, q.wrap(err, "move the reminder queued for membership %s in org %s", membershipID, orgID)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// QueuedReminders pages through the active memberships of every org that record a
// queued reminder, in (org, id) order after after.
func (q *Queries) QueuedReminders(ctx context.Context, after directory.Ref, limit int) ([]reminders.QueuedReminder, error) {
	rows, err := q.q.QueryContext(ctx, `SELECT org_id, id, reminder_queued_seq, reminder_queued_at FROM memberships
WHERE reminder_queued_at IS NOT NULL AND status = 'active' AND (org_id > $1 OR (org_id = $1 AND id > $2))
ORDER BY org_id, id LIMIT $3`, after.OrgID, after.ID, pageSize(limit))
	if err != nil {
		return nil, q.wrap(err, "list queued reminders")
	}
	return collect(rows, func(s scanner) (reminders.QueuedReminder, error) {
		var r reminders.QueuedReminder
		return r, s.Scan(&r.OrgID, &r.MembershipID, &r.Sequence, ts(&r.At))
	})
}

// BeginDigest records the admins' digest of org for day as being sent. Returns
// directory.ErrDuplicate if that day's digest was already begun.
func (q *Queries) BeginDigest(ctx context.Context, orgID, day, messageID string, members int, at time.Time) error {
	_, err := q.q.ExecContext(ctx, `INSERT INTO reminder_digests (org_id, day, status, message_id, members, at)
VALUES ($1, $2, 'attempting', $3, $4, $5)`, orgID, day, messageID, members, tm(at))
	return q.wrap(err, "begin digest of org %s for %s", orgID, day)
}

// FinishDigest records the digest's outcome; a status of "" deletes the attempt (the
// server refused it, so a retry may send it).
func (q *Queries) FinishDigest(ctx context.Context, orgID, day string, st reminders.Status, at time.Time) error {
	var err error
	if st == "" {
		_, err = q.q.ExecContext(ctx, `DELETE FROM reminder_digests WHERE org_id = $1 AND day = $2 AND status = 'attempting'`, orgID, day)
	} else {
		_, err = q.q.ExecContext(ctx, `UPDATE reminder_digests SET status = $1, at = $2 WHERE org_id = $3 AND day = $4`, string(st), tm(at), orgID, day)
	}
	return q.wrap(err, "finish digest of org %s for %s", orgID, day)
}

// DigestStatus returns the status of the org's digest for day; ErrNotFound when none.
func (q *Queries) DigestStatus(ctx context.Context, orgID, day string) (reminders.Status, error) {
	var st reminders.Status
	err := q.q.QueryRowContext(ctx, `SELECT status FROM reminder_digests WHERE org_id = $1 AND day = $2`, orgID, day).Scan(&st)
	return st, q.wrap(err, "read digest of org %s for %s", orgID, day)
}

func affected(res sql.Result, format string, args ...any) error {
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf(format+": %w", append(args, directory.ErrNotFound)...)
	}
	return nil
}

// MemberReminders returns, for each of the org's memberships ids, its time zone and its
// messages newest first, in one query whatever the number of ids (the members page and
// the admins' digest read a page at a time, never a member at a time). An id the org
// does not have is absent from the map; one with no message maps to an empty Sent.
func (q *Queries) MemberReminders(ctx context.Context, orgID string, ids []string) (map[string]reminders.MemberReminders, error) {
	out := make(map[string]reminders.MemberReminders, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	set, err := jsonArg(ids)
	if err != nil {
		return nil, err
	}
	// Driven by the ids, like ListMemberConnections: one probe of the membership's row and
	// one of the reminders' (membership_id, channel, sequence) key per id.
	rows, err := q.q.QueryContext(ctx, `SELECT m.id, m.time_zone, m.reminder_queued_seq, m.reminder_queued_at, m.reminder_noticed_at, m.slack_failure, m.slack_failed_at, r.id, r.org_id, r.membership_id, r.reasons, r.channel,
  r.sequence, r.sent_at, r.kind, r.status, r.message_id, r.admin_key, r.recipients, r.slack_channel, r.slack_ts, r.links_at
FROM `+q.d.textSet("$2")+` e CROSS JOIN memberships m
LEFT JOIN reminders r ON r.membership_id = m.id AND r.org_id = m.org_id
WHERE m.id = e.value AND m.org_id = $1
ORDER BY m.id, r.sequence DESC, r.sent_at DESC`, orgID, set)
	if err != nil {
		return nil, q.wrap(err, "list reminders of %d members in org %s", len(ids), orgID)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			mid, tz                                            string
			r                                                  reminders.Reminder
			rid, rorg, rmid, ch, kind, status, msgID, adminKey string
			seq                                                sql.NullInt64
			queued                                             reminders.Queued
			failure                                            reminders.SlackFailure
		)
		if err := rows.Scan(&mid, &tz, &queued.Sequence, ts(&queued.At), ts(&queued.Noticed), &failure.Reason, ts(&failure.At), ns(&rid), ns(&rorg), ns(&rmid), js(&r.Reasons), ns(&ch), &seq, ts(&r.SentAt),
			ns(&kind), ns(&status), ns(&msgID), ns(&adminKey), js(&r.Recipients), ns(&r.SlackChannel), ns(&r.SlackTS), ts(&r.LinksAt)); err != nil {
			return nil, q.wrap(err, "list reminders of %d members in org %s", len(ids), orgID)
		}
		mr := out[mid]
		mr.TimeZone, mr.Queued, mr.SlackFailure = tz, queued, failure
		if rid != "" {
			r.ID, r.OrgID, r.MembershipID, r.Channel, r.Sequence = rid, rorg, rmid, reminders.Channel(ch), int(seq.Int64)
			r.Kind, r.Status, r.MessageID, r.AdminKey = reminders.Kind(kind), reminders.Status(status), msgID, adminKey
			mr.Sent = append(mr.Sent, r)
		}
		out[mid] = mr
	}
	if err := rows.Err(); err != nil {
		return nil, q.wrap(err, "list reminders of %d members in org %s", len(ids), orgID)
	}
	return out, nil
}
