package sandbox

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// testClock is a settable clock so expiry rules are tested without sleeping.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type bundle struct {
	sb    *Sandbox
	srv   *httptest.Server
	clock *testClock
	base  string
}

// setup starts a sandbox on an httptest server with a test clock; mod may adjust Options.
func setup(t *testing.T, mod func(*Options)) *bundle {
	t.Helper()
	clk := &testClock{t: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}
	o := Options{Clock: clk.Now}
	if mod != nil {
		mod(&o)
	}
	sb := New(o)
	srv := httptest.NewServer(sb)
	t.Cleanup(func() { sb.Close(); srv.Close() })
	return &bundle{sb: sb, srv: srv, clock: clk, base: srv.URL}
}

const redirectURL = "http://127.0.0.1:9/callback"

func (b *bundle) config(p Provider, scopes ...string) *oauth2.Config {
	id, secret := defaultCreds(p)
	return &oauth2.Config{ClientID: id, ClientSecret: secret, Endpoint: OAuth2Endpoint(b.base, p), RedirectURL: redirectURL, Scopes: scopes}
}

func defaultCreds(p Provider) (string, string) {
	switch p {
	case Salesforce:
		return DefaultSalesforceClientID, DefaultSalesforceClientSecret
	case Google:
		return DefaultGoogleClientID, DefaultGoogleClientSecret
	case Microsoft:
		return DefaultMicrosoftClientID, DefaultMicrosoftClientSecret
	default:
		return DefaultZoomClientID, DefaultZoomClientSecret
	}
}

func (b *bundle) ctx() context.Context {
	return context.WithValue(context.Background(), oauth2.HTTPClient, b.srv.Client())
}

// noRedirect is a client that returns the authorize redirect instead of following it.
func (b *bundle) noRedirect() *http.Client {
	c := *b.srv.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &c
}

// authorizeCode runs the authorize step with sandbox_auto=allow and returns the redirect's
// query (code, state, or error).
func (b *bundle) authorizeCode(t *testing.T, conf *oauth2.Config, opts ...oauth2.AuthCodeOption) url.Values {
	t.Helper()
	opts = append(opts, oauth2.SetAuthURLParam("sandbox_auto", "allow"))
	resp, err := b.noRedirect().Get(conf.AuthCodeURL("st4te", opts...))
	if err != nil {
		t.Fatalf("authorize: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("authorize: status %d, want 302; body %s", resp.StatusCode, body)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatalf("authorize: bad Location: %v", err)
	}
	if !strings.HasPrefix(loc.String(), redirectURL) {
		t.Fatalf("authorize redirected to %s, want %s", loc, redirectURL)
	}
	return loc.Query()
}

// postForm posts a token-endpoint style form and returns status and decoded JSON body.
func (b *bundle) postForm(t *testing.T, u string, form url.Values, basicID, basicSecret string) (int, map[string]any, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basicID != "" {
		req.SetBasicAuth(url.QueryEscape(basicID), url.QueryEscape(basicSecret))
	}
	resp, err := b.srv.Client().Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", u, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	return resp.StatusCode, m, raw
}

// get performs a GET with a bearer token and returns status, headers and body.
func (b *bundle) get(t *testing.T, path, token string) (int, http.Header, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, b.base+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := b.srv.Client().Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, raw
}

// refreshRaw posts a refresh_token grant with the provider's client authentication.
func (b *bundle) refreshRaw(t *testing.T, p Provider, rt string, extra url.Values) (int, map[string]any, []byte) {
	t.Helper()
	id, secret := defaultCreds(p)
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}
	for k, v := range extra {
		form[k] = v
	}
	if p == Zoom {
		return b.postForm(t, Endpoints(b.base, p).TokenURL, form, id, secret)
	}
	form.Set("client_id", id)
	form.Set("client_secret", secret)
	return b.postForm(t, Endpoints(b.base, p).TokenURL, form, "", "")
}

// fixture reads a recorded response from shared/reference/fixtures.
func fixture(t *testing.T, rel string) []byte {
	t.Helper()
	dir := filepath.Join("..", "..", "..", "shared", "reference", "fixtures")
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("fixtures directory %s not found (expected /work/shared/reference/fixtures next to the module): %v", dir, err)
	}
	b, err := os.ReadFile(filepath.Join(dir, rel))
	if err != nil {
		t.Fatalf("read fixture %s: %v", rel, err)
	}
	return b
}

func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "string"
	case float64:
		return "number"
	case bool:
		return "bool"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return "?"
}

// assertShape checks that got has every field of want, recursively, with the same JSON
// type (null in want accepts any type: the recorded value was simply absent).
func assertShape(t *testing.T, name string, want, got []byte) {
	t.Helper()
	var w, g any
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatalf("%s: fixture is not JSON: %v", name, err)
	}
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("%s: sandbox body is not JSON: %v\n%s", name, err, got)
	}
	compareShape(t, name, "$", w, g)
}

func compareShape(t testing.TB, name, path string, w, g any) {
	t.Helper()
	if w == nil {
		return
	}
	if jsonType(w) != jsonType(g) {
		t.Errorf("%s: %s is %s in the sandbox, %s in the recording", name, path, jsonType(g), jsonType(w))
		return
	}
	switch wv := w.(type) {
	case map[string]any:
		gv := g.(map[string]any)
		for k, v := range wv {
			x, ok := gv[k]
			if !ok {
				t.Errorf("%s: %s.%s missing from the sandbox body", name, path, k)
				continue
			}
			compareShape(t, name, path+"."+k, v, x)
		}
	case []any:
		// The recording's first element is the shape of every element the sandbox sends;
		// a recording with elements against an empty sandbox array is a missing shape,
		// not a pass. (An empty recording says nothing about element shape.)
		gv := g.([]any)
		if len(wv) == 0 {
			return
		}
		if len(gv) == 0 {
			t.Errorf("%s: %s is empty in the sandbox, has %d elements in the recording", name, path, len(wv))
			return
		}
		for i, x := range gv {
			compareShape(t, name, fmt.Sprintf("%s[%d]", path, i), wv[0], x)
		}
	}
}
