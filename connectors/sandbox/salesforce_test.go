package sandbox

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"tether/connectors/sandbox/sfdc"
)

const rtrClientID, rtrSecret = "3MVG9rotating", "rotating-secret"

// sfSetup adds a generated org and an app with Refresh Token Rotation on.
func sfSetup(t *testing.T) (*bundle, string, sfdc.User) {
	t.Helper()
	b := setup(t, func(o *Options) {
		o.Apps = []App{{Provider: Salesforce, ClientID: rtrClientID, ClientSecret: rtrSecret, RotateRefreshTokens: true,
			DefaultScopes: []string{"api", "refresh_token"}}}
	})
	orgID, err := b.sb.Salesforce().AddOrg(sfdc.GenerateOrg(7, 3))
	if err != nil {
		t.Fatalf("add org: %v", err)
	}
	ids := b.sb.Salesforce().Users(orgID)
	if len(ids) < 2 {
		t.Fatalf("org has %d users", len(ids))
	}
	u, ok := b.sb.Salesforce().User(ids[1])
	if !ok || !u.IsActive {
		t.Fatalf("user %s: %+v", ids[1], u)
	}
	return b, orgID, u
}

func TestSalesforceDance(t *testing.T) {
	b, orgID, u := sfSetup(t)
	conf := b.config(Salesforce, "api", "refresh_token", "openid")
	verifier := oauth2.GenerateVerifier()
	q := b.authorizeCode(t, conf, oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("login_hint", u.Username))
	tok, err := conf.Exchange(b.ctx(), q.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	if !tok.Expiry.IsZero() || tok.RefreshToken == "" {
		t.Fatalf("exchange %+v: Salesforce sends no expires_in (zero Expiry) and a refresh token", tok)
	}
	if tok.Extra("instance_url") != b.base+"/salesforce" || tok.Extra("id") != b.base+"/salesforce/id/"+orgID+"/"+u.ID {
		t.Fatalf("instance_url %v id %v", tok.Extra("instance_url"), tok.Extra("id"))
	}
	if !strings.HasPrefix(tok.AccessToken, orgID+"!") {
		t.Fatalf("access token %q does not start with the org id", tok.AccessToken)
	}

	// Refresh without rotation: no refresh_token, no expires_in.
	status, body, raw := b.refreshRaw(t, Salesforce, tok.RefreshToken, nil)
	if status != 200 {
		t.Fatalf("refresh: %d %s", status, raw)
	}
	for _, k := range []string{"refresh_token", "expires_in"} {
		if _, has := body[k]; has {
			t.Fatalf("refresh without rotation carries %s: %s", k, raw)
		}
	}
	at := body["access_token"].(string)

	// userinfo, identity URL, introspect.
	status, _, raw = b.get(t, "/salesforce/services/oauth2/userinfo", at)
	var ui map[string]any
	_ = json.Unmarshal(raw, &ui)
	if status != 200 || ui["preferred_username"] != u.Username || ui["user_id"] != u.ID || ui["organization_id"] != orgID {
		t.Fatalf("userinfo: %d %s", status, raw)
	}
	// The User's TimeZoneSidKey is its zoneinfo, with that zone's standard offset.
	if u.TimeZone == "" || ui["zoneinfo"] != u.TimeZone || ui["utcOffset"] != float64(sfUTCOffset(u.TimeZone)) {
		t.Fatalf("userinfo of a user in %q: zoneinfo %v, utcOffset %v", u.TimeZone, ui["zoneinfo"], ui["utcOffset"])
	}
	if status, _, raw := b.get(t, "/salesforce/services/oauth2/userinfo", "00Dbad!token"); status != 403 || string(raw) != "Bad_OAuth_Token" {
		t.Fatalf("userinfo with a bad token: %d %q, want 403 Bad_OAuth_Token", status, raw)
	}
	if status, _, raw := b.get(t, "/salesforce/id/"+orgID+"/"+u.ID, at); status != 200 || !strings.Contains(string(raw), `"username":"`+u.Username+`"`) {
		t.Fatalf("identity URL: %d %s", status, raw)
	}
	status, body, raw = b.postForm(t, b.base+"/salesforce/services/oauth2/introspect", url.Values{"token": {at},
		"client_id": {DefaultSalesforceClientID}, "client_secret": {DefaultSalesforceClientSecret}, "token_type_hint": {"access_token"}}, "", "")
	if status != 200 || body["active"] != true || body["exp"] == nil {
		t.Fatalf("introspect: %d %s", status, raw)
	}

	// The data plane accepts the token (sfdc calls back into the sandbox to authenticate).
	gid, _ := b.sb.GrantOf(at)
	before := b.sb.Counters().Grants[gid].Calls
	if status, _, raw := b.get(t, "/salesforce/services/data/v62.0/query?q="+url.QueryEscape("SELECT Id FROM User LIMIT 1"), at); status != 200 {
		t.Fatalf("query: %d %s", status, raw)
	}
	c := b.sb.Counters()
	if c.Grants[gid].Calls != before+1 || c.Endpoint(Salesforce, "query").Calls != 1 {
		t.Fatalf("after one query: grant calls %d (before %d), query endpoint %+v", c.Grants[gid].Calls, before, c.Endpoint(Salesforce, "query"))
	}
	if status, _, _ := b.get(t, "/salesforce/services/data/v62.0/query?q="+url.QueryEscape("SELECT Id FROM User LIMIT 1"), "00Dnope!x"); status != 401 {
		t.Fatalf("query with a bad token: %d, want 401", status)
	}
	// Disabling the API for the org is delegated to sfdc.
	if err := b.sb.SetAPIEnabled(orgID, false); err != nil {
		t.Fatal(err)
	}
	if status, _, raw := b.get(t, "/salesforce/services/data/v62.0/query?q="+url.QueryEscape("SELECT Id FROM User LIMIT 1"), at); status != 403 || !strings.Contains(string(raw), "API_DISABLED_FOR_ORG") {
		t.Fatalf("query with API disabled: %d %s", status, raw)
	}

	// Revoke the refresh token: the grant is gone.
	if status, _, raw := b.postForm(t, b.base+"/salesforce/services/oauth2/revoke", url.Values{"token": {tok.RefreshToken}}, "", ""); status != 200 {
		t.Fatalf("revoke: %d %s", status, raw)
	}
	status, _, raw = b.refreshRaw(t, Salesforce, tok.RefreshToken, nil)
	if status != 400 || string(raw) != string(fixture(t, "salesforce/oauth_refresh_error_expired.restforce.json")) {
		t.Fatalf("refresh after revoke: %d %s", status, raw)
	}
	if status, _, _ := b.get(t, "/salesforce/services/oauth2/userinfo", at); status != 403 {
		t.Fatalf("userinfo after revoke: %d, want 403", status)
	}
}

func TestSalesforceRotationReplayRevokesGrant(t *testing.T) {
	b, _, u := sfSetup(t)
	conf := &oauth2.Config{ClientID: rtrClientID, ClientSecret: rtrSecret, Endpoint: OAuth2Endpoint(b.base, Salesforce), RedirectURL: redirectURL}
	q := b.authorizeCode(t, conf, oauth2.SetAuthURLParam("login_hint", u.Username))
	tok, err := conf.Exchange(b.ctx(), q.Get("code"))
	if err != nil {
		t.Fatal(err)
	}
	t1, err := conf.TokenSource(b.ctx(), &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	if err != nil || t1.RefreshToken == tok.RefreshToken {
		t.Fatalf("rotating refresh: %v, new token %v", err, t1.RefreshToken != tok.RefreshToken)
	}
	// Replay the rotated-out token: invalid_grant, and the whole grant dies.
	_, err = conf.TokenSource(b.ctx(), &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	if re := retrieveErr(t, err); re.ErrorCode != "invalid_grant" || re.ErrorDescription != "expired access/refresh token" {
		t.Fatalf("replay: %s", re.Body)
	}
	_, err = conf.TokenSource(b.ctx(), &oauth2.Token{RefreshToken: t1.RefreshToken}).Token()
	if re := retrieveErr(t, err); re.ErrorCode != "invalid_grant" {
		t.Fatalf("current token after a replay: %s, want the grant revoked", re.Body)
	}
	if status, _, _ := b.get(t, "/salesforce/services/oauth2/userinfo", t1.AccessToken); status != 403 {
		t.Fatalf("access token after family revocation: %d, want 403", status)
	}
	gid, _ := b.sb.GrantOf(tok.RefreshToken)
	gi, _ := b.sb.LookupGrant(gid)
	if gi.Live || gi.Ended != "replay_revoked" || gi.Counters.Rotations != 1 || gi.Counters.DeadTokenReplays != 2 {
		t.Fatalf("grant %+v: want ended by replay, 1 rotation, 2 dead-token replays", gi)
	}
}

func TestSalesforceSixthApprovalEvictsOldest(t *testing.T) {
	b, _, u := sfSetup(t)
	var grants []Tokens
	for range 6 {
		tk, err := b.sb.IssueGrant(Salesforce, u.Username, []string{"api", "refresh_token"})
		if err != nil {
			t.Fatal(err)
		}
		grants = append(grants, tk)
	}
	if status, _, raw := b.refreshRaw(t, Salesforce, grants[0].RefreshToken, nil); status != 400 || !strings.Contains(string(raw), "expired access/refresh token") {
		t.Fatalf("oldest of 6 approvals: %d %s", status, raw)
	}
	for i := 1; i < 6; i++ {
		if status, _, raw := b.refreshRaw(t, Salesforce, grants[i].RefreshToken, nil); status != 200 {
			t.Fatalf("approval %d: %d %s", i+1, status, raw)
		}
	}
	if gi, _ := b.sb.LookupGrant(grants[0].GrantID); gi.Ended != "evicted" {
		t.Fatalf("oldest grant %+v: want evicted", gi)
	}
}

func TestSalesforceInactiveUser(t *testing.T) {
	b, _, u := sfSetup(t)
	tk, err := b.sb.IssueGrant(Salesforce, u.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.sb.Salesforce().SetUserActive(u.ID, false); err != nil {
		t.Fatal(err)
	}
	status, body, _ := b.refreshRaw(t, Salesforce, tk.RefreshToken, nil)
	if status != 400 || body["error"] != "invalid_grant" || body["error_description"] != "inactive user" {
		t.Fatalf("refresh for an inactive user: %d %v", status, body)
	}
}

func TestSalesforceIdleTTL(t *testing.T) {
	b := setup(t, func(o *Options) {
		o.Apps = []App{{Provider: Salesforce, ClientID: "idle", ClientSecret: "s", RefreshTokenIdleTTL: Duration(720 * 60 * 60 * 1e9), DefaultScopes: []string{"api", "refresh_token"}}}
	})
	orgID, _ := b.sb.Salesforce().AddOrg(sfdc.GenerateOrg(3, 1))
	uid := b.sb.Salesforce().Users(orgID)[0]
	tk, err := b.sb.NewGrant(GrantRequest{Provider: Salesforce, ClientID: "idle", Subject: uid})
	if err != nil {
		t.Fatal(err)
	}
	refresh := func() int {
		st, _, _ := b.postForm(t, Endpoints(b.base, Salesforce).TokenURL, url.Values{"grant_type": {"refresh_token"},
			"refresh_token": {tk.RefreshToken}, "client_id": {"idle"}, "client_secret": {"s"}}, "", "")
		return st
	}
	b.clock.Advance(29 * day)
	if st := refresh(); st != 200 {
		t.Fatalf("day 29: %d", st)
	}
	b.clock.Advance(29 * day)
	if st := refresh(); st != 200 {
		t.Fatalf("day 58 (used on day 29): %d", st)
	}
	b.clock.Advance(31 * day)
	if st := refresh(); st != 400 {
		t.Fatalf("31 idle days: %d, want 400", st)
	}
}

// An org's session timeout, set over the admin API, is the lifetime of the access tokens
// issued for the org from then on: introspection shows it as exp − iat (Salesforce token
// answers carry no expires_in). Outside 15m–24h is refused; an unknown org is a 404.
func TestSalesforceSessionTimeoutOfTheOrg(t *testing.T) {
	b, orgID, u := sfSetup(t)
	grant, err := b.sb.IssueGrant(Salesforce, u.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	lifetime := func() float64 {
		t.Helper()
		status, body, raw := b.refreshRaw(t, Salesforce, grant.RefreshToken, nil)
		if status != 200 {
			t.Fatalf("refresh: %d %s", status, raw)
		}
		if _, has := body["expires_in"]; has {
			t.Fatalf("a Salesforce refresh answer carries expires_in: %s", raw)
		}
		status, in, raw := b.postForm(t, b.base+"/salesforce/services/oauth2/introspect", url.Values{"token": {body["access_token"].(string)},
			"client_id": {DefaultSalesforceClientID}, "client_secret": {DefaultSalesforceClientSecret}}, "", "")
		if status != 200 || in["active"] != true {
			t.Fatalf("introspect: %d %s", status, raw)
		}
		return in["exp"].(float64) - in["iat"].(float64)
	}
	if got := lifetime(); got != (2 * time.Hour).Seconds() {
		t.Fatalf("default lifetime %vs, want 7200", got)
	}
	set := func(org, timeout string) int {
		resp, err := http.Post(b.base+"/admin/salesforce/orgs/"+org+"/session", "application/json", strings.NewReader(`{"timeout":"`+timeout+`"}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if s := set(orgID, "30m"); s != 200 {
		t.Fatalf("set 30m: %d", s)
	}
	if got := lifetime(); got != (30 * time.Minute).Seconds() {
		t.Fatalf("lifetime after the org's timeout was set to 30m: %vs", got)
	}
	if s := set(orgID, "5m"); s != 400 {
		t.Fatalf("set 5m: %d, want 400", s)
	}
	if s := set("00Dnope", "1h"); s != 404 {
		t.Fatalf("set on an unknown org: %d, want 404", s)
	}
}

// utcOffset is the zone's standard offset whatever the season, as Salesforce's fixture
// gives -28800000 for America/Los_Angeles: a zone in summer time north or south of the
// equator reports its winter offset.
func TestSalesforceUTCOffset(t *testing.T) {
	for zone, want := range map[string]int64{
		"America/Los_Angeles": -28800000, "Europe/Berlin": 3600000, "Asia/Tokyo": 32400000,
		"Australia/Sydney": 36000000, "Asia/Kolkata": 19800000, "UTC": 0,
	} {
		if got := sfUTCOffset(zone); got != want {
			t.Errorf("%s: %d, want %d", zone, got, want)
		}
	}
}
