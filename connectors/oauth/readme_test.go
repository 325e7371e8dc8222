package oauth_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"tether/connectors/oauth"
	"tether/connectors/sandbox"
	"tether/sync/connections"
)

// tableRow is one row of the README's classification table.
type tableRow struct {
	line                                         int
	providers                                    []string
	on, status, code, subCode, class, who, retry string
	sandbox                                      string
}

func readTable(t *testing.T) []tableRow {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	start := strings.Index(text, "<!-- classification-table:begin -->")
	end := strings.Index(text, "<!-- classification-table:end -->")
	if start < 0 || end < start {
		t.Fatal("README.md: classification table markers not found")
	}
	firstLine := strings.Count(text[:start], "\n") + 1
	var rows []tableRow
	for i, line := range strings.Split(text[start:end], "\n") {
		if !strings.HasPrefix(line, "| ") || strings.HasPrefix(line, "| provider") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		if len(cells) != 10 {
			t.Fatalf("README.md:%d: %d cells, want 10: %s", firstLine+i, len(cells), line)
		}
		c := make([]string, len(cells))
		for j, v := range cells {
			c[j] = strings.TrimSpace(strings.ReplaceAll(v, "`", ""))
			if c[j] == "—" {
				c[j] = ""
			}
		}
		r := tableRow{line: firstLine + i, on: c[1], status: c[2], code: c[3], subCode: c[4], class: c[6], who: c[7], retry: c[8], sandbox: c[9]}
		for _, p := range strings.Split(c[0], ",") {
			r.providers = append(r.providers, strings.TrimSpace(p))
		}
		rows = append(rows, r)
	}
	if len(rows) == 0 {
		t.Fatal("README.md: the classification table has no rows")
	}
	return rows
}

// The README's classification table is what the code does: every row is produced by the
// sandbox over its admin HTTP API, classified end to end (sandbox → tether's OAuth client
// or APIFailure → *connections.Failure) and compared; every sandbox answer has a row.
func TestClassificationTableMatchesREADME(t *testing.T) {
	t.Parallel()
	rows := readTable(t)
	b := setup(t, setupOpts{timeout: 2 * time.Second})
	for _, r := range rows {
		for _, p := range r.providers {
			name := fmt.Sprintf("README.md:%d %s %s %s", r.line, p, r.on, r.sandbox)
			t.Run(name, func(t *testing.T) {
				f := produce(t, b, r, p)
				checkRow(t, r, f)
			})
		}
	}
	// Every answer the sandbox knows is documented, with its place and status.
	var answers []sandbox.Answer
	adminJSON(t, b.url, http.MethodGet, "/admin/answers", nil, &answers)
	if len(answers) != len(sandbox.Answers()) {
		t.Fatalf("GET /admin/answers: %d answers, the package has %d", len(answers), len(sandbox.Answers()))
	}
	for _, a := range answers {
		found := false
		for _, r := range rows {
			if r.sandbox == "answer "+a.Name && slices.Contains(r.providers, string(a.Provider)) {
				found = true
				if r.on != a.On || r.status != strconv.Itoa(a.Status) {
					t.Errorf("README.md:%d: %s answer %s is on %s with status %d, the row says %s %s", r.line, a.Provider, a.Name, a.On, a.Status, r.on, r.status)
				}
			}
		}
		if !found {
			t.Errorf("README.md: no row for the sandbox's %s answer %q (%s)", a.Provider, a.Name, a.Means)
		}
	}
}

func checkRow(t *testing.T, r tableRow, f *connections.Failure) {
	t.Helper()
	if f == nil {
		t.Fatalf("README.md:%d: the call succeeded", r.line)
	}
	if string(f.Class) != r.class {
		t.Errorf("class %s, README says %s (%+v)", f.Class, r.class, f)
	}
	if string(f.Class.Actor()) != r.who {
		t.Errorf("who acts %q, README says %q", f.Class.Actor(), r.who)
	}
	if want := r.status; want != "" && strconv.Itoa(f.Status) != want {
		t.Errorf("status %d, README says %s", f.Status, want)
	} else if want == "" && f.Status != 0 {
		t.Errorf("status %d, README says none", f.Status)
	}
	if r.code != "any" && f.Code != r.code {
		t.Errorf("code %q, README says %q", f.Code, r.code)
	}
	if r.subCode != "any" && f.SubCode != r.subCode {
		t.Errorf("sub-code %q, README says %q", f.SubCode, r.subCode)
	}
	ok := false
	switch r.retry {
	case "no":
		ok = !f.Class.Retried() && !f.Intermittent
	case "once, then no":
		ok = !f.Class.Retried() && f.Intermittent
	case "backoff":
		ok = f.Class.Retried() && f.RetryAfter == 0 && !f.OutcomeUnknown
	case "Retry-After":
		ok = f.Class.Retried() && f.RetryAfter > 0
	case "backoff, outcome unknown":
		ok = f.Class.Retried() && f.OutcomeUnknown
	default:
		t.Fatalf("README.md:%d: unknown retry %q", r.line, r.retry)
	}
	if !ok {
		t.Errorf("retry: README says %q; got retried=%t retry-after=%s intermittent=%t outcome-unknown=%t",
			r.retry, f.Class.Retried(), f.RetryAfter, f.Intermittent, f.OutcomeUnknown)
	}
	if f.Reason == "" {
		t.Errorf("no reason for whoever acts: %+v", f)
	}
}

