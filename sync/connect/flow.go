package connect

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"strings"
	"time"

	"tether/sync/connections"
	"tether/sync/directory"
	"tether/sync/events"
	"tether/sync/vault"
)

// DefaultStateTTL bounds one authorization (button press to callback).
const DefaultStateTTL = 15 * time.Minute

// Provider names, the {provider} of /oauth/callback/{provider}.
const (
	ProviderSalesforce = "salesforce"
	ProviderGoogle     = "google"
	ProviderMicrosoft  = "microsoft"
	ProviderZoom       = "zoom"
)

// ProviderOf is the provider that grants connections of kind k.
func ProviderOf(k connections.Kind) string {
	switch k {
	case connections.KindSalesforceTeam, connections.KindSalesforce:
		return ProviderSalesforce
	case connections.KindGoogleCalendar:
		return ProviderGoogle
	case connections.KindMicrosoftCalendar, connections.KindTeams:
		return ProviderMicrosoft
	case connections.KindZoom:
		return ProviderZoom
	}
	return ""
}

// Identity is the provider account a grant belongs to, as the provider's identity endpoint
// reported it (Salesforce identity URL, Google userinfo, Graph /me, Zoom /v2/users/me).
type Identity struct {
	// ID is the user's id at the provider (Salesforce 18-character user id).
	ID string
	// OrgID is the Salesforce org id (18 characters); empty elsewhere.
	OrgID string
	Email string
	Name  string
}

// Grant is what an authorization-code exchange yields, with the identity already fetched.
type Grant struct {
	AccessToken  vault.Token
	RefreshToken vault.Token
	// Expiry is zero when the provider does not say (Salesforce).
	Expiry time.Time
	Scopes []string
	// MissingScopes are required scopes the person did not allow, by the names the
	// provider shows on its consent page.
	MissingScopes []string
	InstanceURL   string // Salesforce
	LoginURL      string // Salesforce
	Account       Identity
}

// AuthRequest is the authorize redirect to build.
type AuthRequest struct {
	Kind          connections.Kind
	LoginURL      string // Salesforce: the org's login host
	RedirectURI   string
	State         string
	CodeChallenge string // S256
	LoginHint     string
}

// ExchangeRequest redeems a code.
type ExchangeRequest struct {
	Kind        connections.Kind
	LoginURL    string
	Code        string
	Verifier    string
	RedirectURI string
}

// Providers talks to the providers. Exchange wraps ErrProviderDown when the provider could
// not be reached or answered 5xx, and ErrProviderRefused when it refused the code.
type Providers interface {
	AuthURL(r AuthRequest) (string, error)
	Exchange(ctx context.Context, r ExchangeRequest) (Grant, error)
	// Revoke revokes a grant at the provider; providers without per-grant revocation
	// (Microsoft) return nil: their tokens are simply dropped.
	Revoke(ctx context.Context, kind connections.Kind, loginURL string, token vault.Token) error
}

// Sessions keeps the server-side state of authorizations in progress and which links
// were spent (Redis in production).
type Sessions interface {
	PutState(ctx context.Context, key string, value []byte, ttl time.Duration) error
	// GetState returns nil, nil when there is no such state (unknown or expired).
	GetState(ctx context.Context, key string) ([]byte, error)
	// TakeState deletes the state and returns it; nil, nil if someone else took it first.
	TakeState(ctx context.Context, key string) ([]byte, error)
	// Spend marks a link used until expires; false if it already was.
	Spend(ctx context.Context, linkID string, expires time.Time) (bool, error)
	// Unspend gives a link back after a connect that could not be stored.
	Unspend(ctx context.Context, linkID string) error
	Spent(ctx context.Context, linkID string) (bool, error)
}

// AuditQueue queues a permission audit of an org (the one producer the API uses too). A
// duplicate (an audit already queued) is not an error.
type AuditQueue interface {
	QueueAudit(ctx context.Context, orgID string) error
}

// Invites lets a Join finish through this flow (onboarding.Joiner implements it). Errors
// wrap ErrLinkUsed or ErrLinkExpired when the invite can no longer be joined.
type Invites interface {
	// InviteUsable checks, changing nothing, that the invite may still be joined through
	// a link made from the Join link whose token hashes to tokenHash.
	InviteUsable(ctx context.Context, orgID, inviteID, tokenHash string) error
	// AcceptInvite accepts the invite (if not already) and returns its membership.
	AcceptInvite(ctx context.Context, orgID, inviteID, tokenHash string) (directory.Membership, error)
}

