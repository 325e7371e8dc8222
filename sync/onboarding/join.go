package onboarding

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"time"

	"tether/sync/connections"
	"tether/sync/directory"
	"tether/sync/events"
	"tether/sync/vault"
)

// Join outcomes a caller turns into pages.
var (
	// ErrInvalidToken: no invite has this token (or it is malformed). HTTP 404.
	ErrInvalidToken = errors.New("this invitation link is not valid")
	// ErrTokenUsed: the invite was accepted or revoked. HTTP 410.
	ErrTokenUsed = errors.New("this invitation link was already used or withdrawn")
	// ErrTokenExpired: the link's time is up. HTTP 410.
	ErrTokenExpired = errors.New("this invitation link has expired")
	// ErrBadState: the OAuth callback's state was not made by us or belongs to another
	// browser. HTTP 400.
	ErrBadState = errors.New("the sign-in could not be matched to an invitation")
	// ErrStateExpired: the connect took longer than the state lives. HTTP 400.
	ErrStateExpired = errors.New("the sign-in took too long")
	// ErrWrongAccount: the Salesforce account is not the invited one; nothing was stored
	// and the grant was revoked. HTTP 403.
	ErrWrongAccount = errors.New("this Salesforce account is not the one the invitation is for")
	// ErrConnectFailed: the provider refused the code or could not be reached. HTTP 502.
	ErrConnectFailed = errors.New("connecting to Salesforce failed")
)

// DefaultStateTTL is how long a Salesforce connect may take when JoinerConfig.StateTTL is
// zero.
const DefaultStateTTL = 15 * time.Minute

// Grant is what a successful authorization-code exchange yields.
type Grant struct {
	AccessToken  vault.Token
	RefreshToken vault.Token
	// OrgID and UserID come from the identity URL, normalised to 18 characters.
	OrgID, UserID string
	InstanceURL   string
	LoginURL      string
	Scopes        []string
	IssuedAt      time.Time
}

// Connector runs the Salesforce web-server flow with PKCE (S256).
type Connector interface {
	// AuthURL is the authorize URL to send the browser to.
	AuthURL(state, codeChallenge, loginHint string) string
	// Exchange redeems code with the PKCE verifier.
	Exchange(ctx context.Context, code, verifier string) (Grant, error)
	// Revoke revokes the grant of token at the provider.
	Revoke(ctx context.Context, token vault.Token) error
}

// Vault seals tokens and the OAuth state (vault.Keyring).
type Vault interface {
	Seal(plaintext []byte, rowID string) ([]byte, error)
	Open(sealed []byte, rowID string) ([]byte, error)
	SealToken(t vault.Token, rowID string) ([]byte, error)
}

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
	// FindConnection returns directory.ErrNotFound when the membership has no connection of
	// kind.
	FindConnection(ctx context.Context, orgID, membershipID string, kind connections.Kind) (connections.Connection, error)
	EnsureConnection(ctx context.Context, orgID, membershipID string, kind connections.Kind, at time.Time) (connections.Connection, error)
	UpdateConnection(ctx context.Context, orgID string, c connections.Connection, at time.Time) (connections.Connection, error)
	AppendEvent(ctx context.Context, e events.Event) error
}

// JoinerConfig configures a Joiner.
type JoinerConfig struct {
	Store JoinStore
	Vault Vault
	// Salesforce runs the connect for Salesforce-sourced invites. Nil means those invites
	// are accepted without a connect (the member connects later from a reconnect link).
	Salesforce Connector
	// StateTTL bounds one connect. Zero means DefaultStateTTL.
	StateTTL time.Duration
	// Now is the clock (nil: time.Now); Rand the source of nonces and PKCE verifiers
	// (nil: crypto/rand.Reader).
	Now  func() time.Time
	Rand io.Reader
}

// Joiner accepts Join links and links Salesforce connections. Safe for concurrent use.
type Joiner struct{ cfg JoinerConfig }

// NewJoiner returns a Joiner; Store and Vault are required.
func NewJoiner(cfg JoinerConfig) (*Joiner, error) {
	if cfg.Store == nil || cfg.Vault == nil {
		return nil, errors.New("onboarding joiner: store and vault are required")
	}
	cfg.StateTTL = cmp.Or(cfg.StateTTL, DefaultStateTTL)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
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
	return inv.Source == directory.SourceSalesforce && j.cfg.Salesforce != nil
}

// Joined is the result of accepting on a Join link's page.
type Joined struct {
	OrgID, OrgName, InviteID string
	// MembershipID is set once the invite is accepted: at once for an invite without a
	// connect, at FinishConnect for one with.
	MembershipID string
	Role         directory.Role
	// ConnectURL, when set, is the Salesforce authorize URL to send the browser to, and
	// Nonce the value the browser must present again (as a cookie) at the callback. The
	// invite stays pending until FinishConnect has checked the account.
	ConnectURL string
	Nonce      string
}

