package oauth

import (
	"context"
	"errors"
	"net/http/httptrace"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/oauth2"
)

// Refresh exchanges refreshToken for a new token set at the provider
// registered as provider. It makes exactly one HTTP request.
//
// On success the caller must persist the returned set (it may hold a rotated
// refresh token) before using its access token. On failure the error is an
// *Error; see its Class. An empty refreshToken is ClassNeedsReconnect without
// a request.
func (c *Client) Refresh(ctx context.Context, provider, refreshToken string) (TokenSet, error) {
	p, err := c.provider("refresh", provider)
	if err != nil {
		return TokenSet{}, err
	}
	return c.RefreshWith(ctx, p, refreshToken)
}

// RefreshWith is Refresh at a provider entry that is not in the registry (see
// ExchangeWith): a Salesforce org's own login host.
func (c *Client) RefreshWith(ctx context.Context, p Provider, refreshToken string) (TokenSet, error) {
	if refreshToken == "" {
		return TokenSet{}, &Error{Provider: p.Name, Op: "refresh", Class: ClassNeedsReconnect,
			Code: "missing_refresh_token", Reason: "no refresh token stored"}
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	ctx = context.WithValue(ctx, oauth2.HTTPClient, c.hc)
	ctx, sent := traceSent(ctx)

	conf := oauth2.Config{
		ClientID:     p.ClientID,
		ClientSecret: p.ClientSecret,
		Endpoint:     oauth2.Endpoint{TokenURL: p.TokenURL, AuthStyle: p.AuthStyle},
	}
	// A token without AccessToken forces exactly one refresh; the source is
	// dropped right after so nothing keeps a rotated token in memory only.
	tok, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: refreshToken}).Token()
	if err != nil {
		return TokenSet{}, c.refreshError(p, err, sent.Load(), refreshToken)
	}
	return c.tokenSet(p, tok, refreshToken), nil
}

func (c *Client) refreshError(p Provider, err error, sent bool, secrets ...string) error {
	secrets = append(secrets, p.ClientSecret)
	var re *oauth2.RetrieveError
	if errors.As(err, &re) && re.Response != nil {
		e := classifyResponse(p, "refresh", re.Response.StatusCode, re.Response.Header, re.Body, c.now())
		e.Description = scrub(e.Description, secrets...)
		return e
	}
	if isTransportError(err) {
		return transportError(p.Name, "refresh", sent, redactErr(err, secrets...))
	}
	// A 2xx body that is not a token (no access_token, unparseable).
	return &Error{Provider: p.Name, Op: "refresh", Class: ClassUnknown, Reason: unknownReason(p.Name, 200),
		Description: scrub(err.Error(), secrets...)}
}

// transportError is a call that got no answer. sent: the request was written, so the
// provider may have acted on it (and, if it rotates, killed the old refresh token).
func transportError(provider, op string, sent bool, err error) *Error {
	e := &Error{Provider: provider, Op: op, Class: ClassTransient, OutcomeUnknown: sent, Err: err}
	if sent {
		e.Reason = "the request reached " + provider + " but its answer was lost; the outcome is unknown"
	} else {
		e.Reason = "could not reach " + provider + "; nothing was sent; retried with backoff"
	}
	return e
}

// traceSent reports, through the returned flag, whether a request made with ctx was
// written in full to the connection: the line between "never sent" and "outcome unknown".
func traceSent(ctx context.Context) (context.Context, *atomic.Bool) {
	var sent atomic.Bool
	return httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		WroteRequest: func(i httptrace.WroteRequestInfo) {
			if i.Err == nil {
				sent.Store(true)
			}
		},
	}), &sent
}

func (c *Client) tokenSet(p Provider, tok *oauth2.Token, sent string) TokenSet {
	now := c.now()
	ts := TokenSet{
		AccessToken:  tok.AccessToken,
		RefreshToken: tok.RefreshToken,
		TokenType:    tok.Type(),
		IssuedAt:     now,
		InstanceURL:  extraString(tok, "instance_url"),
		ID:           extraString(tok, "id"),
		IDToken:      extraString(tok, "id_token"),
		APIURL:       extraString(tok, "api_url"),
		Scope:        extraString(tok, "scope"),
	}
	if ts.RefreshToken == "" {
		ts.RefreshToken = sent
	}
	if raw := extraString(tok, "refresh_token"); raw != "" && raw != sent {
		ts.Rotated = true
	}
	if tok.ExpiresIn > 0 {
		ts.Expiry = now.Add(time.Duration(tok.ExpiresIn) * time.Second)
	}
	if ms, err := strconv.ParseInt(extraString(tok, "issued_at"), 10, 64); err == nil && ms > 0 {
		ts.IssuedAt = time.UnixMilli(ms).UTC()
	}
	if ts.Scope != "" {
		ts.Scopes = SplitScopes(ts.Scope, p.ScopeSeparator)
		ts.MissingScopes = missingScopes(p.dialect(), p.RequiredScopes, ts.Scopes)
	}
	return ts
}

func extraString(tok *oauth2.Token, key string) string {
	switch v := tok.Extra(key).(type) {
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case []string: // form-encoded responses
		if len(v) > 0 {
			return v[0]
		}
	}
	return ""
}

func redact(s string, secrets ...string) string {
	for _, sec := range secrets {
		if sec != "" {
			s = strings.ReplaceAll(s, sec, "[redacted]")
		}
	}
	return s
}

// redactErr keeps err's chain (for errors.Is) unless its text contains a
// secret, in which case the text is replaced.
func redactErr(err error, secrets ...string) error {
	msg := err.Error()
	if r := redact(msg, secrets...); r != msg {
		return &redactedError{msg: r, err: err}
	}
	return err
}

type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }
