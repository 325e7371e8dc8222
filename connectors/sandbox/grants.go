package sandbox

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// ErrNotFound is returned for an unknown grant, user or client.
var ErrNotFound = errors.New("sandbox: not found")

// Tokens is what a code exchange would have returned, for seeding tests without a browser.
type Tokens struct {
	GrantID      string    `json:"grant_id"`
	AccessToken  string    `json:"access_token"`
	RefreshToken string    `json:"refresh_token,omitempty"`
	Expiry       time.Time `json:"expiry"` // of the access token (Salesforce: session timeout)
	Scopes       []string  `json:"scopes"`
	// Salesforce only: the org and user the grant belongs to.
	OrgID  string `json:"org_id,omitempty"`
	UserID string `json:"user_id,omitempty"`
}

// GrantRequest asks for a grant as if the user had approved the app.
type GrantRequest struct {
	Provider Provider `json:"provider"`
	// ClientID of the app; empty means the provider's first registered app (the default).
	ClientID string `json:"client_id,omitempty"`
	// Subject is the user: Salesforce user id or username; Google/Microsoft/Zoom id or email.
	// Empty means the provider's first user (not for Salesforce).
	Subject string   `json:"subject,omitempty"`
	Scopes  []string `json:"scopes,omitempty"` // empty: the app's default scopes
	// NoRefreshToken issues an access token only (Google online access, Microsoft without
	// offline_access, Salesforce without refresh_token scope).
	NoRefreshToken bool `json:"no_refresh_token,omitempty"`
	// AccessToken and RefreshToken fix the token values (scenario files); empty = random.
	AccessToken  string `json:"access_token,omitempty"`
	RefreshToken string `json:"refresh_token,omitempty"`
}

// IssueGrant creates a grant for subject at provider p with the default app and returns
// its tokens, as if the user had clicked Allow and the client had exchanged the code.
func (s *Sandbox) IssueGrant(p Provider, subject string, scopes []string) (Tokens, error) {
	return s.NewGrant(GrantRequest{Provider: p, Subject: subject, Scopes: scopes})
}

// NewGrant creates a grant as described by req (see IssueGrant). Caps and evictions apply as
// for a real approval.
func (s *Sandbox) NewGrant(req GrantRequest) (Tokens, error) {
	if !req.Provider.valid() {
		return Tokens{}, fmt.Errorf("issue grant: unknown provider %q", req.Provider)
	}
	var app *appPolicy
	if req.ClientID == "" {
		s.mu.RLock()
		app = s.first[req.Provider]
		s.mu.RUnlock()
	} else {
		app = s.app(req.Provider, req.ClientID)
	}
	if app == nil {
		return Tokens{}, fmt.Errorf("issue %s grant: client %q: %w", req.Provider, req.ClientID, ErrNotFound)
	}
	scopes := req.Scopes
	if len(scopes) == 0 {
		scopes = app.DefaultScopes
	}
	if req.Provider == Microsoft {
		scopes = msScopes(scopes)
	} else {
		scopes = slices.Clone(scopes)
	}
	if req.Provider == Salesforce && req.Subject == "" {
		return Tokens{}, fmt.Errorf("issue salesforce grant: subject (user id or username) is required")
	}
	subject, orgID, ok := s.resolveLogin(req.Provider, req.Subject)
	if !ok {
		return Tokens{}, fmt.Errorf("issue %s grant: user %q: %w", req.Provider, req.Subject, ErrNotFound)
	}
	if req.AccessToken != "" && s.store.lookup(req.AccessToken) != nil || req.RefreshToken != "" && s.store.lookup(req.RefreshToken) != nil {
		return Tokens{}, fmt.Errorf("issue %s grant for %s: token value already in use", req.Provider, subject)
	}
	now := s.Now()
	g, at, rt := s.issue(issueParams{app: app, subject: subject, orgID: orgID, scopes: scopes, withRefresh: !req.NoRefreshToken,
		fixedAccess: req.AccessToken, fixedRefresh: req.RefreshToken}, now)
	out := Tokens{GrantID: g.id, AccessToken: at.value, Expiry: at.expires, Scopes: slices.Clone(at.scopes)}
	if rt != nil {
		out.RefreshToken = rt.value
	}
	if req.Provider == Salesforce {
		out.OrgID, out.UserID = orgID, subject
	}
	return out, nil
}

// GrantInfo describes one grant.
type GrantInfo struct {
	ID       string        `json:"id"`
	Provider Provider      `json:"provider"`
	ClientID string        `json:"client_id"`
	Subject  string        `json:"subject"`
	OrgID    string        `json:"org_id,omitempty"`
	Scopes   []string      `json:"scopes"`
	Created  time.Time     `json:"created"`
	Live     bool          `json:"live"`
	Ended    string        `json:"ended,omitempty"` // why it ended: revoked, evicted, replay_revoked
	Counters GrantCounters `json:"counters"`
}

func (g *grant) info() GrantInfo {
	g.mu.Lock()
	defer g.mu.Unlock()
	gi := GrantInfo{ID: g.id, Provider: g.provider(), ClientID: g.app.ClientID, Subject: g.subject, OrgID: g.orgID,
		Scopes: slices.Clone(g.scopes), Created: g.created, Live: g.dead == alive, Counters: g.counters()}
	if g.dead != alive {
		gi.Ended = g.dead.String()
	}
	return gi
}

// Grants lists every grant, oldest first, ended ones included.
func (s *Sandbox) Grants() []GrantInfo {
	gs := s.store.allGrants()
	out := make([]GrantInfo, len(gs))
	for i, g := range gs {
		out[i] = g.info()
	}
	return out
}

// LookupGrant returns the grant with id.
func (s *Sandbox) LookupGrant(id string) (GrantInfo, bool) {
	g := s.store.grant(id)
	if g == nil {
		return GrantInfo{}, false
	}
	return g.info(), true
}

// GrantOf returns the id of the grant a token (access or refresh) belongs to.
func (s *Sandbox) GrantOf(token string) (string, bool) {
	t := s.store.lookup(token)
	if t == nil {
		return "", false
	}
	return t.g.id, true
}

func (s *Sandbox) mustGrant(op, id string) (*grant, error) {
	g := s.store.grant(id)
	if g == nil {
		return nil, fmt.Errorf("%s grant %s: %w", op, id, ErrNotFound)
	}
	return g, nil
}

// RevokeGrant ends a grant as a user or admin revocation does: refreshes fail with the
// provider's invalid_grant body; access tokens stop working except at Microsoft, whose
// JWTs live until they expire.
func (s *Sandbox) RevokeGrant(id string) error {
	g, err := s.mustGrant("revoke", id)
	if err != nil {
		return err
	}
	g.kill(deadRevoked, s.Now())
	return nil
}

