package sandbox

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"google.golang.org/api/calendar/v3"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/option"
)

func retrieveErr(t *testing.T, err error) *oauth2.RetrieveError {
	t.Helper()
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		t.Fatalf("error %v (%T) is not an *oauth2.RetrieveError", err, err)
	}
	return re
}

func TestGoogleDance(t *testing.T) {
	b := setup(t, nil)
	conf := b.config(Google, "openid", "email", googleScopePrefix+"calendar.calendarlist.readonly", googleScopePrefix+"calendar.events")
	verifier := oauth2.GenerateVerifier()
	q := b.authorizeCode(t, conf, oauth2.AccessTypeOffline, oauth2.ApprovalForce, oauth2.S256ChallengeOption(verifier),
		oauth2.SetAuthURLParam("login_hint", "ada@example.com"))
	if q.Get("state") != "st4te" || q.Get("code") == "" {
		t.Fatalf("redirect query %v: want state and code", q)
	}
	code := q.Get("code")

	// PKCE is checked: a wrong verifier is refused and does not burn the code.
	_, err := conf.Exchange(b.ctx(), code, oauth2.VerifierOption(verifier+"x"))
	if re := retrieveErr(t, err); re.ErrorCode != "invalid_grant" || re.Response.StatusCode != 400 {
		t.Fatalf("bad verifier: %q status %d, want invalid_grant 400", re.ErrorCode, re.Response.StatusCode)
	}
	tok, err := conf.Exchange(b.ctx(), code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	if tok.RefreshToken == "" || tok.AccessToken == "" || tok.Expiry.IsZero() {
		t.Fatalf("exchange gave %+v, want access, refresh and expiry", tok)
	}
	if s, _ := tok.Extra("scope").(string); !strings.Contains(s, "calendar.calendarlist.readonly") {
		t.Fatalf("granted scope %q lacks calendarlist", s)
	}
	if id, _ := tok.Extra("id_token").(string); strings.Count(id, ".") != 2 {
		t.Fatalf("id_token %q is not a JWT", id)
	}
	// A code is single-use.
	_, err = conf.Exchange(b.ctx(), code, oauth2.VerifierOption(verifier))
	if re := retrieveErr(t, err); re.ErrorCode != "invalid_grant" {
		t.Fatalf("code replay: %q, want invalid_grant", re.ErrorCode)
	}

	// Refresh: Google sends no refresh_token, the old one stays.
	status, body, raw := b.refreshRaw(t, Google, tok.RefreshToken, nil)
	if status != 200 {
		t.Fatalf("refresh: %d %s", status, raw)
	}
	if _, has := body["refresh_token"]; has {
		t.Fatalf("Google refresh response carries refresh_token: %s", raw)
	}
	if body["expires_in"] != float64(3599) || body["token_type"] != "Bearer" {
		t.Fatalf("refresh body %s: want expires_in 3599, token_type Bearer", raw)
	}
	src := conf.TokenSource(b.ctx(), &oauth2.Token{RefreshToken: tok.RefreshToken})
	t2, err := src.Token()
	if err != nil || t2.RefreshToken != tok.RefreshToken || t2.AccessToken == tok.AccessToken {
		t.Fatalf("x/oauth2 refresh: %v %+v", err, t2)
	}

	// Calendar list through google.golang.org/api.
	svc, err := calendar.NewService(b.ctx(), option.WithEndpoint(b.base+"/google/calendar/v3/"),
		option.WithHTTPClient(oauth2.NewClient(b.ctx(), oauth2.StaticTokenSource(t2))))
	if err != nil {
		t.Fatalf("calendar service: %v", err)
	}
	list, err := svc.CalendarList.List().Do()
	if err != nil {
		t.Fatalf("calendarList.list: %v", err)
	}
	if len(list.Items) != 2 || !list.Items[0].Primary || list.Items[0].Id != "ada@example.com" {
		t.Fatalf("calendar list %+v", list.Items)
	}
	var pages []string
	err = svc.CalendarList.List().MaxResults(1).Pages(b.ctx(), func(l *calendar.CalendarList) error {
		for _, it := range l.Items {
			pages = append(pages, it.Id)
		}
		return nil
	})
	if err != nil || len(pages) != 2 {
		t.Fatalf("paged list: %v %v", err, pages)
	}
	// One entry by the alias "primary" or by id; an id the user lacks is Calendar's 404.
	primary, err := svc.CalendarList.Get("primary").Do()
	if err != nil || primary.Id != "ada@example.com" || !primary.Primary || primary.TimeZone != "America/Los_Angeles" {
		t.Fatalf("calendarList.get primary: %v %+v", err, primary)
	}
	_, err = svc.CalendarList.Get("nobody@example.com").Do()
	var nf *googleapi.Error
	if !errors.As(err, &nf) || nf.Code != 404 || len(nf.Errors) != 1 || nf.Errors[0].Reason != "notFound" {
		t.Fatalf("calendarList.get of a calendar the user lacks: %v, want 404 notFound", err)
	}

	// tokeninfo reports the scopes and the user.
	status, _, info := b.get(t, "/google/tokeninfo?access_token="+url.QueryEscape(t2.AccessToken), "")
	var ti map[string]any
	_ = json.Unmarshal(info, &ti)
	if status != 200 || ti["email"] != "ada@example.com" || !strings.Contains(ti["scope"].(string), "calendar.events") || ti["exp"] == nil {
		t.Fatalf("tokeninfo %d %s", status, info)
	}
	if status, _, _ := b.get(t, "/google/oauth2/v3/userinfo", t2.AccessToken); status != 200 {
		t.Fatalf("userinfo status %d", status)
	}

	// Revoke kills the grant: refresh answers the real invalid_grant body.
	if status, _, raw := b.postForm(t, b.base+"/google/revoke", url.Values{"token": {tok.RefreshToken}}, "", ""); status != 200 {
		t.Fatalf("revoke: %d %s", status, raw)
	}
	_, err = src.Token() // cached token is still valid, so force a new source
	if err != nil {
		t.Fatalf("cached token: %v", err)
	}
	_, err = conf.TokenSource(b.ctx(), &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	re := retrieveErr(t, err)
	if re.ErrorCode != "invalid_grant" || re.ErrorDescription != "Token has been expired or revoked." || re.Response.StatusCode != 400 {
		t.Fatalf("refresh after revoke: %q %q %d", re.ErrorCode, re.ErrorDescription, re.Response.StatusCode)
	}
	if _, err := svc.CalendarList.List().Do(); err == nil {
		t.Fatal("calendar call with a revoked grant's access token succeeded")
	}

	gid, _ := b.sb.GrantOf(tok.RefreshToken)
	c := b.sb.Counters()
	g := c.Grants[gid]
	if g.Refreshes != 2 || g.Rotations != 0 || g.DeadTokenReplays != 1 {
		t.Fatalf("grant counters %+v: want 2 refreshes, 0 rotations, 1 replay", g)
	}
	if ep := c.Endpoint(Google, "calendarList"); ep.Calls != 6 || ep.OK != 4 || ep.Client != 2 {
		t.Fatalf("calendarList counters %+v: want 6 calls, 4 ok, 2 4xx", ep)
	}
}

func TestGoogleCalendarListNeedsListScope(t *testing.T) {
	b := setup(t, nil)
	tok, err := b.sb.IssueGrant(Google, "", []string{googleScopePrefix + "calendar.events"})
	if err != nil {
		t.Fatal(err)
	}
	svc, _ := calendar.NewService(b.ctx(), option.WithEndpoint(b.base+"/google/calendar/v3/"),
		option.WithHTTPClient(oauth2.NewClient(b.ctx(), oauth2.StaticTokenSource(&oauth2.Token{AccessToken: tok.AccessToken}))))
	_, err = svc.CalendarList.List().Do()
	var ge *googleapi.Error
	if !errors.As(err, &ge) || ge.Code != 403 || len(ge.Errors) != 1 || ge.Errors[0].Reason != "insufficientPermissions" {
		t.Fatalf("calendarList with calendar.events only: %v, want 403 insufficientPermissions", err)
	}
	if !strings.Contains(string(ge.Body), "ACCESS_TOKEN_SCOPE_INSUFFICIENT") {
		t.Fatalf("403 body lacks ACCESS_TOKEN_SCOPE_INSUFFICIENT: %s", ge.Body)
	}
	_, err = svc.CalendarList.Get("primary").Do()
	if !errors.As(err, &ge) || ge.Code != 403 || !strings.Contains(string(ge.Body), "calendar.v3.CalendarList.Get") {
		t.Fatalf("calendarList.get with calendar.events only: %v, want 403 naming calendar.v3.CalendarList.Get", err)
	}
	// An unknown token is 401 authError.
	svc2, _ := calendar.NewService(b.ctx(), option.WithEndpoint(b.base+"/google/calendar/v3/"),
		option.WithHTTPClient(oauth2.NewClient(b.ctx(), oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "ya29.nope"}))))
	_, err = svc2.CalendarList.List().Do()
	if !errors.As(err, &ge) || ge.Code != 401 || ge.Errors[0].Reason != "authError" {
		t.Fatalf("unknown token: %v, want 401 authError", err)
	}
}

