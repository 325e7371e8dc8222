package jobs

import (
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"
)

// TypeInvitesSend emails one invitation (one send attempt of one invite).
const TypeInvitesSend = "invites:send"

// InvitesSend is the payload of TypeInvitesSend. It carries ids only: the Join link's token
// is generated when the email is built and exists nowhere but in the email (the store keeps
// its hash), so nothing secret passes through Redis.
type InvitesSend struct {
	OrgID    string `json:"org_id"`
	InviteID string `json:"invite_id"`
	// Attempt numbers the sends of one invite: 1 is the first email (queued by the import),
	// a resend uses the invite's last settled attempt + 1. The worker sends attempt N at
	// most once (see sync/onboarding): a run killed after the mail server may have
	// accepted it leaves it unknown, never sent again.
	Attempt int `json:"attempt"`
}

// Validate reports a missing org or invite id or an attempt below 1.
func (p InvitesSend) Validate() error {
	switch {
	case p.OrgID == "":
		return errors.New("org_id is required")
	case p.InviteID == "":
		return errors.New("invite_id is required")
	case p.Attempt < 1:
		return fmt.Errorf("attempt %d: must be 1 or more", p.Attempt)
	}
	return nil
}

// InvitesSendRetention is how long a finished invites:send task is kept, which is how long
// its TaskID refuses a duplicate enqueue of the same attempt (an import re-run after a
// crash). The store's per-attempt record refuses a late duplicate after that.
const InvitesSendRetention = 7 * 24 * time.Hour

// InvitesSendMaxRetry bounds retries of a transient SMTP failure (4xx, connection refused).
// With Asynq's exponential backoff 8 retries span a few hours, about how long a mail server
// keeps greylisting. A permanent failure (5xx) is archived at once, without retries.
const InvitesSendMaxRetry = 8

// TaskIDInvitesSend is the TaskID of attempt of invite inviteID in org orgID:
// "invites:send:<org>:<invite>:<attempt>".
func TaskIDInvitesSend(orgID, inviteID string, attempt int) string {
	return fmt.Sprintf("%s:%s:%s:%d", TypeInvitesSend, orgID, inviteID, attempt)
}

// NewInviteSendTask returns the invites:send task for one attempt: default queue, TaskID
// TaskIDInvitesSend kept for InvitesSendRetention, InvitesSendMaxRetry retries, 1-minute
// timeout. Enqueuing the same attempt twice fails with asynq.ErrTaskIDConflict, which a
// producer re-running after a crash treats as "already queued".
func NewInviteSendTask(orgID, inviteID string, attempt int) (*asynq.Task, error) {
	s, err := InviteSendSpec(orgID, inviteID, attempt)
	if err != nil {
		return nil, err
	}
	return s.Task(), nil
}

// InviteSendSpec is NewInviteSendTask's task as a Spec, for a batch enqueue.
func InviteSendSpec(orgID, inviteID string, attempt int) (Spec, error) {
	b, err := encode(InvitesSend{OrgID: orgID, InviteID: inviteID, Attempt: attempt})
	if err != nil {
		return Spec{}, err
	}
	return Spec{Type: TypeInvitesSend, Payload: b, TaskID: TaskIDInvitesSend(orgID, inviteID, attempt),
		Queue: QueueDefault, MaxRetry: InvitesSendMaxRetry, Timeout: time.Minute, Retention: InvitesSendRetention}, nil
}