// Vault seals tokens with the connection row id as associated data.
type Vault interface {
	SealToken(t vault.Token, rowID string) ([]byte, error)
	OpenToken(sealed []byte, rowID string) (vault.Token, error)
}

// FlowStore is what the flow reads and writes.
type FlowStore interface {
	LinkStore
	GetUser(ctx context.Context, id string) (directory.User, error)
	// AcceptedSalesforceUsername is the Salesforce Username of the member's accepted
	// invite to email, "" when unknown.
	AcceptedSalesforceUsername(ctx context.Context, orgID, email string) (string, error)
	FindConnection(ctx context.Context, orgID, membershipID string, kind connections.Kind) (connections.Connection, error)
	EnsureConnection(ctx context.Context, orgID, membershipID string, kind connections.Kind, at time.Time) (connections.Connection, error)
	UpdateConnection(ctx context.Context, orgID string, c connections.Connection, at time.Time) (connections.Connection, error)
	AppendEvent(ctx context.Context, e events.Event) error
}

// FlowParams are the flow's dependencies; all but Audits, StateTTL, Now and Rand are
// required.
type FlowParams struct {
	Links     *Links
	Store     FlowStore
	Sessions  Sessions
	Providers Providers
	Vault     Vault
	// Audits queues the permission audit a team connect asks for. Nil: none is queued.
	Audits AuditQueue
	// Invites finishes Joins (links with an InviteID). Nil: such links are refused.
	Invites Invites
	// Observer hears of each personal connect, so the member's Action Required reasons
	// follow at once (members.Service). Nil: nobody is told.
	Observer connections.Observer
	// Policy schedules a new connection's first refresh (the configured refresh window and
	// Salesforce session default); zero fields take connections.DefaultPolicy's.
	Policy connections.Policy
	// SalesforceSession returns the org's Salesforce session timeout for a Salesforce
	// connection just connected with access, learning it from access
	// (connections.SessionLearner.Connected); 0 means not known. Nil: never known.
	SalesforceSession func(ctx context.Context, c connections.Connection, access vault.Token) time.Duration
	// BaseURL is tether's public URL; redirect URIs are BaseURL/oauth/callback/{provider}.
	BaseURL string
	// SalesforceLoginURL is the login host of org's Salesforce (production or sandbox).
	SalesforceLoginURL func(org directory.Org) string
	StateTTL           time.Duration
	Now                func() time.Time
	Rand               io.Reader
}

// Flow runs connect links in a browser. Safe for concurrent use.
type Flow struct{ p FlowParams }

// NewFlow checks p and returns a Flow.
func NewFlow(p FlowParams) (*Flow, error) {
	if p.Links == nil || p.Store == nil || p.Sessions == nil || p.Providers == nil || p.Vault == nil || p.SalesforceLoginURL == nil {
		return nil, errors.New("connect flow: links, store, sessions, providers, vault and the Salesforce login host are required")
	}
	p.BaseURL = strings.TrimRight(cmp.Or(p.BaseURL, p.Links.p.BaseURL), "/")
	p.StateTTL = cmp.Or(p.StateTTL, DefaultStateTTL)
	if p.Now == nil {
		p.Now = time.Now
	}
	if p.Rand == nil {
		p.Rand = rand.Reader
	}
	return &Flow{p: p}, nil
}

// StateTTL is how long a started authorization may take (the cookie's lifetime).
func (f *Flow) StateTTL() time.Duration { return f.p.StateTTL }

// RedirectURI is the callback URL registered at provider.
func (f *Flow) RedirectURI(provider string) string {
	return f.p.BaseURL + "/oauth/callback/" + provider
}

// Preview is what a link's page shows before anything happens.
type Preview struct {
	Link        Link
	OrgName     string
	MemberEmail string
	// Provider is the provider's display name ("Salesforce").
	Provider string
	// What will be connected, and Why tether needs it.
	What, Why string
	// Reconnect is true when the owner already has such a connection: it is replaced.
	Reconnect bool
}

var providerTitles = map[string]string{ProviderSalesforce: "Salesforce", ProviderGoogle: "Google",
	ProviderMicrosoft: "Microsoft", ProviderZoom: "Zoom"}

