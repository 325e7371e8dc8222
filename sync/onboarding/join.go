package onboarding

import (
	"context"
	"errors"
	"fmt"
	"time"

	"tether/sync/connect"
	"tether/sync/connections"
	"tether/sync/directory"
	"tether/sync/events"
)

// Join outcomes a caller turns into pages.
var (
	// ErrInvalidToken: no invite has this token (or it is malformed). HTTP 404.
	ErrInvalidToken = errors.New("this invitation link is not valid")
	// ErrTokenUsed: the invite was accepted or revoked. HTTP 410.
	ErrTokenUsed = errors.New("this invitation link was already used or withdrawn")
	// ErrTokenExpired: the link's time is up. HTTP 410.
	ErrTokenExpired = errors.New("this invitation link has expired")
)

// JoinStore is what Joiner needs from persistence.
type JoinStore interface {
	// GetInviteByTokenHash returns directory.ErrNotFound for an unknown hash.
	GetInviteByTokenHash(ctx context.Context, tokenHash string) (directory.Invite, error)
	// AcceptInvite returns directory.ErrConflict if not pending, directory.ErrExpired if
	// expired.
	AcceptInvite(ctx context.Context, tokenHash, name string, at time.Time) (directory.Membership, error)
	GetInvite(ctx context.Context, orgID, id string) (directory.Invite, error)
	GetOrg(ctx context.Context, orgID string) (directory.Org, error)
	GetUserByEmail(ctx context.Context, email string) (directory.User, error)
	GetMembershipByUser(ctx context.Context, orgID, userID string) (directory.Membership, error)
	FindConnection(ctx context.Context, orgID, membershipID string, kind connections.Kind) (connections.Connection, error)
	AppendEvent(ctx context.Context, e events.Event) error
}

// JoinerConfig configures a Joiner.
type JoinerConfig struct {
	Store JoinStore
	// ConnectSalesforce makes a Salesforce-sourced invite join through a Salesforce connect
	// of the invited user (the connect flow of sync/connect); false accepts it at once
	// (no Salesforce client is configured; the member connects later from a link).
	ConnectSalesforce bool
	// Now is the clock (nil: time.Now).
	Now func() time.Time
	// Observer computes a new member's Action Required reasons once the invite is
	// accepted (members.Service). Nil: nobody is told.
	Observer connections.Observer
	// Admins hears an admin's Join (members.Service): an arriving admin releases the
	// alerts that waited for one. Nil: nobody is told.
	Admins AdminArrivals
}

// AdminArrivals hears a membership that became an active admin.
type AdminArrivals interface {
	AdminArrived(ctx context.Context, orgID, membershipID string) error
}

// Joiner accepts Join links; a Salesforce-sourced invite's connect runs through
// sync/connect, which calls back InviteUsable and AcceptInvite. Safe for concurrent use.
type Joiner struct{ cfg JoinerConfig }

var _ connect.Invites = (*Joiner)(nil)

// NewJoiner returns a Joiner; Store is required.
func NewJoiner(cfg JoinerConfig) (*Joiner, error) {
	if cfg.Store == nil {
		return nil, errors.New("onboarding joiner: a store is required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Joiner{cfg: cfg}, nil
}

// Invitation is what a Join link's page shows before anything changes.
type Invitation struct {
	OrgID, OrgName, InviteID string
	Role                     directory.Role
	// Connect is true when accepting goes through a Salesforce sign-in as the invited user.
	Connect bool
}

// Check reads the invite behind token without changing anything: GET and HEAD of a Join
// link call it, so a link scanner opening the link spends nothing. Errors:
// ErrInvalidToken, ErrTokenUsed, ErrTokenExpired, or a store failure (wrapped).
func (j *Joiner) Check(ctx context.Context, token string) (Invitation, error) {
	inv, _, err := j.usable(ctx, token, j.cfg.Now())
	if err != nil {
		return Invitation{}, err
	}
	org, err := j.cfg.Store.GetOrg(ctx, inv.OrgID)
	if err != nil {
		return Invitation{}, fmt.Errorf("join invite %s: %w", inv.ID, err)
	}
	return Invitation{OrgID: inv.OrgID, OrgName: org.Name, InviteID: inv.ID, Role: inv.Role, Connect: j.needsConnect(inv)}, nil
}

// usable returns the invite behind token if its link may be used now: pending and not
// expired, or accepted with its Salesforce connect still unfinished (a crash between the
// acceptance and storing the connection). It reads only.
func (j *Joiner) usable(ctx context.Context, token string, now time.Time) (directory.Invite, string, error) {
	hash, ok := HashToken(token)
	if !ok {
		return directory.Invite{}, "", ErrInvalidToken
	}
	inv, err := j.cfg.Store.GetInviteByTokenHash(ctx, hash)
	if errors.Is(err, directory.ErrNotFound) {
		return directory.Invite{}, "", ErrInvalidToken
	}
	if err != nil {
		return directory.Invite{}, "", fmt.Errorf("join: %w", err)
	}
	switch {
	case inv.Status == directory.InviteExpired || (inv.Status == directory.InvitePending && !now.Before(inv.ExpiresAt)):
		return directory.Invite{}, "", ErrTokenExpired
	case inv.Status == directory.InviteAccepted && j.connectPending(ctx, inv, now):
		return inv, hash, nil
	case inv.Status != directory.InvitePending:
		return directory.Invite{}, "", ErrTokenUsed
	}
	return inv, hash, nil
}

func (j *Joiner) needsConnect(inv directory.Invite) bool {
	return inv.Source == directory.SourceSalesforce && j.cfg.ConnectSalesforce
}

// Joined is the result of accepting on a Join link's page.
type Joined struct {
	OrgID, OrgName, InviteID string
	// MembershipID is set once the invite is accepted: at once for an invite without a
	// connect, when the connect flow accepts it (AcceptInvite) for one with.
	MembershipID string
	Role         directory.Role
	// Connect, when set, is the Salesforce connect to start (connect.Flow.StartInvite);
	// the invite stays pending until the connect has checked the account.
	Connect *connect.InviteConnect
}

// Accept is the Join page's POST. An invite without a Salesforce connect is accepted now
// (the membership becomes active, the user is created if new). A Salesforce-sourced invite
// is not accepted here: the result carries the Connect to start, and the connect flow
// accepts it (AcceptInvite) once the account is the invited one. Errors: ErrInvalidToken, ErrTokenUsed, ErrTokenExpired,
// or a store failure (wrapped).
func (j *Joiner) Accept(ctx context.Context, token string) (Joined, error) {
	now := j.cfg.Now()
	inv, hash, err := j.usable(ctx, token, now)
	if err != nil {
		return Joined{}, err
	}
	org, err := j.cfg.Store.GetOrg(ctx, inv.OrgID)
	if err != nil {
		return Joined{}, fmt.Errorf("join invite %s: %w", inv.ID, err)
	}
	out := Joined{OrgID: inv.OrgID, OrgName: org.Name, InviteID: inv.ID, Role: inv.Role}
	if j.needsConnect(inv) {
		out.Connect = &connect.InviteConnect{OrgID: inv.OrgID, InviteID: inv.ID, TokenHash: hash,
			SalesforceUserID: inv.SalesforceUserID, Username: inv.SalesforceUsername, Email: inv.Email}
		return out, nil
	}
	m, err := j.accept(ctx, inv, hash, now)
	if err != nil {
		return Joined{}, err
	}
	out.MembershipID, out.Role = m.ID, m.Role
	return out, nil
}

// accept turns the pending invite into an active membership and records the event.
func (j *Joiner) accept(ctx context.Context, inv directory.Invite, hash string, now time.Time) (directory.Membership, error) {
	m, err := j.cfg.Store.AcceptInvite(ctx, hash, "", now)
	switch {
	case errors.Is(err, directory.ErrExpired):
		return directory.Membership{}, ErrTokenExpired
	case errors.Is(err, directory.ErrConflict), errors.Is(err, directory.ErrNotFound):
		// Accepted or renewed by someone else between the read and the accept.
		return directory.Membership{}, ErrTokenUsed
	case err != nil:
		return directory.Membership{}, fmt.Errorf("join invite %s: %w", inv.ID, err)
	}
	detail := map[string]any{"membership_id": m.ID}
	if j.cfg.Observer != nil {
		// The Join stands either way; a failed recompute is on record in the event.
		if err := j.cfg.Observer.ConnectionChanged(ctx, inv.OrgID, m.ID); err != nil {
			detail["action_required_error"] = err.Error()
		}
	}
	if j.cfg.Admins != nil && m.Role == directory.RoleAdmin {
		if err := j.cfg.Admins.AdminArrived(ctx, inv.OrgID, m.ID); err != nil {
			detail["admin_alerts_error"] = err.Error()
		}
	}
	if err := j.cfg.Store.AppendEvent(ctx, events.Event{OrgID: inv.OrgID, Kind: "invite.accepted", Subject: inv.ID, At: now,
		Detail: detail}); err != nil {
		return directory.Membership{}, fmt.Errorf("join invite %s: accepted, audit event not written: %w", inv.ID, err)
	}
	return m, nil
}

// connectPending reports whether an accepted Salesforce invite's link may start the
// connect again: still within its expiry and no healthy Salesforce connection yet. It
// reads only.
func (j *Joiner) connectPending(ctx context.Context, inv directory.Invite, now time.Time) bool {
	if !j.needsConnect(inv) || !now.Before(inv.ExpiresAt) {
		return false
	}
	m, err := j.memberOf(ctx, inv)
	if err != nil || m.Status != directory.MembershipActive {
		// A member deactivated since (their connection revoked) comes back through a new
		// invitation, not through the old link.
		return false
	}
	c, err := j.cfg.Store.FindConnection(ctx, inv.OrgID, m.ID, connections.KindSalesforce)
	if errors.Is(err, directory.ErrNotFound) {
		return true
	}
	return err == nil && c.State != connections.StateHealthy
}

func (j *Joiner) memberOf(ctx context.Context, inv directory.Invite) (directory.Membership, error) {
	u, err := j.cfg.Store.GetUserByEmail(ctx, inv.Email)
	if err != nil {
		return directory.Membership{}, err
	}
	return j.cfg.Store.GetMembershipByUser(ctx, inv.OrgID, u.ID)
}

// InviteUsable implements connect.Invites: the invite may still be joined through the Join
// link whose token hashes to tokenHash (a resend since voids it).
func (j *Joiner) InviteUsable(ctx context.Context, orgID, inviteID, tokenHash string) error {
	_, err := j.inviteFor(ctx, orgID, inviteID, tokenHash, j.cfg.Now())
	return err
}

// AcceptInvite implements connect.Invites: it accepts the pending invite (or finds the
// membership of one accepted before its connect finished) once the account checked out.
func (j *Joiner) AcceptInvite(ctx context.Context, orgID, inviteID, tokenHash string) (directory.Membership, error) {
	now := j.cfg.Now()
	inv, err := j.inviteFor(ctx, orgID, inviteID, tokenHash, now)
	if err != nil {
		return directory.Membership{}, err
	}
	if inv.Status == directory.InvitePending {
		m, err := j.accept(ctx, inv, tokenHash, now)
		return m, joinOutcome(err)
	}
	return j.memberOf(ctx, inv)
}

func (j *Joiner) inviteFor(ctx context.Context, orgID, inviteID, tokenHash string, now time.Time) (directory.Invite, error) {
	inv, err := j.cfg.Store.GetInvite(ctx, orgID, inviteID)
	if err != nil {
		return directory.Invite{}, fmt.Errorf("invite %s: %w", inviteID, err)
	}
	switch {
	case inv.TokenHash != tokenHash:
		// Resent since the connect began: the older link no longer speaks for the invite.
		return directory.Invite{}, joinOutcome(ErrTokenUsed)
	case inv.Status == directory.InviteExpired || (inv.Status == directory.InvitePending && !now.Before(inv.ExpiresAt)):
		return directory.Invite{}, joinOutcome(ErrTokenExpired)
	case inv.Status == directory.InviteAccepted && j.connectPending(ctx, inv, now):
	case inv.Status != directory.InvitePending:
		return directory.Invite{}, joinOutcome(ErrTokenUsed)
	}
	return inv, nil
}

// joinOutcome adds the connect flow's sentinel to a Join outcome, so the connect pages
// show "used" or "expired".
func joinOutcome(err error) error {
	switch {
	case errors.Is(err, ErrTokenUsed):
		return fmt.Errorf("%w: %w", connect.ErrLinkUsed, err)
	case errors.Is(err, ErrTokenExpired):
		return fmt.Errorf("%w: %w", connect.ErrLinkExpired, err)
	}
	return err
}

// SameSalesforceID reports whether a and b are valid ids of the same Salesforce record
// (see directory.SameSalesforceID).
func SameSalesforceID(a, b string) bool { return directory.SameSalesforceID(a, b) }
