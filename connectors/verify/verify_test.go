package verify_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"tether/connectors/oauth"
	"tether/connectors/sandbox"
	"tether/connectors/sandbox/sandboxtest"
	"tether/connectors/sandbox/sfdc"
	"tether/connectors/verify"
	"tether/sync/connections"
	"tether/sync/vault"
)

// kindCase is one connection kind as a test connects it at the sandbox.
type kindCase struct {
	kind     connections.Kind
	provider sandbox.Provider
	// scopes requested at the grant; nil means the app's defaults.
	scopes []string
	// calls are the sandbox endpoints one verification calls, once each.
	calls []string
	// lose is a scope set lacking something tether needs, and want the scopes a
	// verification must then name.
	lose, want []string
	// refusedWithoutScopes: the provider itself refuses the lost scope, so the loss is
	// found even when the caller does not know the granted scopes.
	refusedWithoutScopes bool
	// rateEndpoint is where a 429 is injected.
	rateEndpoint string
}

var (
	googleScopes    = []string{"openid", "email", "profile", "https://www.googleapis.com/auth/calendar"}
	microsoftScopes = []string{"openid", "profile", "email", "offline_access", "User.Read", "Calendars.ReadWrite", "OnlineMeetings.ReadWrite"}
)

func kinds() []kindCase {
	return []kindCase{
		{kind: connections.KindSalesforce, provider: sandbox.Salesforce, calls: []string{"userinfo"},
			lose: []string{"id", "refresh_token"}, want: []string{"api"}, rateEndpoint: "userinfo"},
		{kind: connections.KindSalesforceTeam, provider: sandbox.Salesforce, calls: []string{"userinfo"},
			lose: []string{"api", "id"}, want: []string{"refresh_token"}, rateEndpoint: "userinfo"},
		{kind: connections.KindGoogleCalendar, provider: sandbox.Google, scopes: googleScopes,
			calls: []string{"calendarList", "tokeninfo"},
			lose:  []string{"openid", "email", "https://www.googleapis.com/auth/calendar.events"},
			want:  []string{"https://www.googleapis.com/auth/calendar"}, refusedWithoutScopes: true, rateEndpoint: "calendarList"},
		{kind: connections.KindMicrosoftCalendar, provider: sandbox.Microsoft, scopes: microsoftScopes,
			calls: []string{"me", "calendars"},
			lose:  []string{"openid", "offline_access", "User.Read", "OnlineMeetings.ReadWrite"},
			want:  []string{"Calendars.ReadWrite"}, refusedWithoutScopes: true, rateEndpoint: "calendars"},
		{kind: connections.KindTeams, provider: sandbox.Microsoft, scopes: microsoftScopes, calls: []string{"me"},
			lose: []string{"openid", "offline_access", "User.Read", "Calendars.ReadWrite"},
			want: []string{"OnlineMeetings.ReadWrite"}, rateEndpoint: "me"},
		{kind: connections.KindZoom, provider: sandbox.Zoom, calls: []string{"me"},
			lose: []string{"meeting:write:meeting", "meeting:read:meeting"},
			want: []string{"user:read:user"}, refusedWithoutScopes: true, rateEndpoint: "me"},
	}
}

// bundle is one sandbox over HTTP with a Salesforce org, and a Verifier pointed at it.
type bundle struct {
	sf *sandboxtest.SalesforceOrg
	v  *verify.Verifier
}

