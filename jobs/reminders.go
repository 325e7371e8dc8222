package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/hibiken/asynq"

	"tether/sync/reminders"
)

// TypeRemindersNotify decides and sends a membership's reminder (sync/reminders). Breaks
// are queued in the membership's group (GroupReminders), so the worker's aggregator turns
// several within the grace period into one task: one digest email.
const TypeRemindersNotify = "reminders:notify"

// TypeRemindersDigest sends an org's admins the daily digest of reps who still need
// action after several reminders.
const TypeRemindersDigest = "reminders:digest"

// RemindersNotify is the payload of TypeRemindersNotify: ids only, plus when the break
// was noticed (the grace period counts from it) and, for a follow-up, the sequence it
// is for.
type RemindersNotify struct {
	OrgID        string `json:"org_id"`
	MembershipID string `json:"membership_id"`
	// Noticed is when the (earliest) break was seen, Unix seconds; 0 for a follow-up.
	Noticed int64 `json:"noticed,omitempty"`
	// Sequence is the reminder a follow-up is for; 0 for a break.
	Sequence int `json:"sequence,omitempty"`
	// At is the time a follow-up was queued for, Unix seconds (its TaskID's); 0 for a
	// break, and in follow-ups queued before it was added (their TaskID tells it).
	At int64 `json:"at,omitempty"`
	// Breaks is how many break tasks the aggregator merged into this one.
	Breaks int `json:"breaks,omitempty"`
}

// Validate reports a missing id or a negative number.
func (p RemindersNotify) Validate() error {
	switch {
	case p.OrgID == "":
		return errors.New("org_id is required")
	case p.MembershipID == "":
		return errors.New("membership_id is required")
	case p.Noticed < 0 || p.Sequence < 0 || p.Breaks < 0 || p.At < 0:
		return errors.New("noticed, sequence, at and breaks must not be negative")
	}
	return nil
}

// RemindersDigest is the payload of TypeRemindersDigest.
type RemindersDigest struct {
	OrgID string `json:"org_id"`
	// Day is the UTC day "YYYYMMDD" the digest is for.
	Day string `json:"day"`
}

// Validate reports a missing org or a malformed day.
func (p RemindersDigest) Validate() error {
	if p.OrgID == "" {
		return errors.New("org_id is required")
	}
	if _, err := time.Parse("20060102", p.Day); err != nil {
		return errors.New("day must be YYYYMMDD")
	}
	return nil
}

// GroupReminders is the Asynq group of a membership's breaks.
func GroupReminders(membershipID string) string { return "reminders:" + membershipID }

// MembershipOfGroup returns the membership of a GroupReminders group, false for another
// group.
func MembershipOfGroup(group string) (string, bool) {
	return strings.CutPrefix(group, "reminders:")
}

// NewRemindersBreakTask queues one break of a membership in its group (low queue).
func NewRemindersBreakTask(orgID, membershipID string, noticed time.Time) (*asynq.Task, error) {
	b, err := encode(RemindersNotify{OrgID: orgID, MembershipID: membershipID, Noticed: noticed.Unix(), Breaks: 1})
	if err != nil {
		return nil, err
	}
	return asynq.NewTask(TypeRemindersNotify, b, asynq.Queue(QueueLow), asynq.Group(GroupReminders(membershipID)),
		asynq.MaxRetry(10), asynq.Timeout(time.Minute)), nil
}

// RemindersRetention keeps a finished follow-up's TaskID, so a second schedule of the
// same reminder is refused.
const RemindersRetention = 48 * time.Hour

// TaskIDRemindersFollowUp is "reminders:notify:<membership>:<sequence>:<due unix>".
func TaskIDRemindersFollowUp(membershipID string, seq int, at time.Time) string {
	return TypeRemindersNotify + ":" + membershipID + ":" + strconv.Itoa(seq) + ":" + strconv.FormatInt(at.Unix(), 10)
}

// FollowUpOfTaskID returns the sequence and time a TaskIDRemindersFollowUp names; false
// for another id.
func FollowUpOfTaskID(id string) (seq int, at time.Time, ok bool) {
	rest, ok := strings.CutPrefix(id, TypeRemindersNotify+":")
	if !ok {
		return 0, time.Time{}, false
	}
	parts := strings.Split(rest, ":")
	if len(parts) < 3 {
		return 0, time.Time{}, false
	}
	seq, err1 := strconv.Atoi(parts[len(parts)-2])
	unix, err2 := strconv.ParseInt(parts[len(parts)-1], 10, 64)
	if err1 != nil || err2 != nil || seq < 1 {
		return 0, time.Time{}, false
	}
	return seq, time.Unix(unix, 0), true
}

