package sandboxtest

import (
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// Consent is what a person does on the sandbox's consent page.
type Consent struct {
	Login    string
	Decision string   // allow (default) or deny
	Untick   []string // Google scopes to leave unticked
}

var (
	formAction    = regexp.MustCompile(`<form method="post" action="([^"]*)">`)
	hiddenInput   = regexp.MustCompile(`<input type="hidden" name="([^"]*)" value="([^"]*)">`)
	consentScopes = regexp.MustCompile(`name="grant_scope" value="([^"]*)"`)
)

// Browser is an HTTP client with a cookie jar, as a person's browser.
func Browser(tb testing.TB) *http.Client {
	tb.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		tb.Fatal(err)
	}
	return &http.Client{Jar: jar, Timeout: 10 * time.Second}
}

// Follow opens a connect link in c, presses the page's button, and on the sandbox's
// consent page (served at sandboxURL) does what cs says, as a person would. It returns
// the final status and page, and the authorize URL seen (nil when the flow stopped before
// the provider).
func Follow(tb testing.TB, c *http.Client, sandboxURL, linkURL string, cs Consent) (int, string, *url.URL) {
	tb.Helper()
	resp, err := c.Get(linkURL)
	if err != nil {
		tb.Fatal(err)
	}
	page := read(tb, resp)
	m := formAction.FindStringSubmatch(page)
	if resp.StatusCode != http.StatusOK || m == nil {
		return resp.StatusCode, page, nil
	}
	action, err := resp.Request.URL.Parse(html.UnescapeString(m[1]))
	if err != nil {
		tb.Fatal(err)
	}
	if resp, err = c.PostForm(action.String(), nil); err != nil {
		tb.Fatal(err)
	}
	page = read(tb, resp)
	authz := resp.Request.URL
	if !strings.HasPrefix(authz.String(), sandboxURL) {
		return resp.StatusCode, page, nil
	}
	decision := cs.Decision
	if decision == "" {
		decision = "allow"
	}
	form := url.Values{"login": {cs.Login}, "decision": {decision}}
	for _, h := range hiddenInput.FindAllStringSubmatch(page, -1) {
		form.Add(html.UnescapeString(h[1]), html.UnescapeString(h[2]))
	}
	if strings.Contains(page, `name="consent_form"`) {
		form.Set("consent_form", "1")
		for _, s := range consentScopes.FindAllStringSubmatch(page, -1) {
			if !slices.Contains(cs.Untick, html.UnescapeString(s[1])) {
				form.Add("grant_scope", html.UnescapeString(s[1]))
			}
		}
	}
	if resp, err = c.PostForm(authz.String(), form); err != nil {
		tb.Fatal(err)
	}
	return resp.StatusCode, read(tb, resp), authz
}

func read(tb testing.TB, resp *http.Response) string {
	tb.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}
