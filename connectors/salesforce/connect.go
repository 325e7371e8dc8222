package salesforce

import (
	"context"

	"tether/connectors/oauth"
	"tether/sync/onboarding"
	"tether/sync/vault"
)

// Connector is onboarding's Salesforce connect step (onboarding.Connector): the web-server
// flow through the OAuth client's "salesforce" provider, the grant's org and user read
// from its identity URL.
type Connector struct {
	OAuth *oauth.Client
	// LoginURL is the Salesforce login base (TETHER_SALESFORCE_LOGIN_URL).
	LoginURL string
	ClientID string
	// RedirectURI is PUBLIC_URL/oauth/salesforce/callback.
	RedirectURI string
	// Scopes requested; nil means api, refresh_token, id.
	Scopes []string
}

var _ onboarding.Connector = Connector{}

// AuthURL implements onboarding.Connector.
func (c Connector) AuthURL(state, challenge, loginHint string) string {
	scopes := c.Scopes
	if scopes == nil {
		scopes = []string{"api", "refresh_token", "id"}
	}
	return oauth.AuthCodeURL(oauth.AuthCodeRequest{AuthURL: oauth.SalesforceAuthURL(c.LoginURL), ClientID: c.ClientID,
		RedirectURI: c.RedirectURI, Scopes: scopes, State: state, CodeChallenge: challenge, LoginHint: loginHint})
}

// Exchange implements onboarding.Connector.
func (c Connector) Exchange(ctx context.Context, code, verifier string) (onboarding.Grant, error) {
	ts, err := c.OAuth.Exchange(ctx, "salesforce", code, verifier, c.RedirectURI)
	if err != nil {
		return onboarding.Grant{}, err
	}
	id, err := ParseIdentityURL(ts.ID)
	if err != nil {
		return onboarding.Grant{}, err
	}
	return onboarding.Grant{AccessToken: vault.NewToken(ts.AccessToken), RefreshToken: vault.NewToken(ts.RefreshToken),
		OrgID: id.OrgID, UserID: id.UserID, InstanceURL: ts.InstanceURL, LoginURL: id.LoginURL,
		Scopes: ts.Scopes, IssuedAt: ts.IssuedAt}, nil
}

// Revoke implements onboarding.Connector.
func (c Connector) Revoke(ctx context.Context, t vault.Token) error {
	return c.OAuth.Revoke(ctx, "salesforce", t.Reveal())
}
