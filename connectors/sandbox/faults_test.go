package sandbox

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"google.golang.org/api/calendar/v3"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/option"

	"tether/connectors/sandbox/sfdc"
)

func TestFaultStatusNextN(t *testing.T) {
	b := setup(t, nil)
	tok, _ := b.sb.IssueGrant(Google, "", []string{"openid"})
	b.sb.Faults().MustAdd(Fault{Provider: Google, Endpoint: "token", Kind: FaultStatus, Status: 429, Count: 2, RetryAfter: "7"})
	conf := b.config(Google)
	for i := range 2 {
		_, err := conf.TokenSource(b.ctx(), &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
		re := retrieveErr(t, err)
		if re.Response.StatusCode != 429 || re.Response.Header.Get("Retry-After") != "7" || re.ErrorCode != "rate_limit_exceeded" {
			t.Fatalf("call %d: %d Retry-After %q %s", i, re.Response.StatusCode, re.Response.Header.Get("Retry-After"), re.Body)
		}
	}
	if _, err := conf.TokenSource(b.ctx(), &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); err != nil {
		t.Fatalf("third call after a 2-shot fault: %v", err)
	}
	if n := len(b.sb.Faults().List()); n != 0 {
		t.Fatalf("%d faults left after they were used up", n)
	}
	ep := b.sb.Counters().Endpoint(Google, "token")
	if ep.Calls != 3 || ep.Faults != 2 || ep.Client != 2 || ep.OK != 1 {
		t.Fatalf("token counters %+v", ep)
	}
	if g := b.sb.Counters().Grants[tok.GrantID]; g.Refreshes != 1 {
		t.Fatalf("refreshes %d, want 1 (faulted calls never reached the grant)", g.Refreshes)
	}
}

func TestFaultBodiesPerProvider(t *testing.T) {
	b, orgID, u := sfSetup(t)
	_ = orgID
	g, _ := b.sb.IssueGrant(Google, "", []string{googleScopePrefix + "calendar.readonly"})
	m, _ := b.sb.IssueGrant(Microsoft, "", []string{"offline_access", "User.Read"})
	z, _ := b.sb.IssueGrant(Zoom, "", nil)
	sf, _ := b.sb.IssueGrant(Salesforce, u.ID, nil)
	f := b.sb.Faults()

	// Google API 500 surfaces as *googleapi.Error.
	f.MustAdd(Fault{Provider: Google, Endpoint: "calendarList", Kind: FaultStatus, Status: 500, Count: 1})
	svc, _ := calendar.NewService(b.ctx(), option.WithEndpoint(b.base+"/google/calendar/v3/"),
		option.WithHTTPClient(oauth2.NewClient(b.ctx(), oauth2.StaticTokenSource(&oauth2.Token{AccessToken: g.AccessToken}))))
	_, err := svc.CalendarList.List().Do()
	var ge *googleapi.Error
	if !errors.As(err, &ge) || ge.Code != 500 || ge.Errors[0].Reason != "backendError" {
		t.Fatalf("calendar 500: %v", err)
	}
	// Microsoft token endpoint 503: AADSTS90033 temporarily_unavailable with Retry-After.
	f.MustAdd(Fault{Provider: Microsoft, Endpoint: "token", Kind: FaultStatus, Status: 503, Count: 1})
	status, body, raw := b.refreshRaw(t, Microsoft, m.RefreshToken, nil)
	if status != 503 || body["error"] != "temporarily_unavailable" || body["error_codes"].([]any)[0] != float64(90033) {
		t.Fatalf("Microsoft 503: %d %s", status, raw)
	}
	// Graph 429.
	f.MustAdd(Fault{Provider: Microsoft, Endpoint: "me", Kind: FaultStatus, Status: 429, Count: 1})
	st, h, raw := b.get(t, "/microsoft/v1.0/me", m.AccessToken)
	if st != 429 || h.Get("Retry-After") != "1" || !strings.Contains(string(raw), `"code":"TooManyRequests"`) {
		t.Fatalf("Graph 429: %d %v %s", st, h, raw)
	}
	// Zoom API 429 in Zoom's shape (recorded body).
	f.MustAdd(Fault{Provider: Zoom, Endpoint: "me", Kind: FaultStatus, Status: 429, Count: 1})
	st, _, raw = b.get(t, "/zoom/v2/users/me", z.AccessToken)
	if st != 429 {
		t.Fatalf("Zoom 429: %d", st)
	}
	assertShape(t, "zoom 429", fixture(t, "oauth/zoom_api_429_concurrent_requests.docs.json"), raw)
	// Salesforce REST 503 is an error array.
	f.MustAdd(Fault{Provider: Salesforce, Endpoint: "query", Kind: FaultStatus, Status: 503, Count: 1})
	st, _, raw = b.get(t, "/salesforce/services/data/v62.0/query?q=SELECT+Id+FROM+User", sf.AccessToken)
	if st != 503 || !strings.HasPrefix(string(raw), `[{"message":`) || !strings.Contains(string(raw), "SERVER_UNAVAILABLE") {
		t.Fatalf("Salesforce 503: %d %s", st, raw)
	}
	// A fault for one provider leaves the others alone.
	f.MustAdd(Fault{Provider: Zoom, Kind: FaultStatus, Status: 500})
	if st, _, _ := b.get(t, "/microsoft/v1.0/me", m.AccessToken); st != 200 {
		t.Fatalf("Graph while Zoom is failing: %d", st)
	}
	if st, _, _ := b.get(t, "/zoom/v2/users/me", z.AccessToken); st != 500 {
		t.Fatalf("Zoom with an unlimited 500 fault: %d", st)
	}
}

func TestFaultShare(t *testing.T) {
	b := setup(t, func(o *Options) { o.Rand = rand.New(rand.NewPCG(1, 2)) })
	z, _ := b.sb.IssueGrant(Zoom, "", nil)
	b.sb.Faults().MustAdd(Fault{Provider: Zoom, Endpoint: "me", Kind: FaultStatus, Status: 503, Share: 0.3})
	failed := 0
	for range 500 {
		req := httptest.NewRequest(http.MethodGet, "/zoom/v2/users/me", nil)
		req.Header.Set("Authorization", "Bearer "+z.AccessToken)
		rec := httptest.NewRecorder()
		b.sb.ServeHTTP(rec, req)
		if rec.Code == 503 {
			failed++
		} else if rec.Code != 200 {
			t.Fatalf("unexpected status %d", rec.Code)
		}
	}
	if failed < 110 || failed > 190 {
		t.Fatalf("%d of 500 calls failed with share 0.3", failed)
	}
	if fl := b.sb.Faults().List(); len(fl) != 1 || fl[0].Fired != int64(failed) {
		t.Fatalf("fault list %+v, want fired=%d", fl, failed)
	}
}

func TestFaultHangPastDeadline(t *testing.T) {
	b := setup(t, nil)
	tok, _ := b.sb.IssueGrant(Google, "", []string{"openid"})
	b.sb.Faults().MustAdd(Fault{Provider: Google, Endpoint: "token", Kind: FaultHang, Count: 1})
	client := &http.Client{Timeout: 150 * time.Millisecond}
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, client)
	start := time.Now()
	_, err := b.config(Google).TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("hung refresh: %v, want a client timeout", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatalf("hang lasted %v", time.Since(start))
	}
	// Close releases a hang whose client has no deadline.
	b.sb.Faults().MustAdd(Fault{Provider: Google, Endpoint: "token", Kind: FaultHang, Count: 1})
	done := make(chan error, 1)
	go func() {
		_, err := b.config(Google).TokenSource(b.ctx(), &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
		done <- err
	}()
	deadline := time.After(5 * time.Second)
	for b.sb.Counters().Endpoint(Google, "token").Faults < 2 {
		select {
		case <-deadline:
			t.Fatal("second hang never started")
		case <-time.After(5 * time.Millisecond):
		}
	}
	b.sb.Close()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("hung request succeeded after Close; want a dropped connection")
		}
	case <-deadline:
		t.Fatal("Close did not release the hung request")
	}
}

func TestFaultDropConnection(t *testing.T) {
	b := setup(t, nil)
	m, _ := b.sb.IssueGrant(Microsoft, "", []string{"User.Read"})
	b.sb.Faults().MustAdd(Fault{Provider: Microsoft, Endpoint: "me", Kind: FaultDrop, Count: 1})
	req, _ := http.NewRequest(http.MethodGet, b.base+"/microsoft/v1.0/me", nil)
	req.Header.Set("Authorization", "Bearer "+m.AccessToken)
	resp, err := b.srv.Client().Do(req)
	if err == nil {
		resp.Body.Close()
		t.Fatalf("dropped request got status %d", resp.StatusCode)
	}
	if !errors.Is(err, io.EOF) && !strings.Contains(err.Error(), "EOF") && !strings.Contains(err.Error(), "reset") {
		t.Fatalf("drop: %v, want EOF or reset", err)
	}
	if st, _, _ := b.get(t, "/microsoft/v1.0/me", m.AccessToken); st != 200 {
		t.Fatalf("next call after a one-shot drop: %d", st)
	}
}

func TestFaultLatency(t *testing.T) {
	var mu sync.Mutex
	var slept []time.Duration
	b := setup(t, func(o *Options) {
		o.Rand = rand.New(rand.NewPCG(3, 4))
		o.Sleep = func(_ context.Context, d time.Duration) error {
			mu.Lock()
			slept = append(slept, d)
			mu.Unlock()
			return nil
		}
	})
	z, _ := b.sb.IssueGrant(Zoom, "", nil)
	b.sb.Faults().MustAdd(Fault{Provider: Zoom, Endpoint: "me", Kind: FaultLatency, Latency: Fixed(250 * time.Millisecond), Count: 1})
	b.sb.Faults().MustAdd(Fault{Provider: Zoom, Endpoint: "token", Kind: FaultLatency,
		Latency: &LatencyDist{Dist: "uniform", Min: Duration(10 * time.Millisecond), Max: Duration(20 * time.Millisecond)}})
	if st, _, _ := b.get(t, "/zoom/v2/users/me", z.AccessToken); st != 200 {
		t.Fatalf("latency fault changed the answer: %d", st)
	}
	rt := z.RefreshToken
	for range 20 {
		st, body, raw := b.refreshRaw(t, Zoom, rt, nil)
		if st != 200 {
			t.Fatalf("refresh under latency: %d %s", st, raw)
		}
		rt = body["refresh_token"].(string)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(slept) != 21 || slept[0] != 250*time.Millisecond {
		t.Fatalf("slept %v: want 250ms then 20 uniform samples", slept)
	}
	distinct := map[time.Duration]bool{}
	for _, d := range slept[1:] {
		if d < 10*time.Millisecond || d > 20*time.Millisecond {
			t.Fatalf("uniform sample %v outside [10ms,20ms]", d)
		}
		distinct[d] = true
	}
	if len(distinct) < 10 {
		t.Fatalf("only %d distinct samples of 20", len(distinct))
	}
	if _, err := b.sb.Faults().Add(Fault{Kind: FaultLatency, Latency: &LatencyDist{Dist: "pareto"}}); err == nil {
		t.Fatal("unknown distribution accepted")
	}
	if _, err := b.sb.Faults().Add(Fault{Kind: FaultStatus, Status: 200}); err == nil {
		t.Fatal("status fault with 200 accepted")
	}
}

func TestLatencyDistributions(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	n := &LatencyDist{Dist: "normal", Mean: Duration(100 * time.Millisecond), StdDev: Duration(10 * time.Millisecond)}
	e := &LatencyDist{Dist: "exponential", Mean: Duration(50 * time.Millisecond)}
	var sn, se time.Duration
	for range 2000 {
		sn += n.sample(r)
		se += e.sample(r)
	}
	if m := sn / 2000; m < 95*time.Millisecond || m > 105*time.Millisecond {
		t.Fatalf("normal mean %v, want ~100ms", m)
	}
	if m := se / 2000; m < 45*time.Millisecond || m > 55*time.Millisecond {
		t.Fatalf("exponential mean %v, want ~50ms", m)
	}
}

func TestAdminAPI(t *testing.T) {
	b, orgID, u := sfSetup(t)
	call := func(method, path, body string) (int, []byte) {
		req, _ := http.NewRequest(method, b.base+path, strings.NewReader(body))
		resp, err := b.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, raw
	}
	st, raw := call("POST", "/admin/grants", `{"provider":"zoom","subject":"ada@example.com"}`)
	var tk Tokens
	if err := json.Unmarshal(raw, &tk); st != 200 || err != nil || tk.RefreshToken == "" {
		t.Fatalf("admin grant: %d %s", st, raw)
	}
	st, raw = call("POST", "/admin/faults", `{"provider":"zoom","endpoint":"token","kind":"status","status":503,"count":1}`)
	if st != 200 || !strings.Contains(string(raw), `"id":"f`) {
		t.Fatalf("admin fault: %d %s", st, raw)
	}
	if st, _, _ := b.refreshRaw(t, Zoom, tk.RefreshToken, nil); st != 503 {
		t.Fatalf("refresh under an admin fault: %d", st)
	}
	st, raw = call("GET", "/admin/counters", "")
	var c Counters
	if err := json.Unmarshal(raw, &c); st != 200 || err != nil || c.Endpoint(Zoom, "token").Faults != 1 {
		t.Fatalf("admin counters: %d %s", st, raw)
	}
	if st, raw := call("POST", "/admin/grants/"+tk.GrantID+"/scopes", `{"scopes":["user:read:user"]}`); st != 200 {
		t.Fatalf("scopes: %d %s", st, raw)
	}
	if _, body, _ := b.refreshRaw(t, Zoom, tk.RefreshToken, nil); body["scope"] != "user:read:user" {
		t.Fatalf("scope after admin change: %v", body["scope"])
	}
	if st, raw := call("POST", "/admin/grants/"+tk.GrantID+"/revoke", ""); st != 200 {
		t.Fatalf("revoke: %d %s", st, raw)
	}
	if st, _ := call("POST", "/admin/grants/nope/revoke", ""); st != 404 {
		t.Fatalf("revoke unknown grant: %d, want 404", st)
	}
	if st, raw := call("POST", "/admin/faults", `{"kind":"explode"}`); st != 400 || !strings.Contains(string(raw), "unknown kind") {
		t.Fatalf("bad fault: %d %s", st, raw)
	}
	if st, _ := call("POST", "/admin/faults", `{"kind":"drop","typo":1}`); st != 400 {
		t.Fatalf("unknown field accepted: %d", st)
	}
	// A fault on an endpoint the sandbox does not serve would never fire: refused, naming
	// it and the valid ones, and not stored.
	for _, c := range []struct{ body, want string }{
		{`{"provider":"zoom","endpoint":"tokens","kind":"drop"}`, `no endpoint \"tokens\" for zoom`},
		{`{"provider":"microsoft","endpoint":"revoke","kind":"drop"}`, `no endpoint \"revoke\" for microsoft`},
		{`{"endpoint":"nope","kind":"drop"}`, `no endpoint \"nope\" for any provider`},
	} {
		st, raw := call("POST", "/admin/faults", c.body)
		if st != 400 || !strings.Contains(string(raw), c.want) || !strings.Contains(string(raw), "authorize, ") {
			t.Fatalf("fault %s: %d %s, want 400 naming the endpoint and listing the valid ones", c.body, st, raw)
		}
	}
	if n := len(b.sb.Faults().List()); n != 0 {
		t.Fatalf("%d faults stored after the refusals, want 0", n)
	}
	// An org the sandbox does not hold: 404 with one sentence naming it, on every org route.
	for _, c := range []struct{ route, body string }{
		{"api", `{"enabled":false}`}, {"session", `{"timeout":"30m"}`}, {"usage", `{"used":1}`},
	} {
		st, raw := call("POST", "/admin/salesforce/orgs/00Dnope/"+c.route, c.body)
		if st != 404 || !strings.Contains(string(raw), `the sandbox has no Salesforce org \"00Dnope\"; its orgs are `+orgID) {
			t.Fatalf("%s of an unknown org: %d %s, want 404 naming it", c.route, st, raw)
		}
	}
	// Salesforce API switch through admin.
	sf, _ := b.sb.IssueGrant(Salesforce, u.ID, nil)
	if st, raw := call("POST", "/admin/salesforce/orgs/"+orgID+"/api", `{"enabled":false}`); st != 200 {
		t.Fatalf("api switch: %d %s", st, raw)
	}
	if st, _, _ := b.get(t, "/salesforce/services/data/v62.0/limits", sf.AccessToken); st != 403 {
		t.Fatalf("limits with API disabled: %d, want 403", st)
	}
	// A permission removed and given back over the admin API, as the demo's audit does.
	team := b.sb.Salesforce().Users(orgID)[0]
	for _, c := range []struct{ body, want string }{
		{`{"remove":"MarketingUser"}`, `"granted":false`},
		{`{"grant":"MarketingUser"}`, `"granted":true`},
	} {
		if st, raw := call("POST", "/admin/salesforce/users/"+team+"/permissions", c.body); st != 200 || !strings.Contains(string(raw), c.want) {
			t.Fatalf("permission %s: %d %s", c.body, st, raw)
		}
		if has, _ := b.sb.Salesforce().HasPermission(team, sfdc.PermMarketingUser); has != (c.want == `"granted":true`) {
			t.Fatalf("after %s the user's Marketing User is %t", c.body, has)
		}
	}
	for _, c := range []struct {
		user, body string
		status     int
		want       string // in the error, when set
	}{
		{"005000000000000AAA", `{"remove":"MarketingUser"}`, 404, ""},
		// A typo is refused with the names the sandbox takes.
		{team, `{"remove":"NoSuchPermission"}`, 400, `unknown permission \"NoSuchPermission\": use MarketingUser, a system permission (ApiEnabled, ApiUserOnly, ViewSetup, AllowViewEditConvertedLeads`},
		{team, `{"remove":"MarketingUser","grant":"ViewSetup"}`, 400, ""},
		{team, `{}`, 400, ""},
	} {
		if st, raw := call("POST", "/admin/salesforce/users/"+c.user+"/permissions", c.body); st != c.status || !strings.Contains(string(raw), c.want) {
			t.Fatalf("permission %s for %s: %d %s, want %d %s", c.body, c.user, st, raw, c.status, c.want)
		}
	}
	// Clock.
	before := b.sb.Now()
	if st, raw := call("POST", "/admin/clock/advance", `{"by":"48h"}`); st != 200 {
		t.Fatalf("advance: %d %s", st, raw)
	}
	if d := b.sb.Now().Sub(before); d != 48*time.Hour {
		t.Fatalf("clock moved %v, want 48h", d)
	}
	st, raw = call("POST", "/admin/scenario", `{"users":[{"provider":"google","id":"42","email":"new@example.com"}],"grants":[{"provider":"google","subject":"new@example.com","refresh_token":"fixed-rt"}]}`)
	if st != 200 {
		t.Fatalf("scenario: %d %s", st, raw)
	}
	if st, _, raw := b.refreshRaw(t, Google, "fixed-rt", url.Values{}); st != 200 {
		t.Fatalf("refresh with a scenario-fixed token: %d %s", st, raw)
	}
}
