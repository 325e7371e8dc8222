package jobs

import (
	"errors"
	"time"

	"github.com/hibiken/asynq"
)

// TypeMembersDeactivate deactivates one member: revoke at each provider, delete the
// tokens, cancel the member's scheduled tasks, free the seat (sync/members.Deactivator).
const TypeMembersDeactivate = "members:deactivate"

// MembersDeactivate is the payload of TypeMembersDeactivate: ids, and when it was asked.
type MembersDeactivate struct {
	OrgID        string `json:"org_id"`
	MembershipID string `json:"membership_id"`
	// RequestedAt is when the deactivation was queued, Unix seconds; 0 in tasks queued
	// before it was added. No row holds it, and a wait says how long retries have run.
	RequestedAt int64 `json:"requested_at,omitempty"`
}

// Validate reports a missing id.
func (p MembersDeactivate) Validate() error {
	if p.OrgID == "" {
		return errors.New("org_id is required")
	}
	if p.MembershipID == "" {
		return errors.New("membership_id is required")
	}
	if p.RequestedAt < 0 {
		return errors.New("requested_at must not be negative")
	}
	return nil
}

// MembersDeactivateRetention keeps a finished deactivation's TaskID (and result, for
// --wait) an hour: a second request meanwhile is answered "already done".
const MembersDeactivateRetention = time.Hour

// TaskIDMembersDeactivate is "members:deactivate:<org>:<membership>": one deactivation of
// a member at a time, whoever asks.
func TaskIDMembersDeactivate(orgID, membershipID string) string {
	return TypeMembersDeactivate + ":" + orgID + ":" + membershipID
}

// NewMembersDeactivateTask returns the deactivation of a member: critical queue (a
// departed member's access ends first), TaskID TaskIDMembersDeactivate kept for
// MembersDeactivateRetention, 12 retries over about half a day (a provider down is
// retried with backoff; after the last, the remaining tokens are deleted anyway),
// 2-minute timeout. at is when it is asked.
func NewMembersDeactivateTask(orgID, membershipID string, at time.Time) (*asynq.Task, error) {
	b, err := encode(MembersDeactivate{OrgID: orgID, MembershipID: membershipID, RequestedAt: at.Unix()})
	if err != nil {
		return nil, err
	}
	return asynq.NewTask(TypeMembersDeactivate, b,
		asynq.Queue(QueueCritical),
		asynq.TaskID(TaskIDMembersDeactivate(orgID, membershipID)),
		asynq.Retention(MembersDeactivateRetention),
		asynq.MaxRetry(12),
		asynq.Timeout(2*time.Minute),
	), nil
}

// unixOrZero is t in Unix seconds, 0 for the zero time (omitted from a payload).
func unixOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}