// Preview checks token and says what it connects. Errors: ErrLinkInvalid, ErrLinkExpired,
// ErrLinkUsed, or a store failure.
func (f *Flow) Preview(ctx context.Context, token string) (Preview, error) {
	link, org, m, err := f.open(ctx, token)
	if err != nil {
		return Preview{}, err
	}
	pv := Preview{Link: link, OrgName: org.Name, Provider: providerTitles[ProviderOf(link.Kind)]}
	if m.UserID != "" {
		if u, err := f.p.Store.GetUser(ctx, m.UserID); err == nil {
			pv.MemberEmail = u.Email
		}
	}
	pv.What, pv.Why = describe(link.Kind, org.Name)
	if c, err := f.existing(ctx, link); err == nil && len(c.AccessTokenEnc) > 0 {
		pv.Reconnect = true
	}
	return pv, nil
}

func describe(k connections.Kind, org string) (what, why string) {
	switch k {
	case connections.KindSalesforceTeam:
		return "the team-level Salesforce user of " + org,
			"tether reads Salesforce users and profiles through this user to invite your team, and checks every day that it still has the permissions the product needs. Sign in as the Salesforce user the product should act as (usually an integration user or an admin)."
	case connections.KindSalesforce:
		return "your Salesforce account", "so " + org + " can log your calls, meetings and emails in Salesforce for you."
	case connections.KindGoogleCalendar:
		return "your Google Calendar", "so meetings booked through " + org + " land on your calendar and respect when you are busy."
	case connections.KindMicrosoftCalendar:
		return "your Outlook calendar (Microsoft 365)", "so meetings booked through " + org + " land on your calendar. The same consent also lets tether create Teams meetings for you."
	case connections.KindTeams:
		return "Microsoft Teams meetings (Microsoft 365)", "so meetings booked through " + org + " get a Teams link. The same consent also covers your Outlook calendar."
	case connections.KindZoom:
		return "your Zoom account", "so meetings booked through " + org + " get a Zoom link."
	}
	return string(k), ""
}

// open verifies token and loads what it is bound to.
func (f *Flow) open(ctx context.Context, token string) (Link, directory.Org, directory.Membership, error) {
	link, err := f.p.Links.Verify(token)
	if err != nil {
		return Link{}, directory.Org{}, directory.Membership{}, err
	}
	spent, err := f.p.Sessions.Spent(ctx, link.ID)
	if err != nil {
		return Link{}, directory.Org{}, directory.Membership{}, fmt.Errorf("connect link %s: %w", link.ID, err)
	}
	if spent {
		return Link{}, directory.Org{}, directory.Membership{}, ErrLinkUsed
	}
	org, err := f.p.Store.GetOrg(ctx, link.OrgID)
	if errors.Is(err, directory.ErrNotFound) {
		return Link{}, directory.Org{}, directory.Membership{}, ErrLinkInvalid // the org is gone
	}
	if err != nil {
		return Link{}, directory.Org{}, directory.Membership{}, fmt.Errorf("connect link %s: %w", link.ID, err)
	}
	var m directory.Membership
	if link.MembershipID != "" {
		m, err = f.p.Store.GetMembership(ctx, link.OrgID, link.MembershipID)
		if errors.Is(err, directory.ErrNotFound) || (err == nil && m.Status == directory.MembershipDeactivated) {
			return Link{}, directory.Org{}, directory.Membership{}, ErrLinkInvalid
		}
		if err != nil {
			return Link{}, directory.Org{}, directory.Membership{}, fmt.Errorf("connect link %s: %w", link.ID, err)
		}
	}
	return link, org, m, nil
}

// flowState is what the server keeps between the button press and the callback.
type flowState struct {
	Link      Link   `json:"link"`
	NonceHash string `json:"nonce_hash"`
	Verifier  string `json:"verifier"`
	Provider  string `json:"provider"`
	LoginURL  string `json:"login_url,omitempty"`
}

// Started is an authorization to send the browser to.
type Started struct {
	AuthURL string
	// Nonce goes into the browser's cookie named CookieName; the callback must present it.
	Nonce      string
	CookieName string
	Provider   string
}

// CookieName is the cookie that binds the authorization with state to its browser. One
// cookie per state lets a browser run two connects at once.
func CookieName(state string) string { return "tether_connect_" + hash(state)[:16] }