// NewRemindersFollowUpTask is the membership's reminder seq due at at: low queue, TaskID
// TaskIDRemindersFollowUp kept for RemindersRetention. The payload carries seq and at,
// so the run can tell whether the membership's record still names it.
func NewRemindersFollowUpTask(orgID, membershipID string, seq int, at time.Time) (*asynq.Task, error) {
	b, err := encode(RemindersNotify{OrgID: orgID, MembershipID: membershipID, Sequence: seq, At: at.Unix()})
	if err != nil {
		return nil, err
	}
	return asynq.NewTask(TypeRemindersNotify, b, asynq.Queue(QueueLow), asynq.ProcessAt(at),
		asynq.TaskID(TaskIDRemindersFollowUp(membershipID, seq, at)), asynq.Retention(RemindersRetention),
		asynq.MaxRetry(10), asynq.Timeout(time.Minute)), nil
}

// NewRemindersDigestTask is the org's admin digest for at's UTC day, processed at at:
// low queue, TaskID "reminders:digest:<org>:<day>".
func NewRemindersDigestTask(orgID string, at time.Time) (*asynq.Task, error) {
	day := at.UTC().Format("20060102")
	b, err := encode(RemindersDigest{OrgID: orgID, Day: day})
	if err != nil {
		return nil, err
	}
	return asynq.NewTask(TypeRemindersDigest, b, asynq.Queue(QueueLow), asynq.ProcessAt(at),
		asynq.TaskID(TypeRemindersDigest+":"+orgID+":"+day), asynq.Retention(RemindersRetention),
		asynq.MaxRetry(10), asynq.Timeout(time.Minute)), nil
}

// AggregateReminders merges a membership group's break tasks into one notify: the
// earliest noticed time, the number of breaks. Members that do not decode are ignored
// (Decode refused them at the producer already); an empty result keeps the group's
// membership so the notify still runs.
func AggregateReminders(group string, tasks []*asynq.Task) *asynq.Task {
	out := RemindersNotify{}
	for _, t := range tasks {
		p, err := Decode[RemindersNotify](t.Payload())
		if err != nil {
			continue
		}
		if out.OrgID == "" {
			out.OrgID, out.MembershipID = p.OrgID, p.MembershipID
		}
		if p.Noticed > 0 && (out.Noticed == 0 || p.Noticed < out.Noticed) {
			out.Noticed = p.Noticed
		}
		out.Breaks += max(p.Breaks, 1)
	}
	b, _ := json.Marshal(out)
	return asynq.NewTask(TypeRemindersNotify, b, asynq.MaxRetry(10), asynq.Timeout(time.Minute))
}

// ReminderQueue implements reminders.Enqueuer with Asynq.
type ReminderQueue struct {
	Client Enqueuer
}

var _ reminders.Enqueuer = ReminderQueue{}

// Notify implements reminders.Enqueuer.
func (q ReminderQueue) Notify(ctx context.Context, orgID, membershipID string, noticed time.Time) error {
	t, err := NewRemindersBreakTask(orgID, membershipID, noticed)
	if err != nil {
		return err
	}
	_, err = q.Client.EnqueueContext(ctx, t)
	if err != nil {
		return fmt.Errorf("queue reminder of member %s: %w", membershipID, err)
	}
	return nil
}

// FollowUp implements reminders.Enqueuer.
func (q ReminderQueue) FollowUp(ctx context.Context, orgID, membershipID string, seq int, at time.Time) error {
	t, err := NewRemindersFollowUpTask(orgID, membershipID, seq, at)
	if err != nil {
		return err
	}
	return q.enqueue(ctx, t)
}

// Digest implements reminders.Enqueuer.
func (q ReminderQueue) Digest(ctx context.Context, orgID string, at time.Time) error {
	t, err := NewRemindersDigestTask(orgID, at)
	if err != nil {
		return err
	}
	return q.enqueue(ctx, t)
}

func (q ReminderQueue) enqueue(ctx context.Context, t *asynq.Task) error {
	_, err := q.Client.EnqueueContext(ctx, t)
	if errors.Is(err, asynq.ErrTaskIDConflict) || errors.Is(err, asynq.ErrDuplicateTask) {
		return nil
	}
	return err
}
