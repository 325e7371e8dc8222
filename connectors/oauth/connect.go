package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"tether/sync/connect"
	"tether/sync/connections"
	"tether/sync/directory"
	"tether/sync/vault"
)

// App is tether's OAuth client at one provider, for the connect flow.
type App struct {
	ClientID     string
	ClientSecret string
	// AuthorizeURL is the browser-facing authorize endpoint; TokenURL the server-side
	// token endpoint (they differ when the browser and tether see the provider under
	// different names, as in docker compose).
	AuthorizeURL string
	TokenURL     string
	// APIURL is the base of the identity endpoint (Google's www.googleapis.com, Graph,
	// api.zoom.us).
	APIURL string
}

// Connector runs the authorization-code flow of every provider for sync/connect:
// authorize URLs with PKCE, the code exchange, the identity fetch and revocation.
type Connector struct {
	Client *Client
	// HTTP fetches identities. Nil means a client with the Client's timeout.
	HTTP *http.Client
	// Salesforce is the connected app. Its AuthorizeURL and TokenURL are unused: the
	// login host comes with each request (the org's, production or sandbox).
	Salesforce App
	// SalesforceBrowserLogin maps a server-side login URL to the one the browser is sent
	// to; a login URL missing from it is used as is.
	SalesforceBrowserLogin  map[string]string
	Google, Microsoft, Zoom App
}

var _ connect.Providers = (*Connector)(nil)

// Scopes each kind requests and those it cannot work without.
var (
	salesforceScopes = []string{"api", "refresh_token", "id"}
	googleScopes     = []string{"openid", "email", "profile", "https://www.googleapis.com/auth/calendar"}
	// One Microsoft consent covers the calendar and Teams: both kinds ask for both.
	microsoftScopes = []string{"openid", "profile", "email", "offline_access", "User.Read", "Calendars.ReadWrite", "OnlineMeetings.ReadWrite"}
	requiredScopes  = map[connections.Kind][]string{
		connections.KindSalesforceTeam:    {"api", "refresh_token"},
		connections.KindSalesforce:        {"api", "refresh_token"},
		connections.KindGoogleCalendar:    {"https://www.googleapis.com/auth/calendar"},
		connections.KindMicrosoftCalendar: {"User.Read", "Calendars.ReadWrite"},
		connections.KindTeams:             {"User.Read", "OnlineMeetings.ReadWrite"},
		connections.KindZoom:              {"user:read:user", "meeting:write:meeting"},
	}
)

// provider is the registry-style entry for kind (and a Salesforce login host).
func (c *Connector) provider(kind connections.Kind, loginURL string) (Provider, App, error) {
	var p Provider
	var app App
	switch connect.ProviderOf(kind) {
	case connect.ProviderSalesforce:
		if loginURL == "" {
			return Provider{}, App{}, errors.New("salesforce connect: no login host")
		}
		p, app = Salesforce(loginURL), c.Salesforce
		app.AuthorizeURL = SalesforceAuthURL(c.browserLogin(loginURL))
	case connect.ProviderGoogle:
		p, app = Google("https://unused"), c.Google
		p.TokenURL = app.TokenURL
	case connect.ProviderMicrosoft:
		p, app = Microsoft("https://unused"), c.Microsoft
		p.TokenURL = app.TokenURL
	case connect.ProviderZoom:
		p, app = Zoom("https://unused"), c.Zoom
		p.TokenURL = app.TokenURL
		p.RevokeURL = strings.TrimSuffix(app.TokenURL, "/token") + "/revoke"
	default:
		return Provider{}, App{}, fmt.Errorf("connect: unknown kind %q", kind)
	}
	if p.Name == "google" {
		p.RevokeURL = strings.TrimSuffix(app.TokenURL, "/token") + "/revoke"
	}
	if app.ClientID == "" {
		return Provider{}, App{}, fmt.Errorf("connect %s: %w: no OAuth client id is configured for %s (set TETHER_%s_CLIENT_ID)",
			kind, connect.ErrProviderRefused, p.Name, strings.ToUpper(p.Name))
	}
	p.ClientID, p.ClientSecret = app.ClientID, app.ClientSecret
	p.RequiredScopes = requiredScopes[kind]
	return p, app, nil
}

func (c *Connector) browserLogin(loginURL string) string {
	if b, ok := c.SalesforceBrowserLogin[strings.TrimRight(loginURL, "/")]; ok && b != "" {
		return b
	}
	return loginURL
}

// AuthURL implements connect.Providers.
func (c *Connector) AuthURL(r connect.AuthRequest) (string, error) {
	p, app, err := c.provider(r.Kind, r.LoginURL)
	if err != nil {
		return "", err
	}
	req := AuthCodeRequest{AuthURL: app.AuthorizeURL, ClientID: p.ClientID, RedirectURI: r.RedirectURI,
		State: r.State, CodeChallenge: r.CodeChallenge, LoginHint: r.LoginHint}
	switch p.Name {
	case "salesforce":
		req.Scopes = salesforceScopes
		req.Extra = map[string]string{"prompt": "login consent"}
	case "google":
		req.Scopes = googleScopes
		req.Extra = map[string]string{"access_type": "offline", "prompt": "consent", "include_granted_scopes": "true"}
	case "microsoft":
		req.Scopes = microsoftScopes
		req.Extra = map[string]string{"prompt": "select_account"}
	case "zoom":
		// Zoom grants the app's configured scopes; a scope parameter is ignored.
	}
	return AuthCodeURL(req), nil
}

