package sandbox

import (
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/oauth2"
)

var (
	formAction = regexp.MustCompile(`<form method="post" action="([^"]+)">`)
	hiddenRE   = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)
	checkRE    = regexp.MustCompile(`<input type="checkbox" name="grant_scope" value="([^"]+)" checked>`)
	loginRE    = regexp.MustCompile(`<input name="login" value="([^"]*)"`)
)

// consentForm fetches the consent page like a browser and returns the form's action URL,
// its fields and the scope checkboxes.
func (b *bundle) consentForm(t *testing.T, authURL string) (string, url.Values, []string) {
	t.Helper()
	resp, err := b.noRedirect().Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	page, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("consent page: %d %s", resp.StatusCode, page)
	}
	for _, want := range []string{`name="decision" value="allow">Allow</button>`, `name="decision" value="deny">Deny</button>`} {
		if !strings.Contains(string(page), want) {
			t.Fatalf("consent page lacks %s:\n%s", want, page)
		}
	}
	m := formAction.FindSubmatch(page)
	if m == nil {
		t.Fatalf("no form in consent page:\n%s", page)
	}
	fields := url.Values{}
	for _, h := range hiddenRE.FindAllSubmatch(page, -1) {
		fields.Add(html.UnescapeString(string(h[1])), html.UnescapeString(string(h[2])))
	}
	if l := loginRE.FindSubmatch(page); l != nil {
		fields.Set("login", html.UnescapeString(string(l[1])))
	}
	var scopes []string
	for _, c := range checkRE.FindAllSubmatch(page, -1) {
		scopes = append(scopes, html.UnescapeString(string(c[1])))
	}
	return b.base + html.UnescapeString(string(m[1])), fields, scopes
}

func (b *bundle) submit(t *testing.T, action string, fields url.Values) *http.Response {
	t.Helper()
	resp, err := b.noRedirect().PostForm(action, fields)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func TestConsentPageGoogleGranular(t *testing.T) {
	b := setup(t, nil)
	conf := b.config(Google, "openid", "email", googleScopePrefix+"calendar.events", googleScopePrefix+"calendar.calendarlist.readonly")
	action, fields, scopes := b.consentForm(t, conf.AuthCodeURL("xyz", oauth2.AccessTypeOffline))
	if len(scopes) != 4 || fields.Get("login") != "ada@example.com" || fields.Get("client_id") != DefaultGoogleClientID {
		t.Fatalf("form scopes %v fields %v", scopes, fields)
	}
	// The user unticks calendar.calendarlist.readonly.
	fields.Set("decision", "allow")
	fields.Set("consent_form", "1")
	for _, s := range scopes {
		if !strings.HasSuffix(s, "calendarlist.readonly") {
			fields.Add("grant_scope", s)
		}
	}
	resp := b.submit(t, action, fields)
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != 302 || loc.Query().Get("state") != "xyz" || loc.Query().Get("code") == "" {
		t.Fatalf("allow: %d %s", resp.StatusCode, loc)
	}
	tok, err := conf.Exchange(b.ctx(), loc.Query().Get("code"))
	if err != nil {
		t.Fatal(err)
	}
	scope := tok.Extra("scope").(string)
	if strings.Contains(scope, "calendarlist") || !strings.Contains(scope, "calendar.events") {
		t.Fatalf("granted %q: want calendar.events without calendarlist", scope)
	}
}

func TestConsentPageDenyAndUnknownLogin(t *testing.T) {
	b, _, u := sfSetup(t)
	conf := b.config(Salesforce, "api", "refresh_token")
	action, fields, _ := b.consentForm(t, conf.AuthCodeURL("s1"))
	fields.Set("login", "nobody@example.com")
	fields.Set("decision", "allow")
	resp, err := b.noRedirect().PostForm(action, fields)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(page), "Unknown account nobody@example.com") {
		t.Fatalf("unknown login: %d %s", resp.StatusCode, page)
	}
	fields.Set("login", u.Username)
	fields.Set("decision", "deny")
	resp = b.submit(t, action, fields)
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if loc.Query().Get("error") != "access_denied" || loc.Query().Get("state") != "s1" {
		t.Fatalf("deny: %s", loc)
	}
	fields.Set("decision", "allow")
	resp = b.submit(t, action, fields)
	loc, _ = url.Parse(resp.Header.Get("Location"))
	tok, err := conf.Exchange(b.ctx(), loc.Query().Get("code"))
	if err != nil || tok.Extra("id") == nil {
		t.Fatalf("exchange after consent: %v", err)
	}
}