func setup(t *testing.T, timeout time.Duration) *bundle {
	t.Helper()
	sf := sandboxtest.NewSalesforceOrg(t, sfdc.GenerateOrg(7, 2))
	v, err := verify.New(verify.Config{GoogleAPIURL: sf.URL + "/google", GraphURL: sf.URL + "/microsoft",
		ZoomAPIURL: sf.URL + "/zoom", Timeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	return &bundle{sf: sf, v: v}
}

// admin calls the sandbox's admin HTTP API and decodes the answer into out.
func (b *bundle) admin(t *testing.T, method, path string, in, out any) {
	t.Helper()
	var body io.Reader
	if in != nil {
		raw, _ := json.Marshal(in)
		body = bytes.NewReader(raw)
	}
	req, _ := http.NewRequestWithContext(t.Context(), method, b.sf.URL+path, body)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("sandbox admin %s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("sandbox admin %s %s: %d %s", method, path, resp.StatusCode, raw)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("sandbox admin %s %s: %v", method, path, err)
		}
	}
}

// connection is a grant as the connect flow would have stored it.
type connection struct {
	tokens  sandbox.Tokens
	account string
}

func (b *bundle) connect(t *testing.T, k kindCase) connection {
	t.Helper()
	req := sandbox.GrantRequest{Provider: k.provider, Scopes: k.scopes}
	account := ""
	switch k.provider {
	case sandbox.Salesforce:
		req.Subject, account = b.sf.UserID, b.sf.UserID
	case sandbox.Google:
		account = "109876543210987654321"
	case sandbox.Microsoft:
		account = "6e8f1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b"
	case sandbox.Zoom:
		account = "KDcuGIm1QgePTO8WbOqwIQ"
	}
	var tok sandbox.Tokens
	b.admin(t, http.MethodPost, "/admin/grants", req, &tok)
	return connection{tokens: tok, account: account}
}

func (b *bundle) request(k kindCase, c connection) connections.VerifyRequest {
	return connections.VerifyRequest{Kind: k.kind, AccessToken: vault.NewToken(c.tokens.AccessToken),
		InstanceURL: b.sf.InstanceURL, LoginURL: b.sf.LoginURL, AccountID: c.account, Scopes: c.tokens.Scopes}
}

// calls returns the sandbox's call count of provider p's endpoint.
func (b *bundle) calls(t *testing.T, p sandbox.Provider, endpoint string) int64 {
	t.Helper()
	var c sandbox.Counters
	b.admin(t, http.MethodGet, "/admin/counters", nil, &c)
	return c.Endpoint(p, endpoint).Calls
}

// failure asserts err is a *connections.Failure of class, code and provider that names
// no token.
func failure(t *testing.T, err error, class connections.FailureClass, code, provider string, tokens ...string) *connections.Failure {
	t.Helper()
	f, ok := connections.AsFailure(err)
	if !ok {
		t.Fatalf("error %v (%T) is not a *connections.Failure", err, err)
	}
	if f.Class != class || f.Code != code || f.Provider != provider || f.Op != "verify" {
		t.Fatalf("failure %+v: want class %s code %s provider %s op verify", f, class, code, provider)
	}
	if f.Reason == "" {
		t.Fatalf("failure %+v has no reason for a person", f)
	}
	for _, tok := range tokens {
		for _, text := range []string{err.Error(), fmt.Sprintf("%+v", f), f.Detail} {
			if tok != "" && strings.Contains(text, tok) {
				t.Fatalf("failure text holds a token: %s", text)
			}
		}
	}
	return f
}

func TestVerifyWorks(t *testing.T) {
	b := setup(t, 0)
	for _, k := range kinds() {
		t.Run(string(k.kind), func(t *testing.T) {
			c := b.connect(t, k)
			before := map[string]int64{}
			for _, e := range k.calls {
				before[e] = b.calls(t, k.provider, e)
			}
			got, err := b.v.Verify(t.Context(), b.request(k, c))
			if err != nil {
				t.Fatalf("verify: %v", err)
			}
			if got.AccountID != c.account || len(got.MissingScopes) != 0 {
				t.Fatalf("verification %+v: want account %s, nothing missing", got, c.account)
			}
			// Salesforce's userinfo, Google's primary calendar and Zoom's users/me say the
			// account's zone (the sandbox's default is America/Los_Angeles); Graph's do not.
			wantZone := "America/Los_Angeles"
			if k.provider == sandbox.Microsoft {
				wantZone = ""
			}
			if got.TimeZone != wantZone {
				t.Fatalf("%s verification's time zone %q", k.provider, got.TimeZone)
			}
			if k.provider == sandbox.Google && !slices.Contains(got.Scopes, "https://www.googleapis.com/auth/calendar") {
				t.Fatalf("google verification reports scopes %v, want the calendar scope tokeninfo lists", got.Scopes)
			}
			for _, e := range k.calls {
				if n := b.calls(t, k.provider, e) - before[e]; n != 1 {
					t.Fatalf("%s.%s called %d times by one verification, want 1", k.provider, e, n)
				}
			}
		})
	}
}

// A revoked grant's access token is refused (401, or Salesforce's 403 Bad_OAuth_Token):
// Code "unauthorized", class needs_reconnect. Microsoft's JWTs outlive a revoke, which is
// why the caller refreshes before verifying; they are refused once expired.
func TestVerifyRevokedGrant(t *testing.T) {
	b := setup(t, 0)
	for _, k := range kinds() {
		t.Run(string(k.kind), func(t *testing.T) {
			c := b.connect(t, k)
			b.admin(t, http.MethodPost, "/admin/grants/"+c.tokens.GrantID+"/revoke", nil, nil)
			_, err := b.v.Verify(t.Context(), b.request(k, c))
			if k.provider == sandbox.Microsoft {
				if err != nil {
					t.Fatalf("Microsoft access token after revoke: %v; the sandbox should honour it until it expires", err)
				}
				b.admin(t, http.MethodPost, "/admin/grants/"+c.tokens.GrantID+"/expire-access-tokens", nil, nil)
				_, err = b.v.Verify(t.Context(), b.request(k, c))
			}
			f := failure(t, err, connections.FailNeedsReconnect, "unauthorized", string(k.provider), c.tokens.AccessToken, c.tokens.RefreshToken)
			if f.Status != http.StatusUnauthorized && !(k.provider == sandbox.Salesforce && f.Status == http.StatusForbidden) {
				t.Fatalf("status %d, want 401 (403 at Salesforce userinfo)", f.Status)
			}
		})
	}
}

// Scope loss found by verify: the grant loses a scope, a refresh mints a token with what
// is left, and the verification names what tether needs, without an error.
func TestVerifyScopeLoss(t *testing.T) {
	b := setup(t, 0)
	for _, k := range kinds() {
		t.Run(string(k.kind), func(t *testing.T) {
			c := b.connect(t, k)
			b.admin(t, http.MethodPost, "/admin/grants/"+c.tokens.GrantID+"/scopes", map[string][]string{"scopes": k.lose}, nil)
			c.tokens = b.refresh(t, k.provider, c.tokens)
			req := b.request(k, c)
			got, err := b.v.Verify(t.Context(), req)
			if err != nil {
				t.Fatalf("verify: %v", err)
			}
			if !sameFold(got.MissingScopes, k.want) {
				t.Fatalf("missing scopes %v, want %v (granted %v)", got.MissingScopes, k.want, req.Scopes)
			}
			if !k.refusedWithoutScopes {
				return
			}
			req.Scopes = nil // the provider's refusal alone tells
			got, err = b.v.Verify(t.Context(), req)
			if err != nil || !sameFold(got.MissingScopes, k.want) {
				t.Fatalf("without granted scopes: %+v, %v; want missing %v", got, err, k.want)
			}
		})
	}
}

// refresh redeems the grant's refresh token at the sandbox's token endpoint and returns
// the new tokens with the scopes the answer granted.
func (b *bundle) refresh(t *testing.T, p sandbox.Provider, old sandbox.Tokens) sandbox.Tokens {
	t.Helper()
	ids := map[sandbox.Provider][2]string{
		sandbox.Salesforce: {sandbox.DefaultSalesforceClientID, sandbox.DefaultSalesforceClientSecret},
		sandbox.Google:     {sandbox.DefaultGoogleClientID, sandbox.DefaultGoogleClientSecret},
		sandbox.Microsoft:  {sandbox.DefaultMicrosoftClientID, sandbox.DefaultMicrosoftClientSecret},
		sandbox.Zoom:       {sandbox.DefaultZoomClientID, sandbox.DefaultZoomClientSecret},
	}[p]
	conf := oauth2.Config{ClientID: ids[0], ClientSecret: ids[1], Endpoint: sandbox.OAuth2Endpoint(b.sf.URL, p)}
	tok, err := conf.TokenSource(t.Context(), &oauth2.Token{RefreshToken: old.RefreshToken}).Token()
	if err != nil {
		t.Fatalf("refresh at the sandbox: %v", err)
	}
	scope, _ := tok.Extra("scope").(string)
	sep := " "
	if p == sandbox.Zoom {
		sep = " ,"
	}
	return sandbox.Tokens{GrantID: old.GrantID, AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken,
		Scopes: oauth.SplitScopes(scope, sep)}
}

func sameFold(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !strings.EqualFold(a[i], b[i]) {
			return false
		}
	}
	return true
}