// produce makes the sandbox give the row's answer for provider p, over its admin HTTP API,
// and returns tether's classification of it.
func produce(t *testing.T, b *testBundle, r tableRow, p string) *connections.Failure {
	t.Helper()
	t.Cleanup(func() { adminJSON(t, b.url, http.MethodDelete, "/admin/faults", nil, nil) })
	subject := ""
	if p == "salesforce" {
		subject = b.sfUser
	}
	var g sandbox.Tokens
	adminJSON(t, b.url, http.MethodPost, "/admin/grants", map[string]string{"provider": p, "subject": subject}, &g)
	endpoint := "token"
	if r.on == onAPI {
		endpoint = apiEndpoint[p]
	}
	fault := func(f map[string]any) {
		f["provider"], f["endpoint"] = p, endpoint
		adminJSON(t, b.url, http.MethodPost, "/admin/faults", f, nil)
	}
	kind, arg, _ := strings.Cut(r.sandbox, " ")
	switch kind {
	case "answer":
		fault(map[string]any{"kind": "answer", "answer": arg, "count": 2})
		// The raw answer first: the provider's status and envelope.
		status, _, body := call(t, b, r.on, p, g)
		if strconv.Itoa(status) != r.status {
			t.Fatalf("raw answer %s: status %d, want %s", arg, status, r.status)
		}
		checkShape(t, p, r.on, body)
	case "status":
		n, _ := strconv.Atoi(arg)
		fault(map[string]any{"kind": "status", "status": n, "count": 1})
	case "drop":
		fault(map[string]any{"kind": "drop", "count": 1})
	case "user":
		var gi sandbox.GrantInfo
		adminJSON(t, b.url, http.MethodGet, "/admin/grants/"+g.GrantID, nil, &gi)
		path := "/admin/users/" + p + "/" + url.PathEscape(gi.Subject) + "/active"
		adminJSON(t, b.url, http.MethodPost, path, map[string]bool{"active": false}, nil)
		t.Cleanup(func() { adminJSON(t, b.url, http.MethodPost, path, map[string]bool{"active": true}, nil) })
	case "grant":
		adminJSON(t, b.url, http.MethodPost, "/admin/grants/"+g.GrantID+"/revoke", nil, nil)
	case "org":
		path := "/admin/salesforce/orgs/" + g.OrgID + "/usage"
		var before map[string]int
		adminJSON(t, b.url, http.MethodPost, path, map[string]int{}, &before)
		adminJSON(t, b.url, http.MethodPost, path, map[string]int{"daily_max": 100, "used": 100}, nil)
		t.Cleanup(func() { adminJSON(t, b.url, http.MethodPost, path, before, nil) })
	case "html":
		return proxyPage(t, b, r, p, g)
	default:
		t.Fatalf("README.md:%d: unknown sandbox column %q", r.line, r.sandbox)
	}
	if r.on == onAPI {
		status, h, body := call(t, b, r.on, p, g)
		if status == http.StatusOK {
			return nil
		}
		return oauth.APIFailure(p, "verify", status, h, body, b.now)
	}
	_, err := b.client.Refresh(context.Background(), p, g.RefreshToken)
	f := oauth.FailureOf(p, "refresh", err)
	if f != nil && strings.Contains(f.Error()+f.Detail+f.Reason, g.RefreshToken) {
		t.Fatalf("the refresh token is in the failure: %+v", f)
	}
	return f
}

const onAPI = "api"

// apiEndpoint is the API call each provider's api rows make (the sandbox's endpoint name).
var apiEndpoint = map[string]string{"salesforce": "query", "google": "calendarList", "microsoft": "me", "zoom": "me"}

