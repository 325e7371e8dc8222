package onboarding

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"tether/sync/directory"
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

// ResendStore is what Resender needs from persistence.
type ResendStore interface {
	GetInvite(ctx context.Context, orgID, id string) (directory.Invite, error)
	// FindPendingInvite returns directory.ErrNotFound if the org has no pending invite
	// for the email.
	FindPendingInvite(ctx context.Context, orgID, email string) (directory.Invite, error)
	// ReserveInviteSeat makes the invite hold a seat until expiresAt under the org's seat
	// lock: a lapsed or expired invite takes a free seat (an error wrapping
	// directory.ErrNoSeat if none is left), one that holds a seat keeps it.
	ReserveInviteSeat(ctx context.Context, orgID, id string, expiresAt, at time.Time) error
	// GetImport returns directory.ErrNotFound if the org has no such import.
	GetImport(ctx context.Context, orgID, id string) (directory.Import, error)
	// ResendableInvites returns the ids of the import's pending invites never sent or
	// whose latest email's delivery is unknown, in id order after afterID, at most limit.
	ResendableInvites(ctx context.Context, orgID, importID, afterID string, limit int) ([]string, error)
	// RequestInviteSend records that attempt was asked for, so the reconciler queues it
	// again if its task is lost before it is sent.
	RequestInviteSend(ctx context.Context, orgID, inviteID string, attempt int, at time.Time) error
}

