package oauth_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"tether/connectors/oauth"
	"tether/connectors/sandbox"
	"tether/sync/connections"
	"tether/sync/vault"
)

// API answers as salesforce.md §3.2/§3.6 and oauth.md §2-§4 record them.
func TestAPIFailure(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 19, 12, 0, 0, 0, time.UTC)
	ra := func(v string) http.Header { return http.Header{"Retry-After": {v}} }
	tests := []struct {
		name, provider string
		status         int
		header         http.Header
		body           string
		class          connections.FailureClass
		code, subCode  string
		retry          time.Duration
	}{
		{"sf expired session", "salesforce", 401, nil, `[{"message":"Session expired or invalid","errorCode":"INVALID_SESSION_ID"}]`,
			connections.FailNeedsReconnect, "unauthorized", "INVALID_SESSION_ID", 0},
		{"sf userinfo bad token", "salesforce", 403, nil, `Bad_OAuth_Token`, connections.FailNeedsReconnect, "unauthorized", "Bad_OAuth_Token", 0},
		{"sf daily limit", "salesforce", 403, nil, `[{"message":"TotalRequests Limit exceeded.","errorCode":"REQUEST_LIMIT_EXCEEDED"}]`,
			connections.FailRateLimited, "REQUEST_LIMIT_EXCEEDED", "TotalRequests", oauth.SalesforceDailyLimitBackoff},
		{"sf concurrent limit", "salesforce", 403, nil, `[{"message":"ConcurrentRequests (Concurrent API Requests) Limit exceeded.","errorCode":"REQUEST_LIMIT_EXCEEDED"}]`,
			connections.FailRateLimited, "REQUEST_LIMIT_EXCEEDED", "ConcurrentRequests", oauth.SalesforceConcurrentBackoff},
		{"sf api disabled", "salesforce", 403, nil, `[{"message":"The REST API is not enabled for this Organization.","errorCode":"API_DISABLED_FOR_ORG"}]`,
			connections.FailNeedsAdmin, "API_DISABLED_FOR_ORG", "API_DISABLED_FOR_ORG", 0},
		{"sf unavailable", "salesforce", 503, nil, `[{"message":"Server temporarily unavailable","errorCode":"SERVER_UNAVAILABLE"}]`,
			connections.FailTransient, "SERVER_UNAVAILABLE", "", 0},
		{"sf field error is not ours", "salesforce", 400, nil, `[{"message":"No such column","errorCode":"INVALID_FIELD"}]`,
			connections.FailUnknown, "INVALID_FIELD", "", 0},
		{"google 401", "google", 401, nil, `{"error":{"code":401,"message":"Request had invalid authentication credentials.","errors":[{"message":"Invalid Credentials","domain":"global","reason":"authError"}],"status":"UNAUTHENTICATED"}}`,
			connections.FailNeedsReconnect, "unauthorized", "authError", 0},
		{"google scope", "google", 403, nil, `{"error":{"code":403,"message":"Request had insufficient authentication scopes.","errors":[{"message":"Insufficient Permission","domain":"global","reason":"insufficientPermissions"}],"status":"PERMISSION_DENIED","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"ACCESS_TOKEN_SCOPE_INSUFFICIENT"}]}}`,
			connections.FailNeedsReconnect, "insufficientPermissions", "ACCESS_TOKEN_SCOPE_INSUFFICIENT", 0},
		{"google 403 rate", "google", 403, nil, `{"error":{"code":403,"message":"Rate Limit Exceeded","errors":[{"message":"Rate Limit Exceeded","domain":"usageLimits","reason":"rateLimitExceeded"}],"status":"PERMISSION_DENIED"}}`,
			connections.FailRateLimited, "rateLimitExceeded", "", 0},
		{"google 403 user rate", "google", 403, ra("20"), `{"error":{"code":403,"message":"User Rate Limit Exceeded","errors":[{"message":"User Rate Limit Exceeded","domain":"usageLimits","reason":"userRateLimitExceeded"}],"status":"PERMISSION_DENIED"}}`,
			connections.FailRateLimited, "userRateLimitExceeded", "", 20 * time.Second},
		{"google 403 quota", "google", 403, nil, `{"error":{"code":403,"message":"Calendar usage limits exceeded.","errors":[{"message":"Calendar usage limits exceeded.","domain":"usageLimits","reason":"quotaExceeded"}],"status":"PERMISSION_DENIED"}}`,
			connections.FailRateLimited, "quotaExceeded", "", oauth.GoogleQuotaBackoff},
		{"google project daily quota", "google", 403, nil, `{"error":{"code":403,"message":"Daily Limit Exceeded","errors":[{"message":"Daily Limit Exceeded","domain":"usageLimits","reason":"dailyLimitExceeded"}]}}`,
			connections.FailRateLimited, "dailyLimitExceeded", "", oauth.GoogleQuotaBackoff},
		{"google api not enabled", "google", 403, nil, `{"error":{"code":403,"message":"Google Calendar API has not been used in project 123 before or it is disabled.","errors":[{"message":"Access Not Configured.","domain":"usageLimits","reason":"accessNotConfigured"}],"status":"PERMISSION_DENIED"}}`,
			connections.FailMisconfigured, "accessNotConfigured", "", 0},
		{"google 429", "google", 429, nil, `{"error":{"code":429,"message":"Rate Limit Exceeded","errors":[{"message":"Rate Limit Exceeded","domain":"usageLimits","reason":"rateLimitExceeded"}],"status":"RESOURCE_EXHAUSTED"}}`,
			connections.FailRateLimited, "rateLimitExceeded", "", 0},
		{"graph 401", "microsoft", 401, nil, `{"error":{"code":"InvalidAuthenticationToken","message":"Access token has expired or is not yet valid."}}`,
			connections.FailNeedsReconnect, "unauthorized", "InvalidAuthenticationToken", 0},
		{"graph 403", "microsoft", 403, nil, `{"error":{"code":"ErrorAccessDenied","message":"Access is denied. Check credentials and try again."}}`,
			connections.FailNeedsReconnect, "ErrorAccessDenied", "", 0},
		{"graph 429", "microsoft", 429, ra("7"), `{"error":{"code":"TooManyRequests","message":"Too many requests."}}`,
			connections.FailRateLimited, "TooManyRequests", "", 7 * time.Second},
		{"graph mailbox concurrency", "microsoft", 429, ra("1"), `{"error":{"code":"ApplicationThrottled","message":"Application is over its MailboxConcurrency limit."}}`,
			connections.FailRateLimited, "ApplicationThrottled", "", time.Second},
		{"graph 503", "microsoft", 503, ra("3"), `{"error":{"code":"serviceNotAvailable","message":"Service unavailable"}}`,
			connections.FailTransient, "serviceNotAvailable", "", 3 * time.Second},
		{"zoom 401", "zoom", 401, nil, `{"code":124,"message":"Invalid access token."}`, connections.FailNeedsReconnect, "unauthorized", "124", 0},
		{"zoom scope", "zoom", 400, nil, `{"code":4711,"message":"Invalid access token, does not contain scopes:[meeting:write:meeting, user:read:user]."}`,
			connections.FailNeedsReconnect, "4711", "", 0},
		{"zoom 429 daily", "zoom", 429, http.Header{"Retry-After": {"2026-01-20T00:00:00Z"}, "X-Ratelimit-Type": {"Daily-limit"}},
			`{"code":429,"message":"You have reached the maximum daily rate limit for this API."}`, connections.FailRateLimited, "429", "Daily-limit", 12 * time.Hour},
		{"proxy html 403", "google", 403, nil, `<html><body>Forbidden</body></html>`, connections.FailUnknown, "", "", 0},
		{"gateway 502", "zoom", 502, nil, `<html>Bad Gateway</html>`, connections.FailTransient, "", "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := tt.header
			if h == nil {
				h = http.Header{}
			}
			f := oauth.APIFailure(tt.provider, "verify", tt.status, h, []byte(tt.body), now)
			if f.Class != tt.class || f.Code != tt.code || f.SubCode != tt.subCode || f.RetryAfter != tt.retry {
				t.Fatalf("got %s code %q sub %q retry %s, want %s %q %q %s (%+v)", f.Class, f.Code, f.SubCode, f.RetryAfter,
					tt.class, tt.code, tt.subCode, tt.retry, f)
			}
			if f.Provider != tt.provider || f.Op != "verify" || f.Status != tt.status {
				t.Errorf("provider/op/status: %+v", f)
			}
			if f.Reason == "" || f.Detail == "" {
				t.Errorf("a failure must say why (reason %q) and keep the provider's text (detail %q)", f.Reason, f.Detail)
			}
		})
	}
	f := oauth.APIFailure("zoom", "verify", 400, http.Header{}, []byte(`{"code":4711,"message":"Invalid access token, does not contain scopes:[meeting:write:meeting, user:read:user]."}`), now)
	if !slices.Equal(f.MissingScopes, []string{"meeting:write:meeting", "user:read:user"}) {
		t.Errorf("zoom 4711 missing scopes %q", f.MissingScopes)
	}
}