// ExpireRefreshToken makes every refresh token of the grant expired (as an idle or
// absolute TTL would); the grant's next refresh answers invalid_grant.
func (s *Sandbox) ExpireRefreshToken(id string) error {
	g, err := s.mustGrant("expire refresh token of", id)
	if err != nil {
		return err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.refresh == nil {
		return fmt.Errorf("expire refresh token of grant %s: grant has no refresh token", id)
	}
	for _, t := range append(slices.Clone(g.oldRT), g.refresh) {
		if t.dead == alive {
			t.dead = deadExpired
		}
	}
	return nil
}

// ExpireAccessTokens ends every access token of the grant (API calls answer 401, or 403
// Bad_OAuth_Token at Salesforce userinfo); the refresh token is unaffected.
func (s *Sandbox) ExpireAccessTokens(id string) error {
	g, err := s.mustGrant("expire access tokens of", id)
	if err != nil {
		return err
	}
	g.mu.Lock()
	for _, t := range g.access {
		t.dead = deadExpired
	}
	g.mu.Unlock()
	return nil
}

// SetScopes replaces the grant's scopes (a user unticking a permission, an admin policy
// change). Tokens issued from now on carry the new set, and token responses report it;
// access tokens already issued keep the scopes they were minted with.
func (s *Sandbox) SetScopes(id string, scopes []string) error {
	g, err := s.mustGrant("set scopes of", id)
	if err != nil {
		return err
	}
	if g.provider() == Microsoft {
		scopes = msScopes(scopes)
	}
	g.mu.Lock()
	g.scopes = slices.Clone(scopes)
	g.lastScope = joinScopes(g.provider(), g.scopes)
	g.mu.Unlock()
	return nil
}

// SetSessionTimeout sets a Salesforce org's session timeout (Setup → Session Settings,
// 15 minutes to 24 hours): access tokens issued for the org from now on live that long,
// which introspection shows as exp − iat. Token answers still carry no expires_in.
func (s *Sandbox) SetSessionTimeout(orgID string, d time.Duration) error {
	if d < 15*time.Minute || d > 24*time.Hour {
		return fmt.Errorf("set session timeout of org %s: %s is outside Salesforce's 15m to 24h", orgID, d)
	}
	if !slices.Contains(s.sf.OrgIDs(), orgID) {
		return fmt.Errorf("set session timeout of org %s: %w", orgID, ErrNotFound)
	}
	s.store.sfSession.Store(orgID, d)
	return nil
}

// SetAPIEnabled turns the Salesforce REST API on or off for an org (403
// API_DISABLED_FOR_ORG while off); delegated to the sfdc data plane.
func (s *Sandbox) SetAPIEnabled(orgID string, enabled bool) error {
	if err := s.sf.SetAPIEnabled(orgID, enabled); err != nil {
		return fmt.Errorf("set api enabled for org %s: %w", orgID, err)
	}
	return nil
}

// URLs are one provider's endpoints on a sandbox served at some base URL.
type URLs struct {
	Base      string `json:"base"`
	AuthURL   string `json:"auth_url"`
	TokenURL  string `json:"token_url"`
	RevokeURL string `json:"revoke_url,omitempty"` // empty for Microsoft, which has none
	// APIBase is where API paths start: Salesforce instance_url, Google
	// www.googleapis.com, Microsoft graph.microsoft.com, Zoom api.zoom.us.
	APIBase string `json:"api_base"`
	// AuthStyle is how the client must authenticate at TokenURL.
	AuthStyle oauth2.AuthStyle `json:"-"`
}

// Endpoints returns provider p's URLs when the sandbox is served at base (e.g. an
// httptest.Server URL).
func Endpoints(base string, p Provider) URLs {
	b := strings.TrimRight(base, "/") + "/" + string(p)
	switch p {
	case Salesforce:
		return URLs{Base: b, AuthURL: b + "/services/oauth2/authorize", TokenURL: b + "/services/oauth2/token",
			RevokeURL: b + "/services/oauth2/revoke", APIBase: b, AuthStyle: oauth2.AuthStyleInParams}
	case Google:
		return URLs{Base: b, AuthURL: b + "/o/oauth2/v2/auth", TokenURL: b + "/token", RevokeURL: b + "/revoke",
			APIBase: b, AuthStyle: oauth2.AuthStyleInParams}
	case Microsoft:
		return URLs{Base: b, AuthURL: b + "/organizations/oauth2/v2.0/authorize", TokenURL: b + "/organizations/oauth2/v2.0/token",
			APIBase: b, AuthStyle: oauth2.AuthStyleInParams}
	default:
		return URLs{Base: b, AuthURL: b + "/oauth/authorize", TokenURL: b + "/oauth/token", RevokeURL: b + "/oauth/revoke",
			APIBase: b, AuthStyle: oauth2.AuthStyleInHeader}
	}
}

// OAuth2Endpoint is Endpoints as an x/oauth2 endpoint with AuthStyle set explicitly.
func OAuth2Endpoint(base string, p Provider) oauth2.Endpoint {
	u := Endpoints(base, p)
	return oauth2.Endpoint{AuthURL: u.AuthURL, TokenURL: u.TokenURL, AuthStyle: u.AuthStyle}
}