// Exchange implements connect.Providers: it redeems the code and fetches the identity.
func (c *Connector) Exchange(ctx context.Context, r connect.ExchangeRequest) (connect.Grant, error) {
	p, app, err := c.provider(r.Kind, r.LoginURL)
	if err != nil {
		return connect.Grant{}, err
	}
	ts, err := c.Client.ExchangeWith(ctx, p, r.Code, r.Verifier, r.RedirectURI)
	if err != nil {
		return connect.Grant{}, outcomeOf(err)
	}
	g := connect.Grant{AccessToken: vault.NewToken(ts.AccessToken), RefreshToken: vault.NewToken(ts.RefreshToken),
		Expiry: ts.Expiry, Scopes: ts.Scopes, MissingScopes: ts.MissingScopes, InstanceURL: ts.InstanceURL}
	if p.Name == "salesforce" {
		g.LoginURL = strings.TrimRight(r.LoginURL, "/")
	}
	g.Account, err = c.identity(ctx, p.Name, app, ts)
	if err != nil {
		// The grant is useless without knowing whose it is: give it back.
		_ = c.Client.RevokeWith(context.WithoutCancel(ctx), p, ts.RefreshToken)
		return connect.Grant{}, err
	}
	return g, nil
}

// Revoke implements connect.Providers. Microsoft has no per-grant revocation: its tokens
// are dropped, which is all that can be done.
func (c *Connector) Revoke(ctx context.Context, kind connections.Kind, loginURL string, t vault.Token) error {
	p, _, err := c.provider(kind, loginURL)
	if err != nil {
		return err
	}
	err = c.Client.RevokeWith(ctx, p, t.Reveal())
	if err == nil || errors.Is(err, ErrRevokeUnsupported) {
		return nil
	}
	return FailureOf(p.Name, "revoke", err)
}

// outcomeOf maps an exchange error to the connect flow's outcomes.
func outcomeOf(err error) error {
	switch Classify(err) {
	case ClassTransient, ClassRateLimited:
		return fmt.Errorf("%w: %w", connect.ErrProviderDown, err)
	}
	return fmt.Errorf("%w: %w", connect.ErrProviderRefused, err)
}

// identity asks the provider whose grant ts is.
func (c *Connector) identity(ctx context.Context, provider string, app App, ts TokenSet) (connect.Identity, error) {
	var url string
	switch provider {
	case "salesforce":
		url = ts.ID
	case "google":
		url = strings.TrimRight(app.APIURL, "/") + "/oauth2/v3/userinfo"
	case "microsoft":
		url = strings.TrimRight(app.APIURL, "/") + "/v1.0/me"
	case "zoom":
		url = strings.TrimRight(app.APIURL, "/") + "/v2/users/me"
	}
	if url == "" {
		return connect.Identity{}, fmt.Errorf("%w: %s sent no identity URL", connect.ErrProviderRefused, provider)
	}
	raw, err := c.getJSON(ctx, url, ts.AccessToken)
	if err != nil {
		return connect.Identity{}, fmt.Errorf("%s identity: %w", provider, err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return connect.Identity{}, fmt.Errorf("%w: %s identity is not JSON", connect.ErrProviderRefused, provider)
	}
	str := func(k string) string { s, _ := m[k].(string); return s }
	var id connect.Identity
	switch provider {
	case "salesforce":
		uid, err1 := directory.NormalizeSalesforceID(str("user_id"))
		oid, err2 := directory.NormalizeSalesforceID(str("organization_id"))
		if err1 != nil || err2 != nil {
			return connect.Identity{}, fmt.Errorf("%w: salesforce identity lacks user or org id", connect.ErrProviderRefused)
		}
		id = connect.Identity{ID: uid, OrgID: oid, Email: firstOf(str("username"), str("email")), Name: str("display_name")}
	case "google":
		id = connect.Identity{ID: str("sub"), Email: str("email"), Name: str("name")}
	case "microsoft":
		id = connect.Identity{ID: str("id"), Email: firstOf(str("mail"), str("userPrincipalName")), Name: str("displayName")}
	case "zoom":
		id = connect.Identity{ID: str("id"), Email: str("email"), Name: strings.TrimSpace(str("first_name") + " " + str("last_name"))}
	}
	if id.ID == "" {
		return connect.Identity{}, fmt.Errorf("%w: %s identity has no account id", connect.ErrProviderRefused, provider)
	}
	return id, nil
}

func firstOf(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

func (c *Connector) getJSON(ctx context.Context, url, token string) ([]byte, error) {
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: c.Client.timeout}
	}
	ctx, cancel := context.WithTimeout(ctx, c.Client.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: bad identity URL", connect.ErrProviderRefused)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", connect.ErrProviderDown, redactErr(err, token))
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	switch {
	case err != nil:
		return nil, fmt.Errorf("%w: reading identity: %w", connect.ErrProviderDown, err)
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests:
		return nil, fmt.Errorf("%w: identity answered %d", connect.ErrProviderDown, resp.StatusCode)
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("%w: identity answered %d: %s", connect.ErrProviderRefused, resp.StatusCode, shorten(string(b)))
	}
	return b, nil
}