// An unknown body is kept, shortened and without credentials, and never condemns.
func TestUnknownBodyIsKeptWithoutTokens(t *testing.T) {
	t.Parallel()
	const at = "ya29.a0AfB_byC1x9Qm7Zt3Lk8Wn2Rv5Hp0Jd6Ys4Gf1Tq"
	body := `<html><h1>Gateway says no</h1><p>Authorization: Bearer ` + at + `</p><p>{"refresh_token":"1//0gShortish"}</p>` +
		`<p>request 6e8f1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b</p>` + strings.Repeat("<br>", 200) + `</html>`
	f := oauth.APIFailure("google", "verify", 403, http.Header{}, []byte(body), time.Now())
	if f.Class != connections.FailUnknown || f.Class.Actor() != connections.ActorNone || !f.Class.Retried() {
		t.Fatalf("class %s", f.Class)
	}
	for _, secret := range []string{at, "1//0gShortish", "0gShortish"} {
		if strings.Contains(f.Detail, secret) {
			t.Errorf("detail keeps %q: %s", secret, f.Detail)
		}
	}
	if !strings.Contains(f.Detail, "Gateway says no") || !strings.Contains(f.Detail, "6e8f1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b") {
		t.Errorf("detail lost the readable part: %s", f.Detail)
	}
	if len(f.Detail) > 310 {
		t.Errorf("detail not shortened: %d bytes", len(f.Detail))
	}
}