func call(t *testing.T, b *testBundle, on, p string, g sandbox.Tokens) (int, http.Header, []byte) {
	t.Helper()
	var req *http.Request
	if on == onAPI {
		u := map[string]string{
			"salesforce": "/salesforce/services/data/v62.0/query?q=SELECT+Id+FROM+User+LIMIT+1",
			"google":     "/google/calendar/v3/users/me/calendarList",
			"microsoft":  "/microsoft/v1.0/me",
			"zoom":       "/zoom/v2/users/me",
		}[p]
		req, _ = http.NewRequest(http.MethodGet, b.url+u, nil)
		req.Header.Set("Authorization", "Bearer "+g.AccessToken)
	} else {
		prov, _ := b.client.Provider(p)
		form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {g.RefreshToken}}
		if p != "zoom" { // Zoom takes client credentials only as HTTP Basic
			form.Set("client_id", prov.ClientID)
			form.Set("client_secret", prov.ClientSecret)
		}
		req, _ = http.NewRequest(http.MethodPost, prov.TokenURL, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if p == "zoom" {
			req.SetBasicAuth(prov.ClientID, prov.ClientSecret)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, body
}

// checkShape checks the provider's error envelope (oauth.md §2-§4, salesforce.md §3.2, §3.5).
func checkShape(t *testing.T, p, on string, body []byte) {
	t.Helper()
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("%s %s answer is not JSON: %s", p, on, body)
	}
	has := func(m any, keys ...string) {
		t.Helper()
		o, ok := m.(map[string]any)
		if !ok {
			t.Fatalf("%s %s answer: want an object, got %s", p, on, body)
		}
		for _, k := range keys {
			if _, ok := o[k]; !ok {
				t.Errorf("%s %s answer lacks %q: %s", p, on, k, body)
			}
		}
	}
	switch {
	case on == "token" && p == "microsoft":
		has(v, "error", "error_description", "error_codes", "timestamp", "trace_id", "correlation_id", "error_uri")
	case on == "token" && p == "zoom":
		has(v, "reason", "error")
	case on == "token":
		has(v, "error", "error_description")
	case p == "salesforce":
		items, ok := v.([]any)
		if !ok || len(items) != 1 {
			t.Fatalf("salesforce API answer: want a one-element array, got %s", body)
		}
		has(items[0], "message", "errorCode")
	case p == "google":
		has(v, "error")
		has(v.(map[string]any)["error"], "code", "message", "errors")
	case p == "microsoft":
		has(v, "error")
		has(v.(map[string]any)["error"], "code", "message", "innerError")
	case p == "zoom":
		has(v, "code", "message")
	}
}

// proxyPage: a proxy in front of the provider answers an HTML page. The sandbox gives only
// recorded provider answers, so the page comes from a server of the test's own.
func proxyPage(t *testing.T, b *testBundle, r tableRow, p string, g sandbox.Tokens) *connections.Failure {
	t.Helper()
	status, _ := strconv.Atoi(r.status)
	page := "<html><body><h1>Forbidden</h1><p>Request blocked by the proxy.</p></body></html>"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, page)
	}))
	t.Cleanup(srv.Close)
	if r.on == onAPI {
		return oauth.APIFailure(p, "verify", status, http.Header{}, []byte(page), b.now)
	}
	prov, _ := b.client.Provider(p)
	prov.TokenURL = srv.URL
	_, err := b.client.RefreshWith(context.Background(), prov, g.RefreshToken)
	return oauth.FailureOf(p, "refresh", err)
}

func adminJSON(t *testing.T, base, method, path string, in, out any) {
	t.Helper()
	var body io.Reader
	if in != nil {
		raw, _ := json.Marshal(in)
		body = bytes.NewReader(raw)
	}
	req, _ := http.NewRequest(method, base+path, body)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, raw)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
	}
}

// A grant given Microsoft's intermittent answer once: the confirming retry works.
func TestIntermittentAnswerThenConfirmingRetry(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	var g sandbox.Tokens
	adminJSON(t, b.url, http.MethodPost, "/admin/grants", map[string]string{"provider": "microsoft"}, &g)
	adminJSON(t, b.url, http.MethodPost, "/admin/grants/"+g.GrantID+"/answer", map[string]any{"answer": "intermittent", "count": 1}, nil)
	_, err := b.client.Refresh(context.Background(), "microsoft", g.RefreshToken)
	f := oauth.FailureOf("microsoft", "refresh", err)
	if f == nil || !f.Intermittent || f.Class != connections.FailNeedsReconnect || f.SubCode != "70000" {
		t.Fatalf("first refresh: %+v", f)
	}
	if _, err := b.client.Refresh(context.Background(), "microsoft", g.RefreshToken); err != nil {
		t.Fatalf("confirming retry: %v", err)
	}
	// A sticky answer (count 0) stays until cleared; answers are the grant's provider's.
	adminJSON(t, b.url, http.MethodPost, "/admin/grants/"+g.GrantID+"/answer", map[string]any{"answer": "mfa_required"}, nil)
	for range 2 {
		_, err = b.client.Refresh(context.Background(), "microsoft", g.RefreshToken)
		if f := oauth.FailureOf("microsoft", "refresh", err); f == nil || f.SubCode != "50076" {
			t.Fatalf("sticky answer: %+v", f)
		}
	}
	adminJSON(t, b.url, http.MethodPost, "/admin/grants/"+g.GrantID+"/answer", map[string]any{"answer": ""}, nil)
	if _, err := b.client.Refresh(context.Background(), "microsoft", g.RefreshToken); err != nil {
		t.Fatalf("after clearing: %v", err)
	}
	for _, bad := range []map[string]any{{"answer": "quota_exceeded"}, {"answer": "no_such"}, {"answer": "mfa_required", "count": -1}} {
		raw, _ := json.Marshal(bad)
		resp, err := http.Post(b.url+"/admin/grants/"+g.GrantID+"/answer", "application/json", bytes.NewReader(raw))
		if err != nil {
			t.Fatal(err)
		}
		msg, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(msg), "error") {
			t.Errorf("%v: %d %s, want 400 with the reason", bad, resp.StatusCode, msg)
		}
	}
}