// A 429 is rate_limited with the provider's Retry-After (Salesforce sends none: its
// REQUEST_LIMIT_EXCEEDED is judged by code); 5xx is transient.
func TestVerifyRateLimitAndServerErrors(t *testing.T) {
	b := setup(t, 0)
	for _, k := range kinds() {
		t.Run(string(k.kind), func(t *testing.T) {
			c := b.connect(t, k)
			b.admin(t, http.MethodPost, "/admin/faults", sandbox.Fault{Provider: k.provider, Endpoint: k.rateEndpoint,
				Kind: sandbox.FaultStatus, Status: 429, RetryAfter: "17", Count: 1}, nil)
			_, err := b.v.Verify(t.Context(), b.request(k, c))
			f := failure(t, err, connections.FailRateLimited, "rate_limited", string(k.provider), c.tokens.AccessToken)
			if k.provider != sandbox.Salesforce && f.RetryAfter != 17*time.Second {
				t.Fatalf("retry after %s, want the 17s the provider asked for", f.RetryAfter)
			}
			for _, status := range []int{500, 503} {
				b.admin(t, http.MethodPost, "/admin/faults", sandbox.Fault{Provider: k.provider, Endpoint: k.calls[len(k.calls)-1],
					Kind: sandbox.FaultStatus, Status: status, Count: 1}, nil)
				_, err = b.v.Verify(t.Context(), b.request(k, c))
				f = failure(t, err, connections.FailTransient, "server_error", string(k.provider), c.tokens.AccessToken)
				if f.Status != status || f.Class.Actor() != connections.ActorNone || !f.Class.Retried() {
					t.Fatalf("failure %+v: want status %d, retried, nobody told", f, status)
				}
			}
			if _, err := b.v.Verify(t.Context(), b.request(k, c)); err != nil {
				t.Fatalf("verify once the faults are used up: %v", err)
			}
		})
	}
}

