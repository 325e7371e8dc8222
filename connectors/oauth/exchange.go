package oauth

import (
	"context"
	"errors"
	"net/url"
	"strings"

	"golang.org/x/oauth2"
)

// AuthCodeRequest describes an authorize redirect of the authorization-code flow with
// PKCE (RFC 7636, method S256).
type AuthCodeRequest struct {
	// AuthURL is the provider's authorize endpoint.
	AuthURL     string
	ClientID    string
	RedirectURI string
	Scopes      []string
	State       string
	// CodeChallenge is base64url(SHA-256(verifier)) without padding.
	CodeChallenge string
	// LoginHint pre-fills the provider's login form; empty means none.
	LoginHint string
	// Extra are further query parameters (Google's access_type=offline, prompt=consent).
	Extra map[string]string
}

// AuthCodeURL returns the URL to send the browser to.
func AuthCodeURL(r AuthCodeRequest) string {
	conf := oauth2.Config{ClientID: r.ClientID, RedirectURL: r.RedirectURI, Scopes: r.Scopes,
		Endpoint: oauth2.Endpoint{AuthURL: r.AuthURL}}
	opts := []oauth2.AuthCodeOption{
		oauth2.SetAuthURLParam("code_challenge", r.CodeChallenge),
		oauth2.SetAuthURLParam("code_challenge_method", "S256"),
	}
	if r.LoginHint != "" {
		opts = append(opts, oauth2.SetAuthURLParam("login_hint", r.LoginHint))
	}
	for k, v := range r.Extra {
		opts = append(opts, oauth2.SetAuthURLParam(k, v))
	}
	return conf.AuthCodeURL(r.State, opts...)
}

// SalesforceAuthURL is the authorize endpoint under a Salesforce login URL (see Salesforce).
func SalesforceAuthURL(loginURL string) string {
	return strings.TrimRight(loginURL, "/") + "/services/oauth2/authorize"
}

// Exchange redeems an authorization code at the provider registered as provider, sending
// the PKCE verifier and the redirect URI the authorize request used. It makes exactly one
// HTTP request. Errors are *Error values (an invalid or replayed code is invalid_grant,
// ClassNeedsReconnect); neither the code nor the verifier appears in them.
func (c *Client) Exchange(ctx context.Context, provider, code, verifier, redirectURI string) (TokenSet, error) {
	p, err := c.provider("exchange", provider)
	if err != nil {
		return TokenSet{}, err
	}
	return c.ExchangeWith(ctx, p, code, verifier, redirectURI)
}

// ExchangeWith is Exchange at a provider entry that is not in the registry: a Salesforce
// org's own login host (production or sandbox), for one.
func (c *Client) ExchangeWith(ctx context.Context, p Provider, code, verifier, redirectURI string) (TokenSet, error) {
	if err := p.Validate(); err != nil {
		return TokenSet{}, &Error{Provider: p.Name, Op: "exchange", Class: ClassMisconfigured, Description: err.Error()}
	}
	if code == "" {
		return TokenSet{}, &Error{Provider: p.Name, Op: "exchange", Class: ClassNeedsReconnect,
			Code: "missing_code", Reason: "the callback carried no authorization code"}
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	ctx = context.WithValue(ctx, oauth2.HTTPClient, c.hc)
	ctx, sent := traceSent(ctx)
	conf := oauth2.Config{
		ClientID:     p.ClientID,
		ClientSecret: p.ClientSecret,
		RedirectURL:  redirectURI,
		Endpoint:     oauth2.Endpoint{TokenURL: p.TokenURL, AuthStyle: p.AuthStyle},
	}
	tok, err := conf.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && re.Response != nil {
			e := classifyResponse(p, "exchange", re.Response.StatusCode, re.Response.Header, re.Body, c.now())
			e.Description = scrub(e.Description, code, verifier, p.ClientSecret)
			return TokenSet{}, e
		}
		if isTransportError(err) {
			return TokenSet{}, transportError(p.Name, "exchange", sent.Load(), redactErr(err, code, verifier, url.QueryEscape(code)))
		}
		return TokenSet{}, &Error{Provider: p.Name, Op: "exchange", Class: ClassUnknown, Reason: unknownReason(p.Name, 200),
			Description: scrub(err.Error(), code, verifier, p.ClientSecret)}
	}
	return c.tokenSet(p, tok, ""), nil
}