// Accept is the Join page's POST. An invite without a Salesforce connect is accepted now
// (the membership becomes active, the user is created if new). A Salesforce-sourced invite
// is not accepted here: the result carries a ConnectURL and FinishConnect accepts it once
// the account is the invited one. Errors: ErrInvalidToken, ErrTokenUsed, ErrTokenExpired,
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
		out.ConnectURL, out.Nonce, err = j.startConnect(inv, hash, now)
		if err != nil {
			return Joined{}, fmt.Errorf("join invite %s: %w", inv.ID, err)
		}
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
	if err := j.cfg.Store.AppendEvent(ctx, events.Event{OrgID: inv.OrgID, Kind: "invite.accepted", Subject: inv.ID, At: now,
		Detail: map[string]any{"membership_id": m.ID}}); err != nil {
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
	if err != nil {
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

func (j *Joiner) startConnect(inv directory.Invite, hash string, now time.Time) (authURL, nonce string, err error) {
	var b [64]byte
	if _, err := io.ReadFull(j.cfg.Rand, b[:]); err != nil {
		return "", "", fmt.Errorf("start salesforce connect: %w", err)
	}
	nonce = base64.RawURLEncoding.EncodeToString(b[:16])
	verifier := base64.RawURLEncoding.EncodeToString(b[16:]) // 64 chars, within RFC 7636's 43..128
	state, err := j.sealState(connectState{OrgID: inv.OrgID, InviteID: inv.ID, TokenHash: hash,
		Nonce: nonce, Verifier: verifier, Expires: now.Add(j.cfg.StateTTL).Unix()})
	if err != nil {
		return "", "", err
	}
	sum := sha256.Sum256([]byte(verifier))
	return j.cfg.Salesforce.AuthURL(state, base64.RawURLEncoding.EncodeToString(sum[:]), inv.Email), nonce, nil
}

// Connected is the result of a finished Salesforce connect.
type Connected struct {
	OrgID, OrgName, MembershipID, ConnectionID string
	SalesforceUserID                           string
}

// FinishConnect completes the Salesforce connect the callback reports: state and code from
// the query, nonce from the browser's cookie. It exchanges the code and checks the
// Salesforce user id against the invite's (15/18-character forms compare equal). Only on a
// match does anything change: the invite is accepted (the membership becomes active) and
// the personal connection is stored sealed (row id as associated data) in state healthy.
// On a mismatch it revokes the grant, leaves the invite pending and usable by the invited
// person, and returns ErrWrongAccount. Other errors: ErrBadState, ErrStateExpired,
// ErrTokenUsed, ErrTokenExpired, ErrConnectFailed, or a store failure.
func (j *Joiner) FinishConnect(ctx context.Context, state, code, nonce string) (Connected, error) {
	if j.cfg.Salesforce == nil {
		return Connected{}, ErrBadState
	}
	now := j.cfg.Now()
	st, err := j.openState(state, now)
	if err != nil {
		return Connected{}, err
	}
	if nonce == "" || nonce != st.Nonce {
		return Connected{}, ErrBadState
	}
	inv, err := j.cfg.Store.GetInvite(ctx, st.OrgID, st.InviteID)
	if err != nil {
		return Connected{}, fmt.Errorf("finish connect of invite %s: %w", st.InviteID, err)
	}
	switch {
	case inv.TokenHash != st.TokenHash:
		// Resent since the connect began: the older link no longer speaks for the invite.
		return Connected{}, ErrTokenUsed
	case inv.Status == directory.InvitePending && !now.Before(inv.ExpiresAt), inv.Status == directory.InviteExpired:
		return Connected{}, ErrTokenExpired
	case inv.Status == directory.InviteAccepted && j.connectPending(ctx, inv, now):
	case inv.Status != directory.InvitePending:
		return Connected{}, ErrTokenUsed
	}
	g, err := j.cfg.Salesforce.Exchange(ctx, code, st.Verifier)
	if err != nil {
		return Connected{}, fmt.Errorf("finish connect of invite %s: %w: %w", inv.ID, ErrConnectFailed, err)
	}
	if !SameSalesforceID(g.UserID, inv.SalesforceUserID) {
		// Nothing is stored and the invite stays pending; the grant is given back so it
		// does not count against the user's five approvals. A failed revoke is reported in
		// the event, not to the user.
		detail := j.giveBack(ctx, g)
		detail["expected_user_id"], detail["got_user_id"] = inv.SalesforceUserID, g.UserID
		if err := j.cfg.Store.AppendEvent(ctx, events.Event{OrgID: inv.OrgID, Kind: "invite.connect_refused",
			Subject: inv.ID, At: now, Detail: detail}); err != nil {
			return Connected{}, fmt.Errorf("finish connect of invite %s: %w (audit event not written: %v)", inv.ID, ErrWrongAccount, err)
		}
		return Connected{}, fmt.Errorf("finish connect of invite %s: %w", inv.ID, ErrWrongAccount)
	}
	var m directory.Membership
	if inv.Status == directory.InvitePending {
		m, err = j.accept(ctx, inv, st.TokenHash, now)
	} else {
		m, err = j.memberOf(ctx, inv)
	}
	if err != nil {
		if errors.Is(err, ErrTokenUsed) || errors.Is(err, ErrTokenExpired) {
			j.giveBack(ctx, g)
		}
		return Connected{}, fmt.Errorf("finish connect of invite %s: %w", inv.ID, err)
	}
	c, err := j.storeConnection(ctx, m, g, now)
	if err != nil {
		return Connected{}, fmt.Errorf("finish connect of invite %s: %w", inv.ID, err)
	}
	if err := j.cfg.Store.AppendEvent(ctx, events.Event{OrgID: inv.OrgID, Kind: "connection.connected", Subject: c.ID, At: now,
		Detail: map[string]any{"kind": string(connections.KindSalesforce), "membership_id": m.ID, "invite_id": inv.ID,
			"salesforce_user_id": g.UserID}}); err != nil {
		return Connected{}, fmt.Errorf("finish connect of invite %s: connected, audit event not written: %w", inv.ID, err)
	}
	org, err := j.cfg.Store.GetOrg(ctx, inv.OrgID)
	if err != nil {
		return Connected{}, fmt.Errorf("finish connect of invite %s: %w", inv.ID, err)
	}
	return Connected{OrgID: inv.OrgID, OrgName: org.Name, MembershipID: m.ID, ConnectionID: c.ID, SalesforceUserID: g.UserID}, nil
}

// giveBack revokes a grant tether will not keep and returns what happened, for the event.
func (j *Joiner) giveBack(ctx context.Context, g Grant) map[string]any {
	detail := map[string]any{"revoked": true}
	if rerr := j.cfg.Salesforce.Revoke(ctx, cmp.Or(g.RefreshToken, g.AccessToken)); rerr != nil {
		detail["revoked"] = false
		detail["revoke_error"] = rerr.Error()
	}
	return detail
}

// storeConnection writes g into the membership's Salesforce connection, sealed with the
// row id, retrying once if another writer moved the version in between.
func (j *Joiner) storeConnection(ctx context.Context, m directory.Membership, g Grant, now time.Time) (connections.Connection, error) {
	var lastErr error
	for range 2 {
		c, err := j.cfg.Store.EnsureConnection(ctx, m.OrgID, m.ID, connections.KindSalesforce, now)
		if err != nil {
			return connections.Connection{}, err
		}
		if c.AccessTokenEnc, err = j.cfg.Vault.SealToken(g.AccessToken, c.ID); err != nil {
			return connections.Connection{}, err
		}
		c.RefreshTokenEnc = nil
		if !g.RefreshToken.IsZero() {
			if c.RefreshTokenEnc, err = j.cfg.Vault.SealToken(g.RefreshToken, c.ID); err != nil {
				return connections.Connection{}, err
			}
		}
		c.PendingTokenEnc = nil
		c.Scopes = g.Scopes
		c.ProviderAccountID, c.ProviderOrgID = g.UserID, g.OrgID
		c.InstanceURL, c.LoginURL = g.InstanceURL, g.LoginURL
		c.State = connections.StateHealthy
		c.ConsecutiveFailures, c.LastErrorCode, c.LastErrorDescription = 0, "", ""
		c.LastRefreshedAt = cmp.Or(g.IssuedAt, now)
		c.LastVerifiedAt = now
		// Salesforce sends no expires_in; the upkeep sweep schedules the first refresh.
		c.ExpiresAt, c.NextRefreshAt = time.Time{}, time.Time{}
		c, err = j.cfg.Store.UpdateConnection(ctx, m.OrgID, c, now)
		if errors.Is(err, directory.ErrConflict) {
			lastErr = err
			continue
		}
		return c, err
	}
	return connections.Connection{}, lastErr
}

// SameSalesforceID reports whether a and b are valid ids of the same Salesforce record
// (see directory.SameSalesforceID).
func SameSalesforceID(a, b string) bool { return directory.SameSalesforceID(a, b) }