// A provider that does not answer within the verifier's timeout is transient.
func TestVerifyTimeout(t *testing.T) {
	b := setup(t, 300*time.Millisecond)
	for _, k := range kinds() {
		t.Run(string(k.kind), func(t *testing.T) {
			c := b.connect(t, k)
			b.admin(t, http.MethodPost, "/admin/faults", sandbox.Fault{Provider: k.provider, Endpoint: k.calls[0],
				Kind: sandbox.FaultHang, Count: 1}, nil)
			start := time.Now()
			_, err := b.v.Verify(context.Background(), b.request(k, c))
			failure(t, err, connections.FailTransient, "no_answer", string(k.provider), c.tokens.AccessToken)
			if d := time.Since(start); d > 5*time.Second {
				t.Fatalf("verify took %s with a 300ms timeout", d)
			}
		})
	}
}

// A token of another account than the one connected is needs_reconnect.
func TestVerifyOtherAccount(t *testing.T) {
	b := setup(t, 0)
	for _, k := range kinds() {
		t.Run(string(k.kind), func(t *testing.T) {
			c := b.connect(t, k)
			c.account = "someone-else"
			if k.provider == sandbox.Salesforce {
				c.account = "005000000000001AAA"
			}
			_, err := b.v.Verify(t.Context(), b.request(k, c))
			failure(t, err, connections.FailNeedsReconnect, "other_account", string(k.provider), c.tokens.AccessToken)
		})
	}
}

// Retry-After comes as seconds, an HTTP date or (Zoom's daily limits) an RFC 3339 time;
// each is honoured.
func TestVerifyRetryAfterForms(t *testing.T) {
	b := setup(t, 0)
	at := time.Now().Add(time.Hour).Truncate(time.Second).UTC()
	for _, k := range kinds() {
		if k.provider == sandbox.Salesforce {
			continue // Salesforce sends no Retry-After
		}
		for _, form := range []string{at.Format(http.TimeFormat), at.Format(time.RFC3339)} {
			t.Run(string(k.kind)+"/"+form, func(t *testing.T) {
				c := b.connect(t, k)
				b.admin(t, http.MethodPost, "/admin/faults", sandbox.Fault{Provider: k.provider, Endpoint: k.rateEndpoint,
					Kind: sandbox.FaultStatus, Status: 429, RetryAfter: form, Count: 1}, nil)
				_, err := b.v.Verify(t.Context(), b.request(k, c))
				f := failure(t, err, connections.FailRateLimited, "rate_limited", string(k.provider), c.tokens.AccessToken)
				if f.RetryAfter < 58*time.Minute || f.RetryAfter > time.Hour {
					t.Fatalf("retry after %s, want about 1h (until %s)", f.RetryAfter, form)
				}
			})
		}
	}
}