// Start begins the authorization for token's link: a fresh state is kept server-side
// bound to a nonce (the caller's cookie) and a PKCE verifier. Errors as Preview.
func (f *Flow) Start(ctx context.Context, token string) (Started, error) {
	link, org, m, err := f.open(ctx, token)
	if err != nil {
		return Started{}, err
	}
	hint := ""
	if m.UserID != "" {
		if u, err := f.p.Store.GetUser(ctx, m.UserID); err == nil {
			hint = u.Email
		}
	}
	if hint != "" && link.Kind == connections.KindSalesforce {
		// Salesforce's login_hint is a Username, as a Join's (StartInvite); a hint is a
		// convenience, so a failed read keeps the email.
		if u, err := f.p.Store.AcceptedSalesforceUsername(ctx, link.OrgID, hint); err == nil && u != "" {
			hint = u
		}
	}
	return f.start(ctx, link, org, hint)
}

// InviteConnect is a Join's Salesforce connect: the invite, the token hash of its Join
// link, the Salesforce user it was made for, its Username and the invited email.
type InviteConnect struct {
	OrgID, InviteID, TokenHash        string
	SalesforceUserID, Username, Email string
}

// StartInvite begins a Join's Salesforce connect (the Join page's button was the press):
// a link bound to the invite, never shown to anyone, lives as long as the state.
func (f *Flow) StartInvite(ctx context.Context, ic InviteConnect) (Started, error) {
	if f.p.Invites == nil {
		return Started{}, errors.New("connect flow: no invites configured for Join")
	}
	l, err := f.p.Links.Issue(ctx, IssueRequest{OrgID: ic.OrgID, Kind: connections.KindSalesforce, TTL: f.p.StateTTL,
		Expected: ic.SalesforceUserID, InviteID: ic.InviteID, InviteHash: ic.TokenHash})
	if err != nil {
		return Started{}, err
	}
	org, err := f.p.Store.GetOrg(ctx, ic.OrgID)
	if err != nil {
		return Started{}, fmt.Errorf("start connect of invite %s: %w", ic.InviteID, err)
	}
	// Salesforce's login_hint is a Username; the invited Email is one only by chance (in a
	// Salesforce sandbox, never), so it is the hint only when the Username is unknown.
	return f.start(ctx, l.Link, org, cmp.Or(ic.Username, ic.Email))
}

func (f *Flow) start(ctx context.Context, link Link, org directory.Org, hint string) (Started, error) {
	var b [96]byte
	if _, err := io.ReadFull(f.p.Rand, b[:]); err != nil {
		return Started{}, fmt.Errorf("start connect: %w", err)
	}
	state := base64.RawURLEncoding.EncodeToString(b[:32])
	nonce := base64.RawURLEncoding.EncodeToString(b[32:64])
	verifier := base64.RawURLEncoding.EncodeToString(b[64:]) // 43 chars, RFC 7636's minimum
	provider := ProviderOf(link.Kind)
	st := flowState{Link: link, NonceHash: hash(nonce), Verifier: verifier, Provider: provider}
	if provider == ProviderSalesforce {
		st.LoginURL = f.p.SalesforceLoginURL(org)
	}
	raw, _ := json.Marshal(st)
	if err := f.p.Sessions.PutState(ctx, hash(state), raw, f.p.StateTTL); err != nil {
		return Started{}, fmt.Errorf("start connect of link %s: %w", link.ID, err)
	}
	sum := sha256.Sum256([]byte(verifier))
	u, err := f.p.Providers.AuthURL(AuthRequest{Kind: link.Kind, LoginURL: st.LoginURL, RedirectURI: f.RedirectURI(provider),
		State: state, CodeChallenge: base64.RawURLEncoding.EncodeToString(sum[:]), LoginHint: hint})
	if err != nil {
		return Started{}, fmt.Errorf("start connect of link %s: %w", link.ID, err)
	}
	return Started{AuthURL: u, Nonce: nonce, CookieName: CookieName(state), Provider: provider}, nil
}

func hash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// Callback is what the provider's redirect and the browser brought.
type Callback struct {
	State, Code string
	// Error is the provider's error parameter (access_denied, ...); its description is
	// never shown to anyone but the log.
	Error string
	// Nonce is the browser's cookie.
	Nonce string
}

