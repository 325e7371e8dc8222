package onboarding

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"tether/sync/directory"
	"tether/sync/store/storeerr"
)

// ErrAlreadyQueued is returned by an Enqueuer when that attempt is already queued or was
// sent recently.
var ErrAlreadyQueued = errors.New("send attempt already queued")

// Enqueuer queues one send attempt (the invites:send task).
type Enqueuer interface {
	// EnqueueInviteSend returns an error wrapping ErrAlreadyQueued if the attempt is
	// queued, running or recently done.
	EnqueueInviteSend(ctx context.Context, orgID, inviteID string, attempt int) error
}

// ResendStore is what Resend needs from persistence.
type ResendStore interface {
	GetInvite(ctx context.Context, orgID, id string) (directory.Invite, error)
	// FindPendingInvite returns storeerr.ErrNotFound if the org has no pending invite
	// for the email.
	FindPendingInvite(ctx context.Context, orgID, email string) (directory.Invite, error)
}

// Resend queues a new send attempt of the org's pending invite named by ref (an invite id,
// or an email address when ref contains "@") and returns the invite and the attempt
// number: the invite's sent count + 1, so running Resend twice before the worker gets to
// it queues one attempt (the second call gets ErrAlreadyQueued), and a retried attempt is
// never sent twice. The new email carries a new link; the previous one stops working when
// it is sent. Errors: ErrInviteNotFound, ErrNotPending, ErrAlreadyQueued.
func Resend(ctx context.Context, st ResendStore, q Enqueuer, orgID, ref string) (directory.Invite, int, error) {
	var (
		inv directory.Invite
		err error
	)
	if strings.Contains(ref, "@") {
		inv, err = st.FindPendingInvite(ctx, orgID, ref)
	} else {
		inv, err = st.GetInvite(ctx, orgID, ref)
	}
	if errors.Is(err, storeerr.ErrNotFound) {
		return directory.Invite{}, 0, fmt.Errorf("resend invite %q in org %s: %w", ref, orgID, ErrInviteNotFound)
	}
	if err != nil {
		return directory.Invite{}, 0, fmt.Errorf("resend invite %q in org %s: %w", ref, orgID, err)
	}
	if inv.Status != directory.InvitePending {
		return inv, 0, fmt.Errorf("resend invite %s: it is %s: %w", inv.ID, inv.Status, ErrNotPending)
	}
	attempt := inv.SentCount + 1
	if err := q.EnqueueInviteSend(ctx, orgID, inv.ID, attempt); err != nil {
		return inv, attempt, fmt.Errorf("resend invite %s attempt %d: %w", inv.ID, attempt, err)
	}
	return inv, attempt, nil
}