// The providers' own limit and refusal answers (the sandbox's named answers, given to one
// grant while another of the same provider keeps working) are classified by their code,
// not by status alone: Google's 403 quota answers are rate limits, not a missing scope.
func TestVerifyProviderAnswers(t *testing.T) {
	b := setup(t, 0)
	byKind := map[connections.Kind]kindCase{}
	for _, k := range kinds() {
		byKind[k.kind] = k
	}
	untilMidnight := func() time.Duration {
		now := time.Now().UTC()
		return now.Truncate(24 * time.Hour).Add(24 * time.Hour).Sub(now)
	}
	for _, c := range []struct {
		kind   connections.Kind
		answer string
		class  connections.FailureClass
		code   string
		// retryAfter is the delay the answer asks for, or the documented backoff of an
		// answer that lasts but names no time; nil: none.
		retryAfter func() time.Duration
	}{
		{connections.KindSalesforce, "daily_limit", connections.FailRateLimited, "rate_limited", func() time.Duration { return oauth.SalesforceDailyLimitBackoff }},
		{connections.KindSalesforce, "concurrent_limit", connections.FailRateLimited, "rate_limited", func() time.Duration { return oauth.SalesforceConcurrentBackoff }},
		{connections.KindSalesforceTeam, "api_disabled", connections.FailNeedsAdmin, "api_disabled_for_org", nil},
		{connections.KindSalesforce, "session_expired", connections.FailNeedsReconnect, "unauthorized", nil},
		{connections.KindGoogleCalendar, "rate_limit", connections.FailRateLimited, "rate_limited", nil},
		{connections.KindGoogleCalendar, "user_rate_limit", connections.FailRateLimited, "rate_limited", nil},
		{connections.KindGoogleCalendar, "quota_exceeded", connections.FailRateLimited, "rate_limited", func() time.Duration { return oauth.GoogleQuotaBackoff }},
		{connections.KindGoogleCalendar, "rate_limit_429", connections.FailRateLimited, "rate_limited", nil},
		{connections.KindMicrosoftCalendar, "throttled", connections.FailRateLimited, "rate_limited", func() time.Duration { return time.Second }},
		{connections.KindMicrosoftCalendar, "mailbox_concurrency", connections.FailRateLimited, "rate_limited", func() time.Duration { return time.Second }},
		{connections.KindTeams, "throttled", connections.FailRateLimited, "rate_limited", func() time.Duration { return time.Second }},
		{connections.KindZoom, "rate_limit", connections.FailRateLimited, "rate_limited", func() time.Duration { return time.Second }},
		{connections.KindZoom, "daily_limit", connections.FailRateLimited, "rate_limited", untilMidnight},
		{connections.KindZoom, "concurrent_requests", connections.FailRateLimited, "rate_limited", nil},
	} {
		t.Run(string(c.kind)+"/"+c.answer, func(t *testing.T) {
			k := byKind[c.kind]
			hit, other := b.connect(t, k), b.connect(t, k)
			b.admin(t, http.MethodPost, "/admin/grants/"+hit.tokens.GrantID+"/answer", map[string]any{"answer": c.answer, "count": 1}, nil)
			_, err := b.v.Verify(t.Context(), b.request(k, hit))
			f := failure(t, err, c.class, c.code, string(k.provider), hit.tokens.AccessToken)
			if c.retryAfter != nil {
				if want := c.retryAfter(); f.RetryAfter < want-5*time.Second || f.RetryAfter > want+time.Second {
					t.Fatalf("retry after %s, want %s", f.RetryAfter, want)
				}
			} else if f.RetryAfter != 0 {
				t.Fatalf("retry after %s, but the answer asks for none", f.RetryAfter)
			}
			if _, err := b.v.Verify(t.Context(), b.request(k, other)); err != nil {
				t.Fatalf("another rep's %s connection during the answer: %v", k.kind, err)
			}
		})
	}
}

// A disabled account's access token is refused at Google, Zoom and Salesforce (the
// caller's refresh then learns who must act); Microsoft's keeps working until it expires.
func TestVerifyDisabledAccount(t *testing.T) {
	b := setup(t, 0)
	for _, k := range kinds() {
		t.Run(string(k.kind), func(t *testing.T) {
			c := b.connect(t, k)
			b.admin(t, http.MethodPost, "/admin/users/"+string(k.provider)+"/"+c.account+"/active", map[string]bool{"active": false}, nil)
			defer b.admin(t, http.MethodPost, "/admin/users/"+string(k.provider)+"/"+c.account+"/active", map[string]bool{"active": true}, nil)
			_, err := b.v.Verify(t.Context(), b.request(k, c))
			if k.provider == sandbox.Microsoft {
				if err != nil {
					t.Fatalf("Microsoft access token of a disabled account: %v; it should work until it expires", err)
				}
				return
			}
			failure(t, err, connections.FailNeedsReconnect, "unauthorized", string(k.provider), c.tokens.AccessToken)
		})
	}
}