// A status fault is one with a body per provider; others are refused with the way to the
// named answers, and an answer must exist for its provider.
func TestFaultsRefuseInventedAnswers(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	for _, f := range []map[string]any{
		{"provider": "google", "kind": "status", "status": 403},
		{"provider": "microsoft", "kind": "status", "status": 401},
		{"provider": "zoom", "kind": "answer", "answer": "mfa_required"},
		{"kind": "answer", "answer": "throttled"},
		{"provider": "microsoft", "kind": "answer", "answer": "throttled", "status": 503},
	} {
		raw, _ := json.Marshal(f)
		resp, err := http.Post(b.url+"/admin/faults", "application/json", bytes.NewReader(raw))
		if err != nil {
			t.Fatal(err)
		}
		msg, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%v accepted: %d %s", f, resp.StatusCode, msg)
		}
	}
	var list []sandbox.Fault
	adminJSON(t, b.url, http.MethodGet, "/admin/faults", nil, &list)
	if len(list) != 0 {
		t.Fatalf("refused faults were added: %+v", list)
	}
}

// An API answer given to one grant: that user's calls get it, another grant's do not.
func TestGrantAPIAnswer(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	var hit, other sandbox.Tokens
	calendar := map[string]any{"provider": "google", "scopes": []string{"openid", "email", "https://www.googleapis.com/auth/calendar"}}
	adminJSON(t, b.url, http.MethodPost, "/admin/grants", calendar, &hit)
	adminJSON(t, b.url, http.MethodPost, "/admin/grants", calendar, &other)
	adminJSON(t, b.url, http.MethodPost, "/admin/grants/"+hit.GrantID+"/answer", map[string]any{"answer": "quota_exceeded"}, nil)
	for range 2 {
		status, h, body := call(t, b, onAPI, "google", hit)
		f := oauth.APIFailure("google", "verify", status, h, body, b.now)
		if status != http.StatusForbidden || f.Class != connections.FailRateLimited || f.Code != "quotaExceeded" {
			t.Fatalf("the answered grant: %d %s (%+v)", status, body, f)
		}
		if status, _, body := call(t, b, onAPI, "google", other); status != http.StatusOK {
			t.Fatalf("another grant: %d %s", status, body)
		}
	}
	adminJSON(t, b.url, http.MethodPost, "/admin/grants/"+hit.GrantID+"/answer", map[string]any{"answer": ""}, nil)
	if status, _, body := call(t, b, onAPI, "google", hit); status != http.StatusOK {
		t.Fatalf("after clearing: %d %s", status, body)
	}
	// Counted down: Graph throttling for the next call of one mailbox only.
	var ms sandbox.Tokens
	adminJSON(t, b.url, http.MethodPost, "/admin/grants", map[string]any{"provider": "microsoft", "scopes": []string{"openid", "offline_access", "User.Read"}}, &ms)
	adminJSON(t, b.url, http.MethodPost, "/admin/grants/"+ms.GrantID+"/answer", map[string]any{"answer": "throttled", "count": 1}, nil)
	status, h, body := call(t, b, onAPI, "microsoft", ms)
	if f := oauth.APIFailure("microsoft", "verify", status, h, body, b.now); status != 429 || f.Class != connections.FailRateLimited || f.RetryAfter != time.Second {
		t.Fatalf("throttled once: %d %+v", status, f)
	}
	if status, _, body := call(t, b, onAPI, "microsoft", ms); status != http.StatusOK {
		t.Fatalf("second call: %d %s", status, body)
	}
}