func TestMicrosoftDance(t *testing.T) {
	b := setup(t, nil)
	conf := b.config(Microsoft, "openid", "profile", "offline_access", "User.Read", "Calendars.ReadWrite", "OnlineMeetings.ReadWrite")
	verifier := oauth2.GenerateVerifier()
	q := b.authorizeCode(t, conf, oauth2.S256ChallengeOption(verifier))
	tok, err := conf.Exchange(b.ctx(), q.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	if tok.RefreshToken == "" || tok.Extra("ext_expires_in") == nil {
		t.Fatalf("exchange %+v: want refresh token and ext_expires_in", tok)
	}
	scope, _ := tok.Extra("scope").(string)
	if !strings.Contains(scope, graphPrefix+"OnlineMeetings.ReadWrite") || strings.Contains(scope, "offline_access") {
		t.Fatalf("scope %q: want Graph scopes in URL form, no offline_access", scope)
	}
	// Code reuse: AADSTS54005.
	status, body, _ := b.postForm(t, conf.Endpoint.TokenURL, url.Values{"grant_type": {"authorization_code"}, "code": {q.Get("code")},
		"redirect_uri": {redirectURL}, "client_id": {conf.ClientID}, "client_secret": {conf.ClientSecret}, "code_verifier": {verifier}}, "", "")
	if status != 400 || body["error_codes"].([]any)[0] != float64(54005) {
		t.Fatalf("code reuse: %d %v", status, body)
	}

	// Every refresh rotates, and the old refresh token keeps working.
	t1, err := conf.TokenSource(b.ctx(), &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	if err != nil || t1.RefreshToken == "" || t1.RefreshToken == tok.RefreshToken {
		t.Fatalf("refresh: %v %+v: want a new refresh token", err, t1)
	}
	if status, _, raw := b.refreshRaw(t, Microsoft, tok.RefreshToken, nil); status != 200 {
		t.Fatalf("old refresh token after rotation: %d %s (Microsoft keeps old tokens valid)", status, raw)
	}
	// A narrower scope is allowed on refresh; a wider one needs consent.
	if status, body, raw := b.refreshRaw(t, Microsoft, t1.RefreshToken, url.Values{"scope": {"User.Read"}}); status != 200 || body["scope"] != graphPrefix+"User.Read" {
		t.Fatalf("narrow refresh: %d %s", status, raw)
	}
	status, body, raw := b.refreshRaw(t, Microsoft, t1.RefreshToken, url.Values{"scope": {"Mail.Read"}})
	if status != 400 || body["suberror"] != "consent_required" || body["error_codes"].([]any)[0] != float64(65001) {
		t.Fatalf("wider refresh: %d %s", status, raw)
	}

	// Graph calls.
	if status, _, raw := b.get(t, "/microsoft/v1.0/me?$select=id,userPrincipalName", t1.AccessToken); status != 200 ||
		!strings.Contains(string(raw), `"userPrincipalName":"ada@example.com"`) || strings.Contains(string(raw), "displayName") {
		t.Fatalf("/me $select: %d %s", status, raw)
	}
	status, _, raw = b.get(t, "/microsoft/v1.0/me/calendars?$top=1", t1.AccessToken)
	if status != 200 || !strings.Contains(string(raw), `"allowedOnlineMeetingProviders":["teamsForBusiness"]`) {
		t.Fatalf("/me/calendars: %d %s", status, raw)
	}

	// Admin revocation: refresh fails with AADSTS50173, the access token (a JWT) lives on.
	gid, _ := b.sb.GrantOf(tok.RefreshToken)
	if err := b.sb.RevokeGrant(gid); err != nil {
		t.Fatal(err)
	}
	_, err = conf.TokenSource(b.ctx(), &oauth2.Token{RefreshToken: t1.RefreshToken}).Token()
	re := retrieveErr(t, err)
	var ms msOAuthBody
	_ = json.Unmarshal(re.Body, &ms)
	if re.ErrorCode != "invalid_grant" || len(ms.ErrorCodes) != 1 || ms.ErrorCodes[0] != 50173 || !strings.HasPrefix(ms.ErrorDescription, "AADSTS50173: ") {
		t.Fatalf("refresh after revoke: %s", re.Body)
	}
	if status, _, _ := b.get(t, "/microsoft/v1.0/me", t1.AccessToken); status != 200 {
		t.Fatalf("Graph with a revoked grant's unexpired access token: %d, want 200 (JWTs outlive revocation)", status)
	}
	g := b.sb.Counters().Grants[gid]
	if g.Refreshes != 3 || g.Rotations != 3 || g.DeadTokenReplays != 1 {
		t.Fatalf("grant counters %+v: want 3 refreshes, 3 rotations, 1 replay", g)
	}
}

func TestMicrosoftTeamsPermission(t *testing.T) {
	b := setup(t, func(o *Options) {
		o.Users = []User{
			{Provider: Microsoft, ID: "11111111-1111-4111-8111-111111111111", Email: "work@contoso.com", GivenName: "Wo", FamilyName: "Rk"},
			{Provider: Microsoft, ID: "22222222-2222-4222-8222-222222222222", Email: "me@outlook.com", Personal: true},
		}
	})
	meeting := func(token string) (int, []byte) {
		req, _ := http.NewRequest(http.MethodPost, b.base+"/microsoft/v1.0/me/onlineMeetings", strings.NewReader(`{"subject":"Demo"}`))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := b.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var buf strings.Builder
		_, _ = io.Copy(&buf, resp.Body)
		return resp.StatusCode, []byte(buf.String())
	}
	full, _ := b.sb.IssueGrant(Microsoft, "work@contoso.com", []string{"offline_access", "Calendars.ReadWrite", "OnlineMeetings.ReadWrite"})
	if status, raw := meeting(full.AccessToken); status != 201 || !strings.Contains(string(raw), "joinWebUrl") {
		t.Fatalf("onlineMeetings with OnlineMeetings.ReadWrite: %d %s", status, raw)
	}
	calOnly, _ := b.sb.IssueGrant(Microsoft, "work@contoso.com", []string{"offline_access", "Calendars.ReadWrite"})
	if status, _ := meeting(calOnly.AccessToken); status != 403 {
		t.Fatalf("onlineMeetings without the scope: %d, want 403", status)
	}
	if status, _, raw := b.get(t, "/microsoft/v1.0/me", calOnly.AccessToken); status != 403 || !strings.Contains(string(raw), "Authorization_RequestDenied") {
		t.Fatalf("/me without User.Read: %d %s", status, raw)
	}
	personal, _ := b.sb.IssueGrant(Microsoft, "me@outlook.com", []string{"Calendars.ReadWrite", "OnlineMeetings.ReadWrite"})
	if status, _ := meeting(personal.AccessToken); status != 403 {
		t.Fatalf("onlineMeetings on a personal account: %d, want 403", status)
	}
	if _, _, raw := b.get(t, "/microsoft/v1.0/me/calendars", personal.AccessToken); strings.Contains(string(raw), "teamsForBusiness") {
		t.Fatalf("personal account calendars offer Teams: %s", raw)
	}
	if status, _, raw := b.get(t, "/microsoft/v1.0/me", "garbage"); status != 401 || !strings.Contains(string(raw), "InvalidAuthenticationToken") {
		t.Fatalf("bad token: %d %s", status, raw)
	}
}

func TestZoomDance(t *testing.T) {
	b := setup(t, nil)
	conf := b.config(Zoom)
	verifier := oauth2.GenerateVerifier()
	q := b.authorizeCode(t, conf, oauth2.S256ChallengeOption(verifier))
	tok, err := conf.Exchange(b.ctx(), q.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	if tok.TokenType != "bearer" || tok.Extra("api_url") != b.base+"/zoom" || tok.RefreshToken == "" {
		t.Fatalf("exchange %+v api_url %v", tok, tok.Extra("api_url"))
	}
	// Credentials in the form are refused: Zoom takes HTTP Basic only.
	status, body, _ := b.postForm(t, conf.Endpoint.TokenURL, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken},
		"client_id": {conf.ClientID}, "client_secret": {conf.ClientSecret}}, "", "")
	if status != 401 || body["error"] != "invalid_client" {
		t.Fatalf("form credentials: %d %v, want 401 invalid_client", status, body)
	}

	t1, err := conf.TokenSource(b.ctx(), &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	if err != nil || t1.RefreshToken == tok.RefreshToken {
		t.Fatalf("refresh: %v; want a rotated refresh token", err)
	}
	// Replaying the rotated-out token: Zoom's real body.
	status, _, raw := b.refreshRaw(t, Zoom, tok.RefreshToken, nil)
	if status != 400 || string(raw) != `{"reason":"Invalid Token!","error":"invalid_grant"}` {
		t.Fatalf("replay: %d %s", status, raw)
	}
	// The current token still works (Zoom kills only the old one).
	t2, err := conf.TokenSource(b.ctx(), &oauth2.Token{RefreshToken: t1.RefreshToken}).Token()
	if err != nil {
		t.Fatalf("refresh with current token after a replay: %v", err)
	}
	if status, _, raw := b.get(t, "/zoom/v2/users/me", t2.AccessToken); status != 200 || !strings.Contains(string(raw), `"email":"ada@example.com"`) {
		t.Fatalf("/v2/users/me: %d %s", status, raw)
	}
	// Revoke with Basic auth.
	status, body, raw = b.postForm(t, b.base+"/zoom/oauth/revoke", url.Values{"token": {t2.AccessToken}}, conf.ClientID, conf.ClientSecret)
	if status != 200 || body["status"] != "success" {
		t.Fatalf("revoke: %d %s", status, raw)
	}
	_, err = conf.TokenSource(b.ctx(), &oauth2.Token{RefreshToken: t2.RefreshToken}).Token()
	if re := retrieveErr(t, err); re.ErrorCode != "invalid_grant" || re.Response.StatusCode != 400 {
		t.Fatalf("refresh after revoke: %s", re.Body)
	}
	if status, _, raw := b.get(t, "/zoom/v2/users/me", t2.AccessToken); status != 401 || !strings.Contains(string(raw), `"code":124`) {
		t.Fatalf("API after revoke: %d %s", status, raw)
	}
	gid, _ := b.sb.GrantOf(tok.RefreshToken)
	g := b.sb.Counters().Grants[gid]
	if g.Refreshes != 2 || g.Rotations != 2 || g.DeadTokenReplays != 2 {
		t.Fatalf("grant counters %+v: want 2 refreshes, 2 rotations, 2 replays", g)
	}
}

func TestZoomScopeMissingIs400(t *testing.T) {
	b := setup(t, nil)
	tok, _ := b.sb.IssueGrant(Zoom, "", []string{"meeting:write:meeting"})
	status, _, raw := b.get(t, "/zoom/v2/users/me", tok.AccessToken)
	if status != 400 || !strings.Contains(string(raw), `"code":4711`) || !strings.Contains(string(raw), "does not contain scopes:[") {
		t.Fatalf("missing scope: %d %s", status, raw)
	}
}

func TestZoomNewAuthorizationInvalidatesPrevious(t *testing.T) {
	b := setup(t, nil)
	first, _ := b.sb.IssueGrant(Zoom, "", nil)
	second, _ := b.sb.IssueGrant(Zoom, "", nil)
	if status, _, _ := b.refreshRaw(t, Zoom, first.RefreshToken, nil); status != 400 {
		t.Fatalf("first grant after a second authorization: %d, want 400", status)
	}
	if status, _, raw := b.refreshRaw(t, Zoom, second.RefreshToken, nil); status != 200 {
		t.Fatalf("second grant: %d %s", status, raw)
	}
	if gi, _ := b.sb.LookupGrant(first.GrantID); gi.Live || gi.Ended != "evicted" {
		t.Fatalf("first grant %+v: want evicted", gi)
	}
}

func TestGoogleTestingModeKillsRefreshAfter7Days(t *testing.T) {
	b := setup(t, func(o *Options) {
		o.Apps = []App{{Provider: Google, ClientID: DefaultGoogleClientID, ClientSecret: DefaultGoogleClientSecret, TestingMode: true}}
	})
	cal, _ := b.sb.IssueGrant(Google, "", []string{"openid", googleScopePrefix + "calendar.events"})
	ident, _ := b.sb.IssueGrant(Google, "", []string{"openid", "email", "profile"})
	status, body, raw := b.refreshRaw(t, Google, cal.RefreshToken, nil)
	if status != 200 || body["refresh_token_expires_in"] == nil {
		t.Fatalf("testing-mode refresh: %d %s, want refresh_token_expires_in", status, raw)
	}
	b.clock.Advance(7*24*time.Hour - time.Minute)
	if status, _, raw := b.refreshRaw(t, Google, cal.RefreshToken, nil); status != 200 {
		t.Fatalf("day 6: %d %s", status, raw)
	}
	b.clock.Advance(2 * time.Minute)
	status, body, _ = b.refreshRaw(t, Google, cal.RefreshToken, nil)
	if status != 400 || body["error"] != "invalid_grant" || body["error_description"] != "Token has been expired or revoked." {
		t.Fatalf("day 7: %d %v", status, body)
	}
	if status, _, raw := b.refreshRaw(t, Google, ident.RefreshToken, nil); status != 200 {
		t.Fatalf("identity-only grant after 7 days: %d %s (not limited)", status, raw)
	}
}

func TestIdleRefreshTokens(t *testing.T) {
	b := setup(t, nil)
	g, _ := b.sb.IssueGrant(Google, "", []string{"openid"})
	m, _ := b.sb.IssueGrant(Microsoft, "", []string{"offline_access", "User.Read"})
	status, body, raw := b.refreshRaw(t, Microsoft, m.RefreshToken, nil)
	if status != 200 {
		t.Fatalf("Microsoft day 0: %d %s", status, raw)
	}
	next := body["refresh_token"].(string)
	b.clock.Advance(89 * 24 * time.Hour)
	if status, _, raw := b.refreshRaw(t, Microsoft, next, nil); status != 200 {
		t.Fatalf("Microsoft day 89: %d %s", status, raw)
	}
	b.clock.Advance(2 * 24 * time.Hour)
	status, body, raw = b.refreshRaw(t, Microsoft, m.RefreshToken, nil)
	if status != 400 || !strings.HasPrefix(body["error_description"].(string), "AADSTS700082: ") {
		t.Fatalf("Microsoft token unused for 91 days: %d %s", status, raw)
	}
	if status, _, raw := b.refreshRaw(t, Microsoft, next, nil); status != 200 {
		t.Fatalf("Microsoft token used 2 days ago: %d %s", status, raw)
	}
	b.clock.Advance(183 * 24 * time.Hour)
	if status, _, _ := b.refreshRaw(t, Google, g.RefreshToken, nil); status != 400 {
		t.Fatalf("Google refresh token unused for 6 months: %d, want 400", status)
	}
}

func TestFaultInjectionHelpersRevokeExpireScopes(t *testing.T) {
	b := setup(t, nil)
	tok, _ := b.sb.IssueGrant(Google, "", []string{"openid", googleScopePrefix + "calendar.readonly"})
	if err := b.sb.SetScopes(tok.GrantID, []string{"openid"}); err != nil {
		t.Fatal(err)
	}
	_, body, _ := b.refreshRaw(t, Google, tok.RefreshToken, nil)
	if body["scope"] != "openid" {
		t.Fatalf("scope after SetScopes: %v", body["scope"])
	}
	if err := b.sb.ExpireAccessTokens(tok.GrantID); err != nil {
		t.Fatal(err)
	}
	if status, _, _ := b.get(t, "/google/oauth2/v3/userinfo", body["access_token"].(string)); status != 401 {
		t.Fatalf("userinfo with expired access token: %d", status)
	}
	if err := b.sb.ExpireRefreshToken(tok.GrantID); err != nil {
		t.Fatal(err)
	}
	if status, _, _ := b.refreshRaw(t, Google, tok.RefreshToken, nil); status != 400 {
		t.Fatalf("refresh after ExpireRefreshToken: %d", status)
	}
	if err := b.sb.RevokeGrant("nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("RevokeGrant(unknown) = %v, want ErrNotFound", err)
	}
}

func TestClientAuthentication(t *testing.T) {
	b := setup(t, nil)
	gt, _ := b.sb.IssueGrant(Google, "", []string{"openid"})
	// Google accepts Basic as well as form credentials.
	status, _, raw := b.postForm(t, Endpoints(b.base, Google).TokenURL,
		url.Values{"grant_type": {"refresh_token"}, "refresh_token": {gt.RefreshToken}}, DefaultGoogleClientID, DefaultGoogleClientSecret)
	if status != 200 {
		t.Fatalf("Google with Basic: %d %s", status, raw)
	}
	cases := []struct {
		p      Provider
		secret string
		status int
		code   string
	}{
		{Google, "wrong", 401, "invalid_client"},
		{Microsoft, "wrong", 401, "invalid_client"},
		{Salesforce, "wrong", 400, "invalid_client"},
		{Zoom, "wrong", 401, "invalid_client"},
	}
	for _, c := range cases {
		id, _ := defaultCreds(c.p)
		form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"x"}}
		var status int
		var body map[string]any
		if c.p == Zoom {
			status, body, _ = b.postForm(t, Endpoints(b.base, c.p).TokenURL, form, id, c.secret)
		} else {
			form.Set("client_id", id)
			form.Set("client_secret", c.secret)
			status, body, _ = b.postForm(t, Endpoints(b.base, c.p).TokenURL, form, "", "")
		}
		if status != c.status || body["error"] != c.code {
			t.Errorf("%s bad secret: %d %v, want %d %s", c.p, status, body, c.status, c.code)
		}
	}
	// Unknown client at Salesforce: invalid_client_id.
	status, body, _ := b.postForm(t, Endpoints(b.base, Salesforce).TokenURL, url.Values{"grant_type": {"refresh_token"},
		"refresh_token": {"x"}, "client_id": {"nope"}, "client_secret": {"x"}}, "", "")
	if status != 400 || body["error"] != "invalid_client_id" || body["error_description"] != "client identifier invalid" {
		t.Fatalf("Salesforce unknown client: %d %v", status, body)
	}
}