// ConnectionRefresher answers *connections.Failure for every provider, over HTTP against
// the sandbox, and the older sentinels still match.
func TestConnectionRefresherReturnsFailures(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{timeout: 500 * time.Millisecond})
	ctx := context.Background()
	r := oauth.ConnectionRefresher{Client: b.client, Providers: map[connections.Kind]string{
		connections.KindSalesforce: "salesforce", connections.KindGoogleCalendar: "google",
		connections.KindMicrosoftCalendar: "microsoft", connections.KindZoom: "zoom"}}
	kinds := []struct {
		kind     connections.Kind
		provider sandbox.Provider
		subject  func() string
	}{
		{connections.KindSalesforce, sandbox.Salesforce, func() string { return b.sfUser }},
		{connections.KindGoogleCalendar, sandbox.Google, func() string { return "" }},
		{connections.KindMicrosoftCalendar, sandbox.Microsoft, func() string { return "" }},
		{connections.KindZoom, sandbox.Zoom, func() string { return "" }},
	}
	for _, k := range kinds {
		t.Run(string(k.provider)+" revoked", func(t *testing.T) {
			g := b.grant(t, k.provider, k.subject())
			if err := b.sb.RevokeGrant(g.GrantID); err != nil {
				t.Fatal(err)
			}
			_, err := r.Refresh(ctx, connections.RefreshRequest{Kind: k.kind, RefreshToken: vault.NewToken(g.RefreshToken)})
			f, ok := connections.AsFailure(err)
			if !ok || f.Class != connections.FailNeedsReconnect || f.Provider != string(k.provider) || f.Op != "refresh" || f.Status != 400 {
				t.Fatalf("got %+v (%v)", f, err)
			}
			if !errors.Is(err, connections.ErrNeedsReconnect) || errors.Is(err, connections.ErrOrgBlocked) {
				t.Errorf("sentinels: %v", err)
			}
			if f.Code == "" || f.Reason == "" {
				t.Errorf("code %q reason %q", f.Code, f.Reason)
			}
			if strings.Contains(f.Error()+f.Detail, g.RefreshToken) {
				t.Errorf("token in failure: %v", f)
			}
		})
		t.Run(string(k.provider)+" dropped answer", func(t *testing.T) {
			g := b.grant(t, k.provider, k.subject())
			b.sb.Faults().MustAdd(sandbox.Fault{Provider: k.provider, Endpoint: "token", Kind: sandbox.FaultDrop, Count: 1})
			_, err := r.Refresh(ctx, connections.RefreshRequest{Kind: k.kind, RefreshToken: vault.NewToken(g.RefreshToken)})
			f, ok := connections.AsFailure(err)
			if !ok || f.Class != connections.FailTransient || !f.OutcomeUnknown || f.Status != 0 {
				t.Fatalf("got %+v (%v)", f, err)
			}
			if errors.Is(err, connections.ErrNeedsReconnect) {
				t.Errorf("a lost answer is not a dead grant: %v", err)
			}
		})
		t.Run(string(k.provider)+" 429", func(t *testing.T) {
			g := b.grant(t, k.provider, k.subject())
			b.sb.Faults().MustAdd(sandbox.Fault{Provider: k.provider, Endpoint: "token", Kind: sandbox.FaultStatus, Status: 429, RetryAfter: "42", Count: 1})
			_, err := r.Refresh(ctx, connections.RefreshRequest{Kind: k.kind, RefreshToken: vault.NewToken(g.RefreshToken)})
			f, ok := connections.AsFailure(err)
			// Salesforce sends no 429 and no Retry-After: the sandbox answers its 400
			// rate_limit_exceeded.
			status, retry := 429, 42*time.Second
			if k.provider == sandbox.Salesforce {
				status, retry = 400, 0
			}
			if !ok || f.Class != connections.FailRateLimited || f.RetryAfter != retry || f.Status != status {
				t.Fatalf("got %+v (%v)", f, err)
			}
		})
	}
	t.Run("salesforce inactive user is the admin's", func(t *testing.T) {
		g := b.grant(t, sandbox.Salesforce, b.sfUser)
		if err := b.sb.Salesforce().SetUserActive(b.sfUser, false); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = b.sb.Salesforce().SetUserActive(b.sfUser, true) })
		_, err := r.Refresh(ctx, connections.RefreshRequest{Kind: connections.KindSalesforce, RefreshToken: vault.NewToken(g.RefreshToken)})
		f, ok := connections.AsFailure(err)
		if !ok || f.Class != connections.FailNeedsAdmin || f.SubCode != "inactive user" || f.Class.Actor() != connections.ActorAdmin {
			t.Fatalf("got %+v (%v)", f, err)
		}
		if !errors.Is(err, connections.ErrOrgBlocked) || errors.Is(err, connections.ErrNeedsReconnect) {
			t.Errorf("sentinels: %v", err)
		}
	})
	t.Run("unconfigured kind is the operator's", func(t *testing.T) {
		_, err := r.Refresh(ctx, connections.RefreshRequest{Kind: connections.KindTeams, RefreshToken: vault.NewToken("x")})
		f, ok := connections.AsFailure(err)
		if !ok || f.Class != connections.FailMisconfigured || !errors.Is(err, connections.ErrMisconfigured) ||
			!strings.Contains(f.Reason, "CLIENT_ID") {
			t.Fatalf("got %+v (%v)", f, err)
		}
	})
}