// Resender queues invitation emails again: one invite (Resend) or every unsent invite of
// an import (ResendImport). It is the one producer of resends, called by the CLI and the
// HTTP API alike. Safe for concurrent use.
type Resender struct {
	Store ResendStore // required
	Queue Enqueuer    // required
	// TTL is how long a renewed invite holds its seat until its email sets the link's own
	// expiry. Zero means DefaultTokenTTL.
	TTL time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

func (r Resender) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// Resend queues a new send attempt of the org's invite named by ref (an invite id, or an
// email address when ref contains "@") and returns the invite and the attempt number:
// the invite's last settled attempt + 1, so running Resend twice before the worker gets
// to it queues one attempt (the second call gets ErrAlreadyQueued), a retried attempt is
// never sent twice, and an attempt whose delivery is unknown is followed by a new one. The new email carries a new link; the previous one stops working when
// it is sent.
//
// An invite that lapsed (or was marked expired) is renewed like a new invite: it takes a
// seat under the org's seat lock, so renewals never oversell. Errors: ErrInviteNotFound,
// ErrNotPending (accepted or revoked), an error wrapping directory.ErrNoSeat,
// ErrAlreadyQueued.
func (r Resender) Resend(ctx context.Context, orgID, ref string) (directory.Invite, int, error) {
	var (
		inv directory.Invite
		err error
	)
	if strings.Contains(ref, "@") {
		inv, err = r.Store.FindPendingInvite(ctx, orgID, ref)
	} else {
		inv, err = r.Store.GetInvite(ctx, orgID, ref)
	}
	if errors.Is(err, directory.ErrNotFound) {
		return directory.Invite{}, 0, fmt.Errorf("%w: org %s has no invite %q (an invite id, or the email of a pending invite); tether invite list --org %s lists them",
			ErrInviteNotFound, orgID, ref, orgID)
	}
	if err != nil {
		return directory.Invite{}, 0, fmt.Errorf("resend invite %q in org %s: %w", ref, orgID, err)
	}
	attempt, err := r.resend(ctx, inv)
	return inv, attempt, err
}

func (r Resender) resend(ctx context.Context, inv directory.Invite) (int, error) {
	if inv.Status != directory.InvitePending && inv.Status != directory.InviteExpired {
		return 0, notPendingError{fmt.Sprintf("invite %s to %s is %s, not pending: nothing to resend; to invite %s again, start a new invitation (tether invite emails --org %s, POST /v1/orgs/%s/imports)",
			inv.ID, inv.Email, inv.Status, inv.Email, inv.OrgID, inv.OrgID)}
	}
	now := r.now()
	err := r.Store.ReserveInviteSeat(ctx, inv.OrgID, inv.ID, now.Add(cmp.Or(r.TTL, DefaultTokenTTL)), now)
	switch {
	case errors.Is(err, directory.ErrNoSeat):
		return 0, fmt.Errorf("resend invite %s to %s: %w; revoke a pending invite (tether invite revoke) or raise the org's seat limit", inv.ID, inv.Email, err)
	case errors.Is(err, directory.ErrConflict), errors.Is(err, directory.ErrDuplicate):
		return 0, fmt.Errorf("resend invite %s: %w (%w)", inv.ID, ErrNotPending, err)
	case err != nil:
		return 0, fmt.Errorf("resend invite %s: %w", inv.ID, err)
	}
	attempt := inv.LastAttempt + 1
	// The row first: a task lost with Redis (or never queued) is then queued again by the
	// reconciler, under the same attempt's TaskID, so it is sent once.
	if err := r.Store.RequestInviteSend(ctx, inv.OrgID, inv.ID, attempt, now); err != nil {
		return 0, fmt.Errorf("resend invite %s attempt %d: %w", inv.ID, attempt, err)
	}
	if err := r.Queue.EnqueueInviteSend(ctx, inv.OrgID, inv.ID, attempt); err != nil {
		return attempt, fmt.Errorf("resend invite %s attempt %d: %w", inv.ID, attempt, err)
	}
	return attempt, nil
}

// notPendingError is ErrNotPending in a sentence a person can act on, without the
// sentinel's own text tacked on.
type notPendingError struct{ msg string }

func (e notPendingError) Error() string { return e.msg }
func (e notPendingError) Unwrap() error { return ErrNotPending }

// BulkResend is what ResendImport did.
type BulkResend struct {
	ImportID string `json:"import_id"`
	// Queued invites got a send task now; AlreadyQueued ones had one waiting (or
	// running); NoSeat ones lapsed and the org had no seat left to renew them.
	Queued        int `json:"queued"`
	AlreadyQueued int `json:"already_queued"`
	NoSeat        int `json:"no_seat"`
}

// ResendImport queues the invitation email of every pending invite of the org's import
// that was never sent (never queued, lost with Redis, or whose send failed for good: its
// archived task is replaced by the Enqueuer) or whose latest email's delivery is unknown
// (tether never resends those by itself: the person may have it already). Lapsed ones
// take a seat first, as in Resend. Returns ErrImportNotFound if the org has no such import.
func (r Resender) ResendImport(ctx context.Context, orgID, importID string) (BulkResend, error) {
	out := BulkResend{ImportID: importID}
	if _, err := r.Store.GetImport(ctx, orgID, importID); err != nil {
		if errors.Is(err, directory.ErrNotFound) {
			return out, fmt.Errorf("resend invites of import %s: org %s has no such import: %w", importID, orgID, ErrImportNotFound)
		}
		return out, fmt.Errorf("resend invites of import %s: %w", importID, err)
	}
	after := ""
	for {
		ids, err := r.Store.ResendableInvites(ctx, orgID, importID, after, 500)
		if err != nil {
			return out, fmt.Errorf("resend invites of import %s: %w", importID, err)
		}
		if len(ids) == 0 {
			return out, nil
		}
		after = ids[len(ids)-1]
		for _, id := range ids {
			inv, err := r.Store.GetInvite(ctx, orgID, id)
			if err != nil {
				return out, fmt.Errorf("resend invites of import %s: %w", importID, err)
			}
			_, err = r.resend(ctx, inv)
			switch {
			case err == nil:
				out.Queued++
			case errors.Is(err, ErrAlreadyQueued):
				out.AlreadyQueued++
			case errors.Is(err, directory.ErrNoSeat):
				out.NoSeat++
			case errors.Is(err, ErrNotPending):
				// accepted or revoked since the listing: nothing to send
			default:
				return out, fmt.Errorf("resend invites of import %s: %w", importID, err)
			}
		}
	}
}

// ErrImportNotFound is returned by ResendImport for an import the org does not have.
var ErrImportNotFound = errors.New("import not found")