// Result is a stored connection.
type Result struct {
	Link         Link
	OrgName      string
	Provider     string // display name
	Account      Identity
	ConnectionID string
	// Serves lists the kinds the stored grant serves (both Microsoft kinds when one
	// consent covered them).
	Serves []connections.Kind
	// Replaced is true when an earlier grant was replaced (and revoked).
	Replaced bool
	// AuditQueued is true when a team connect queued a permission audit; AuditError says
	// why not otherwise.
	AuditQueued bool
	AuditError  error
	// Next is what the member still has to do, with links (a personal connect or a Join);
	// NextError says why it could not be read (the connect stands either way).
	Next      []NextStep
	NextError error
}

// Finish completes the authorization that provider's callback reports. On any error the
// store is as it was; a grant that was obtained but refused is revoked at the provider.
func (f *Flow) Finish(ctx context.Context, provider string, cb Callback) (Result, error) {
	if cb.State == "" || cb.Nonce == "" {
		return Result{}, ErrBadState
	}
	key := hash(cb.State)
	raw, err := f.p.Sessions.GetState(ctx, key)
	if err != nil {
		return Result{}, fmt.Errorf("finish connect: %w", err)
	}
	var st flowState
	if raw == nil || json.Unmarshal(raw, &st) != nil || st.NonceHash != hash(cb.Nonce) || st.Provider != provider {
		return Result{}, ErrBadState
	}
	// Only the browser that started it gets this far; the state is spent from here on.
	if raw, err = f.p.Sessions.TakeState(ctx, key); err != nil {
		return Result{}, fmt.Errorf("finish connect: %w", err)
	} else if raw == nil {
		return Result{}, ErrBadState
	}
	link := st.Link
	switch cb.Error {
	case "":
	case "access_denied", "consent_required", "interaction_required", "login_required", "user_cancelled_login":
		return Result{}, ErrConsentDenied
	case "temporarily_unavailable", "server_error":
		return Result{}, ErrProviderDown
	default:
		return Result{}, fmt.Errorf("%w (%s)", ErrProviderRefused, cb.Error)
	}
	if spent, err := f.p.Sessions.Spent(ctx, link.ID); err != nil {
		return Result{}, fmt.Errorf("finish connect of link %s: %w", link.ID, err)
	} else if spent {
		return Result{}, ErrLinkUsed
	}
	if link.InviteID != "" {
		if f.p.Invites == nil {
			return Result{}, ErrLinkInvalid
		}
		if err := f.p.Invites.InviteUsable(ctx, link.OrgID, link.InviteID, link.InviteHash); err != nil {
			return Result{}, fmt.Errorf("finish connect of invite %s: %w", link.InviteID, err)
		}
	}
	now := f.p.Now()
	g, err := f.p.Providers.Exchange(ctx, ExchangeRequest{Kind: link.Kind, LoginURL: st.LoginURL, Code: cb.Code,
		Verifier: st.Verifier, RedirectURI: f.RedirectURI(provider)})
	if err != nil {
		return Result{}, fmt.Errorf("finish connect of link %s: %w", link.ID, err)
	}
	refuse := func(reason error, detail map[string]any) (Result, error) {
		revoked := f.revoke(ctx, link.Kind, st.LoginURL, cmp.Or(g.RefreshToken, g.AccessToken))
		if detail == nil {
			detail = map[string]any{}
		}
		detail["kind"], detail["reason"], detail["revoked"] = string(link.Kind), reason.Error(), revoked == nil
		detail["membership_id"], detail["link_id"], detail["invite_id"] = link.MembershipID, link.ID, link.InviteID
		if revoked != nil {
			detail["revoke_error"] = revoked.Error()
		}
		if err := f.p.Store.AppendEvent(ctx, events.Event{OrgID: link.OrgID, Kind: "connection.connect_refused",
			Subject: link.ID, At: now, Detail: detail}); err != nil {
			return Result{}, fmt.Errorf("finish connect of link %s: %w (audit event not written: %v)", link.ID, reason, err)
		}
		return Result{}, fmt.Errorf("finish connect of link %s: %w", link.ID, reason)
	}
	if len(g.MissingScopes) > 0 {
		return refuse(&ScopesError{Missing: g.MissingScopes}, map[string]any{"missing_scopes": g.MissingScopes})
	}
	if g.RefreshToken.IsZero() {
		return refuse(&ScopesError{Missing: []string{"offline access (a refresh token)"}}, nil)
	}
	if werr, err := f.checkAccount(ctx, link, g); err != nil {
		return Result{}, fmt.Errorf("finish connect of link %s: %w", link.ID, err)
	} else if werr != nil {
		return refuse(werr, map[string]any{"expected": werr.Expected, "got": werr.Got})
	}
	first, err := f.p.Sessions.Spend(ctx, link.ID, link.ExpiresAt)
	if err != nil {
		f.revoke(ctx, link.Kind, st.LoginURL, cmp.Or(g.RefreshToken, g.AccessToken))
		return Result{}, fmt.Errorf("finish connect of link %s: %w", link.ID, err)
	}
	if !first {
		return refuse(ErrLinkUsed, nil)
	}
	if link.InviteID != "" {
		// Only now, with the account checked, does the Join take effect.
		m, err := f.p.Invites.AcceptInvite(ctx, link.OrgID, link.InviteID, link.InviteHash)
		if err != nil {
			_ = f.p.Sessions.Unspend(ctx, link.ID)
			f.revoke(ctx, link.Kind, st.LoginURL, cmp.Or(g.RefreshToken, g.AccessToken))
			return Result{}, fmt.Errorf("finish connect of invite %s: %w", link.InviteID, err)
		}
		link.MembershipID = m.ID
	}
	c, old, err := f.store(ctx, link, g, now)
	if err != nil {
		_ = f.p.Sessions.Unspend(ctx, link.ID)
		f.revoke(ctx, link.Kind, st.LoginURL, cmp.Or(g.RefreshToken, g.AccessToken))
		return Result{}, fmt.Errorf("finish connect of link %s: %w", link.ID, err)
	}
	res := Result{Link: link, Provider: providerTitles[provider], Account: g.Account, ConnectionID: c.ID}
	res.Serves = []connections.Kind{link.Kind}
	if link.Kind.Microsoft() {
		res.Serves = nil
		for _, k := range []connections.Kind{connections.KindMicrosoftCalendar, connections.KindTeams} {
			if connections.Serves(c, k) {
				res.Serves = append(res.Serves, k)
			}
		}
	}
	detail := map[string]any{"kind": string(c.Kind), "link_kind": string(link.Kind), "membership_id": link.MembershipID,
		"account_id": g.Account.ID, "link_id": link.ID}
	if link.InviteID != "" {
		detail["invite_id"] = link.InviteID
	}
	if g.Account.OrgID != "" {
		detail["provider_org_id"] = g.Account.OrgID
	}
	if f.p.Observer != nil && link.MembershipID != "" {
		// The connect stands either way; a failed recompute is on record in the event, and
		// the next state change or tether members recompute repairs it.
		if err := f.p.Observer.ConnectionChanged(ctx, link.OrgID, link.MembershipID); err != nil {
			detail["action_required_error"] = err.Error()
		}
	}
	// The new grant is stored; only now is the old one given back.
	if !old.IsZero() && !old.Equal(g.RefreshToken) {
		res.Replaced = true
		if err := f.revoke(ctx, link.Kind, st.LoginURL, old); err != nil {
			detail["old_grant_revoke_error"] = err.Error()
		}
		detail["replaced"] = true
	}
	if err := f.p.Store.AppendEvent(ctx, events.Event{OrgID: link.OrgID, Kind: "connection.connected", Subject: c.ID,
		At: now, Detail: detail}); err != nil {
		return Result{}, fmt.Errorf("finish connect of link %s: connected, audit event not written: %w", link.ID, err)
	}
	if link.Kind == connections.KindSalesforceTeam && f.p.Audits != nil {
		res.AuditError = f.p.Audits.QueueAudit(ctx, link.OrgID)
		res.AuditQueued = res.AuditError == nil
	}
	if org, err := f.p.Store.GetOrg(ctx, link.OrgID); err == nil {
		res.OrgName = org.Name
	}
	if link.MembershipID != "" {
		res.Next, res.NextError = f.NextSteps(ctx, link.OrgID, link.MembershipID, res.Serves...)
	}
	return res, nil
}

