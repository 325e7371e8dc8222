package oauth

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"

	"golang.org/x/oauth2"
)

// ErrRevokeUnsupported is returned by Revoke for providers without a
// revocation endpoint (Microsoft): delete the tokens locally instead.
var ErrRevokeUnsupported = errors.New("oauth: provider has no revocation endpoint")

// Revoke asks the provider to revoke token (access or refresh; revoking a
// refresh token revokes its grant at Google, Salesforce and Zoom). A token
// the provider already considers invalid (invalid_token, invalid_grant,
// Zoom's "Invalid Token!") counts as revoked and returns nil. Other failures are *Error values.
func (c *Client) Revoke(ctx context.Context, provider, token string) error {
	p, err := c.provider("revoke", provider)
	if err != nil {
		return err
	}
	return c.RevokeWith(ctx, p, token)
}

// RevokeWith is Revoke at a provider entry that is not in the registry (see ExchangeWith).
func (c *Client) RevokeWith(ctx context.Context, p Provider, token string) error {
	if p.RevokeURL == "" {
		return ErrRevokeUnsupported
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	form := url.Values{"token": {token}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.RevokeURL, strings.NewReader(form.Encode()))
	if err != nil {
		return &Error{Provider: p.Name, Op: "revoke", Class: ClassMisconfigured, Description: "cannot build revoke request"}
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if p.AuthStyle == oauth2.AuthStyleInHeader {
		req.SetBasicAuth(url.QueryEscape(p.ClientID), url.QueryEscape(p.ClientSecret))
	}
	ctx, sent := traceSent(ctx)
	resp, err := c.hc.Do(req.WithContext(ctx))
	if err != nil {
		return transportError(p.Name, "revoke", sent.Load(), redactErr(err, token, p.ClientSecret))
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	e := classifyResponse(p, "revoke", resp.StatusCode, resp.Header, body, c.now())
	if alreadyInvalid(e) {
		return nil
	}
	e.Description = scrub(e.Description, token, p.ClientSecret)
	return e
}

// alreadyInvalid: the provider refuses to revoke because the token is dead
// already, which is what revoking wanted.
func alreadyInvalid(e *Error) bool {
	return e.Code == "invalid_token" || e.Code == "invalid_grant" ||
		(e.Code == "invalid_request" && strings.EqualFold(strings.TrimSpace(e.SubCode), "Invalid Token!"))
}
