package sfdc

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// tokenAuth is the seam the sandbox root fills in with its OAuth server: a token -> user map.
type tokenAuth struct {
	mu sync.Mutex
	m  map[string]string
}

func (a *tokenAuth) Authenticate(tok string) (string, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	id, ok := a.m[tok]
	return id, ok
}

func (a *tokenAuth) set(tok, userID string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.m[tok] = userID
}

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type testBundle struct {
	srv      *Server
	http     *httptest.Server
	base     string // instance URL (with the /salesforce mount prefix)
	auth     *tokenAuth
	clock    *fakeClock
	orgID    string
	teamID   string
	teamTok  string
	adminID  string
	adminTok string
}

// setup loads GenerateOrg(seed, n) behind an httptest server mounted like the sandbox
// root mounts it; "team-token" belongs to the team-level user.
func setup(t testing.TB, n int) *testBundle {
	t.Helper()
	tb := &testBundle{auth: &tokenAuth{m: map[string]string{}}, clock: &fakeClock{t: time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)}}
	tb.srv = New(Params{Auth: tb.auth, Clock: tb.clock.Now})
	spec := GenerateOrg(42, n)
	if err := tb.srv.LoadScenario(Scenario{Orgs: []OrgSpec{spec}}); err != nil {
		t.Fatalf("LoadScenario: %v", err)
	}
	tb.orgID = tb.srv.OrgIDs()[0]
	u, ok := tb.srv.UserByUsername(spec.Users[0].Username)
	if !ok {
		t.Fatal("team user not loaded")
	}
	tb.teamID, tb.teamTok = u.ID, "team-token"
	tb.auth.set(tb.teamTok, tb.teamID)
	mux := http.NewServeMux()
	mux.Handle("/salesforce/", http.StripPrefix("/salesforce", tb.srv))
	tb.http = httptest.NewServer(mux)
	t.Cleanup(tb.http.Close)
	tb.base = tb.http.URL + "/salesforce"
	return tb
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

func (tb *testBundle) do(t testing.TB, method, path, token string, body string, hdr ...string) response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, tb.base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

func (tb *testBundle) query(t testing.TB, token, soql string, hdr ...string) response {
	t.Helper()
	return tb.do(t, "GET", "/services/data/v62.0/query?q="+url.QueryEscape(soql), token, "", hdr...)
}

type restError struct {
	Message   string `json:"message"`
	ErrorCode string `json:"errorCode"`
}

// wantError asserts a Salesforce error array with the given status and code.
func wantError(t testing.TB, r response, status int, code string) restError {
	t.Helper()
	if r.status != status {
		t.Fatalf("status = %d, want %d; body %s", r.status, status, r.body)
	}
	var errs []restError
	r.json(t, &errs)
	if len(errs) != 1 || errs[0].ErrorCode != code || errs[0].Message == "" {
		t.Fatalf("errors = %+v, want one %s", errs, code)
	}
	return errs[0]
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