func (f *Flow) revoke(ctx context.Context, kind connections.Kind, loginURL string, t vault.Token) error {
	if t.IsZero() {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	return f.p.Providers.Revoke(ctx, kind, loginURL, t)
}

// checkAccount applies the identity rules: a personal Salesforce connect must be the
// member's Salesforce user when tether knows it; a team connect must be the Salesforce
// org already recorded for this tether org, if any.
func (f *Flow) checkAccount(ctx context.Context, link Link, g Grant) (*WrongAccountError, error) {
	switch link.Kind {
	case connections.KindSalesforce:
		want := link.Expected
		if want == "" && link.MembershipID != "" {
			m, err := f.p.Store.GetMembership(ctx, link.OrgID, link.MembershipID)
			if err != nil {
				return nil, err
			}
			want = m.SalesforceUserID
		}
		if want != "" && !directory.SameSalesforceID(want, g.Account.ID) {
			return &WrongAccountError{Expected: want, Got: g.Account.ID}, nil
		}
	case connections.KindSalesforceTeam:
		c, err := f.p.Store.FindConnection(ctx, link.OrgID, "", connections.KindSalesforceTeam)
		if errors.Is(err, directory.ErrNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		if c.ProviderOrgID != "" && !directory.SameSalesforceID(c.ProviderOrgID, g.Account.OrgID) {
			return &WrongAccountError{Expected: c.ProviderOrgID, Got: g.Account.OrgID, Org: true}, nil
		}
	}
	return nil, nil
}

// existing is the row a connect of link writes to, if there is one: the owner's row of
// the kind, or for Microsoft the owner's row of either Microsoft kind.
func (f *Flow) existing(ctx context.Context, link Link) (connections.Connection, error) {
	c, err := f.p.Store.FindConnection(ctx, link.OrgID, link.MembershipID, link.Kind)
	if err == nil || !link.Kind.Microsoft() || !errors.Is(err, directory.ErrNotFound) {
		return c, err
	}
	other := connections.KindTeams
	if link.Kind == connections.KindTeams {
		other = connections.KindMicrosoftCalendar
	}
	return f.p.Store.FindConnection(ctx, link.OrgID, link.MembershipID, other)
}

// store writes g into the owner's row in one compare-and-swap (tokens, identity, state,
// schedule together) and returns the row and the refresh token it replaced.
func (f *Flow) store(ctx context.Context, link Link, g Grant, now time.Time) (connections.Connection, vault.Token, error) {
	var lastErr error
	var session time.Duration
	if f.p.SalesforceSession != nil && (link.Kind == connections.KindSalesforce || link.Kind == connections.KindSalesforceTeam) {
		// Salesforce answers carry no expires_in: the first refresh follows the org's
		// session timeout, learned from this fresh token (a failure keeps what was known).
		session = f.p.SalesforceSession(ctx, connections.Connection{OrgID: link.OrgID, Kind: link.Kind,
			InstanceURL: g.InstanceURL, LoginURL: g.LoginURL}, g.AccessToken)
	}
	for range 3 {
		c, err := f.existing(ctx, link)
		if errors.Is(err, directory.ErrNotFound) {
			c, err = f.p.Store.EnsureConnection(ctx, link.OrgID, link.MembershipID, link.Kind, now)
		}
		if err != nil {
			return connections.Connection{}, vault.Token{}, err
		}
		var old vault.Token
		if len(c.RefreshTokenEnc) > 0 {
			old, _ = f.p.Vault.OpenToken(c.RefreshTokenEnc, c.ID) // unreadable: nothing to revoke
		}
		if c.AccessTokenEnc, err = f.p.Vault.SealToken(g.AccessToken, c.ID); err != nil {
			return connections.Connection{}, vault.Token{}, err
		}
		if c.RefreshTokenEnc, err = f.p.Vault.SealToken(g.RefreshToken, c.ID); err != nil {
			return connections.Connection{}, vault.Token{}, err
		}
		c.Scopes = g.Scopes
		c.ProviderAccountID, c.ProviderOrgID = g.Account.ID, g.Account.OrgID
		c.InstanceURL, c.LoginURL = g.InstanceURL, g.LoginURL
		// Healthy, failures cleared, first refresh scheduled: the sweep finds it due.
		c = connections.Connected(c, g.Expiry, session, now, f.p.Policy, mrand.Float64())
		written, err := f.p.Store.UpdateConnection(ctx, link.OrgID, c, now)
		if errors.Is(err, directory.ErrConflict) {
			lastErr = err // a refresher wrote in between: read again
			continue
		}
		return written, old, err
	}
	return connections.Connection{}, vault.Token{}, lastErr
}