// The revoke path sync/connect uses (Connector.Revoke) answers *connections.Failure too;
// a token the provider already considers dead is revoked, not an error.
func TestConnectorRevokeFailures(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{timeout: 500 * time.Millisecond})
	c := &oauth.Connector{Client: b.client,
		Salesforce: oauth.App{ClientID: sandbox.DefaultSalesforceClientID, ClientSecret: sandbox.DefaultSalesforceClientSecret},
		Google: oauth.App{ClientID: sandbox.DefaultGoogleClientID, ClientSecret: sandbox.DefaultGoogleClientSecret,
			TokenURL: b.url + "/google/token", APIURL: b.url + "/google"},
		Zoom: oauth.App{ClientID: sandbox.DefaultZoomClientID, ClientSecret: sandbox.DefaultZoomClientSecret,
			TokenURL: b.url + "/zoom/oauth/token", APIURL: b.url + "/zoom"},
	}
	ctx := context.Background()
	for _, k := range []struct {
		kind     connections.Kind
		provider sandbox.Provider
		subject  string
	}{{connections.KindSalesforce, sandbox.Salesforce, b.sfUser}, {connections.KindGoogleCalendar, sandbox.Google, ""}, {connections.KindZoom, sandbox.Zoom, ""}} {
		t.Run(string(k.provider), func(t *testing.T) {
			g := b.grant(t, k.provider, k.subject)
			b.sb.Faults().MustAdd(sandbox.Fault{Provider: k.provider, Endpoint: "revoke", Kind: sandbox.FaultStatus, Status: 503, Count: 1})
			err := c.Revoke(ctx, k.kind, b.url+"/salesforce", vault.NewToken(g.RefreshToken))
			f, ok := connections.AsFailure(err)
			if !ok || f.Class != connections.FailTransient || f.Op != "revoke" || f.Provider != string(k.provider) || f.Status != 503 {
				t.Fatalf("revoke during an outage: %+v (%v)", f, err)
			}
			b.sb.Faults().MustAdd(sandbox.Fault{Provider: k.provider, Endpoint: "revoke", Kind: sandbox.FaultDrop, Count: 1})
			err = c.Revoke(ctx, k.kind, b.url+"/salesforce", vault.NewToken(g.RefreshToken))
			if f, ok := connections.AsFailure(err); !ok || !f.OutcomeUnknown || f.Class != connections.FailTransient {
				t.Fatalf("revoke whose answer was lost: %+v (%v)", f, err)
			}
			for range 2 { // revoked, then already dead: both fine
				if err := c.Revoke(ctx, k.kind, b.url+"/salesforce", vault.NewToken(g.RefreshToken)); err != nil {
					t.Fatalf("revoke: %v", err)
				}
			}
		})
	}
}
