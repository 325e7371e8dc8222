package oauth_test

import (
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"tether/connectors/oauth"
	"tether/connectors/sandbox"
)

// authorizeCode runs the sandbox's Salesforce consent with sandbox_auto=allow for the
// user id login and returns the code from the redirect.
func (b *testBundle) authorizeCode(t *testing.T, login, challenge, redirect string) string {
	t.Helper()
	u := oauth.AuthCodeURL(oauth.AuthCodeRequest{
		AuthURL: oauth.SalesforceAuthURL(b.url + "/salesforce"), ClientID: sandbox.DefaultSalesforceClientID,
		RedirectURI: redirect, Scopes: []string{"api", "refresh_token"}, State: "st-1",
		CodeChallenge: challenge, LoginHint: login,
	}) + "&sandbox_auto=allow"
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := hc.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || err != nil || !strings.HasPrefix(loc.String(), redirect) {
		t.Fatalf("authorize: status %d, location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if loc.Query().Get("state") != "st-1" || loc.Query().Get("code") == "" {
		t.Fatalf("redirect lacks state or code: %s", loc)
	}
	return loc.Query().Get("code")
}

func TestExchangeWithPKCE(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	const redirect = "http://tether.test/oauth/salesforce/callback"
	verifier := strings.Repeat("v", 50)
	sum := sha256.Sum256([]byte(verifier))
	challenge := base64.RawURLEncoding.EncodeToString(sum[:])

	code := b.authorizeCode(t, b.sfUser, challenge, redirect)
	ts, err := b.client.Exchange(t.Context(), "salesforce", code, verifier, redirect)
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	if ts.AccessToken == "" || ts.RefreshToken == "" || ts.InstanceURL == "" || !strings.HasSuffix(ts.ID, "/"+b.sfUser) {
		t.Fatalf("token set %v", ts)
	}

	// The code is single use; a wrong verifier is refused. Neither leaks into the error.
	_, err = b.client.Exchange(t.Context(), "salesforce", code, verifier, redirect)
	assertClass(t, err, oauth.ClassNeedsReconnect, code, verifier)
	code2 := b.authorizeCode(t, b.sfUser, challenge, redirect)
	_, err = b.client.Exchange(t.Context(), "salesforce", code2, strings.Repeat("w", 50), redirect)
	assertClass(t, err, oauth.ClassNeedsReconnect, code2)
}