func TestAuthorizeErrors(t *testing.T) {
	b := setup(t, func(o *Options) {
		o.Apps = []App{{Provider: Google, ClientID: "strict", ClientSecret: "s", RedirectURIs: []string{"https://app.example.com/cb"}, RequirePKCE: true}}
	})
	conf := &oauth2.Config{ClientID: "strict", ClientSecret: "s", Endpoint: OAuth2Endpoint(b.base, Google), RedirectURL: "https://evil.example.com/cb", Scopes: []string{"openid"}}
	resp, err := b.noRedirect().Get(conf.AuthCodeURL("s", oauth2.SetAuthURLParam("sandbox_auto", "allow")))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Fatalf("unregistered redirect_uri: status %d, want a 400 page (never redirect)", resp.StatusCode)
	}
	conf.RedirectURL = "https://app.example.com/cb"
	resp, err = b.noRedirect().Get(conf.AuthCodeURL("s", oauth2.SetAuthURLParam("sandbox_auto", "allow")))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != 302 || loc.Query().Get("error") != "invalid_request" {
		t.Fatalf("missing PKCE with RequirePKCE: %d %s", resp.StatusCode, loc)
	}
	// Deny.
	conf2 := b.config(Salesforce)
	resp, err = b.noRedirect().Get(conf2.AuthCodeURL("s", oauth2.SetAuthURLParam("sandbox_auto", "deny")))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, _ = url.Parse(resp.Header.Get("Location"))
	if loc.Query().Get("error") != "access_denied" || loc.Query().Get("error_description") != "end-user denied authorization" {
		t.Fatalf("deny: %s", loc)
	}
	// Expired code.
	g := b.config(Google, "openid")
	q := b.authorizeCode(t, g)
	b.clock.Advance(11 * time.Minute)
	if _, err := g.Exchange(b.ctx(), q.Get("code")); retrieveErr(t, err).ErrorCode != "invalid_grant" {
		t.Fatalf("expired code accepted")
	}
}
