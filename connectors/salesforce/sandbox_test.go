package salesforce

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"tether/connectors/oauth"
	"tether/connectors/sandbox"
	"tether/connectors/sandbox/sandboxtest"
	"tether/connectors/sandbox/sfdc"
)

// testBundle is a sandbox org behind a real HTTP server and a Client logged
// in as the org's team integration user. Token and Refresh behave like the
// sync layer's: Refresh goes through connectors/oauth and keeps the result.
type testBundle struct {
	sb       *sandbox.Sandbox
	srv      *httptest.Server
	spec     sfdc.OrgSpec
	orgID    string
	teamID   string
	grant    sandbox.Tokens
	client   *Client
	oauth    *oauth.Client
	refreshN atomic.Int32

	mu      sync.Mutex
	access  string
	usage   []Usage
	maxURI  int
	queryN  int
	wrapper func(w http.ResponseWriter, r *http.Request) bool // fault injection around the sandbox
}

type setupOpts struct {
	users   int
	pager   Pager
	batch   int
	budget  int
	mutate  func(*sfdc.OrgSpec)
	refresh func(b *testBundle) func(context.Context) (Session, error) // replaces the oauth refresh
}

func setup(t testing.TB, o setupOpts) *testBundle {
	t.Helper()
	b := &testBundle{}
	b.spec = sfdc.GenerateOrg(42, o.users)
	if o.mutate != nil {
		o.mutate(&b.spec)
	}
	sf := sandboxtest.NewSalesforceOrg(t, b.spec)
	b.sb, b.orgID, b.teamID, b.grant = sf.Sandbox, sf.OrgID, sf.UserID, sf.Grant
	// Served again behind a wrapper that counts queries and can answer instead.
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.mu.Lock()
		if n := len(b.srv.URL) + len(r.RequestURI); strings.Contains(r.URL.Path, "/query") && n > b.maxURI {
			b.maxURI = n
		}
		if strings.Contains(r.URL.Path, "/query") {
			b.queryN++
		}
		wrap := b.wrapper
		b.mu.Unlock()
		if wrap != nil && wrap(w, r) {
			return
		}
		b.sb.ServeHTTP(w, r)
	}))
	t.Cleanup(b.srv.Close)
	var err error
	b.access = b.grant.AccessToken

	p := oauth.Salesforce(b.srv.URL + "/salesforce")
	p.ClientID, p.ClientSecret = sandbox.DefaultSalesforceClientID, sandbox.DefaultSalesforceClientSecret
	if b.oauth, err = oauth.New(oauth.Config{Providers: []oauth.Provider{p}}); err != nil {
		t.Fatal(err)
	}
	refresh := func(ctx context.Context) (Session, error) {
		b.refreshN.Add(1)
		ts, err := b.oauth.Refresh(ctx, "salesforce", b.grant.RefreshToken)
		if err != nil {
			return Session{}, err
		}
		b.mu.Lock()
		b.access = ts.AccessToken
		b.mu.Unlock()
		return Session{AccessToken: ts.AccessToken, InstanceURL: ts.InstanceURL}, nil
	}
	if o.refresh != nil {
		refresh = o.refresh(b)
	}
	b.client, err = New(Config{
		InstanceURL: b.srv.URL + "/salesforce",
		Token: func(context.Context) (string, error) {
			b.mu.Lock()
			defer b.mu.Unlock()
			return b.access, nil
		},
		Refresh: refresh,
		OnUsage: func(u Usage) {
			b.mu.Lock()
			b.usage = append(b.usage, u)
			b.mu.Unlock()
		},
		BatchSize: o.batch,
		URIBudget: o.budget,
		Pager:     o.pager,
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (b *testBundle) setWrapper(f func(w http.ResponseWriter, r *http.Request) bool) {
	b.mu.Lock()
	b.wrapper = f
	b.mu.Unlock()
}

func (b *testBundle) queryCalls() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.queryN
}

func (b *testBundle) lastUsage() (Usage, int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.usage) == 0 {
		return Usage{}, 0
	}
	return b.usage[len(b.usage)-1], len(b.usage)
}

var pagers = []struct {
	name  string
	pager Pager
}{{"simpleforce", PagerSimpleforce}, {"rest", PagerREST}}

type idRow struct {
	ID string `json:"Id"`
}

func TestQueryPages5000Users(t *testing.T) {
	t.Parallel()
	for _, p := range pagers {
		t.Run(p.name, func(t *testing.T) {
			t.Parallel()
			for _, batch := range []int{2000, 500} {
				b := setup(t, setupOpts{users: 5000, pager: p.pager, batch: batch})
				var sizes []int
				seen := map[string]bool{}
				err := Query(context.Background(), b.client, "SELECT Id FROM User ORDER BY Id", func(rows []idRow) error {
					sizes = append(sizes, len(rows))
					for _, r := range rows {
						seen[r.ID] = true
					}
					return nil
				})
				if err != nil {
					t.Fatalf("batch %d: %v", batch, err)
				}
				total := len(b.spec.Users)
				if len(seen) != total {
					t.Errorf("batch %d: %d distinct users, want %d", batch, len(seen), total)
				}
				wantPages := (total + batch - 1) / batch
				if len(sizes) != wantPages || sizes[0] != batch {
					t.Errorf("batch %d: pages %v, want %d pages of %d", batch, sizes, wantPages, batch)
				}
				if n := b.queryCalls(); n != wantPages {
					t.Errorf("batch %d: %d query calls, want %d", batch, n, wantPages)
				}
				u, n := b.lastUsage()
				used, max := b.sb.Salesforce().Usage(b.orgID)
				if n != wantPages || u.Used != used || u.Max != max || max == 0 {
					t.Errorf("batch %d: usage reports %d, last %+v; sandbox says %d/%d", batch, n, u, used, max)
				}
			}
		})
	}
}

// The import's path: resolve profiles by name, stream their active
// standard users, within ⌈N/2000⌉+2 calls.
func TestStreamUsersByProfile(t *testing.T) {
	t.Parallel()
	for _, p := range pagers {
		t.Run(p.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, setupOpts{users: 5000, pager: p.pager})
			names := []string{sfdc.ProfileStandardUser, "sales user", sfdc.ProfileChatterFree}
			profiles, err := b.client.ResolveProfiles(context.Background(), names)
			if err != nil {
				t.Fatal(err)
			}
			if len(profiles) != 3 || profiles[1].Name != sfdc.ProfileSalesUser || profiles[2].UserType != "CsnOnly" {
				t.Fatalf("resolved %+v", profiles)
			}
			ids := []string{profiles[0].ID, profiles[1].ID, profiles[2].ID}
			want := 0
			for _, u := range b.spec.Users {
				if (u.Profile == sfdc.ProfileStandardUser || u.Profile == sfdc.ProfileSalesUser) && u.Active() && (u.UserType == "" || u.UserType == "Standard") {
					want++
				}
			}
			got := 0
			err = b.client.StreamUsers(context.Background(), UserFilter{ProfileIDs: ids}, func(us []User) error {
				for _, u := range us {
					if !u.IsActive || u.UserType != "Standard" || (u.ProfileName != sfdc.ProfileStandardUser && u.ProfileName != sfdc.ProfileSalesUser) {
						t.Errorf("user %s: active=%t type=%s profile=%q should have been filtered", u.ID, u.IsActive, u.UserType, u.ProfileName)
					}
					if !ValidID(u.ID) || u.Username == "" || u.ProfileID == "" {
						t.Errorf("incomplete user %+v", u)
					}
					got++
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if got != want || want == 0 {
				t.Errorf("streamed %d users, want %d", got, want)
			}
			if budget := (want+1999)/2000 + 2; b.queryCalls() > budget {
				t.Errorf("%d query calls for %d users, budget %d", b.queryCalls(), want, budget)
			}
		})
	}
}

// Selecting explicit user ids returns inactive and non-standard users too
// (the import counts them) and splits the id list below the URI budget.
func TestStreamUsersByIDSplitsBelowURIBudget(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{users: 1200, budget: 4096})
	all := b.sb.Salesforce().Users(b.orgID)
	var ids []string
	for _, id := range all {
		ids = append(ids, strings.ToLower(id)) // 18-char ids are case-insensitive
	}
	norm := make([]string, len(ids))
	for i, id := range ids {
		norm[i], _ = NormalizeID(id)
	}
	queries, err := b.client.INQueries(userSelect+" WHERE Id IN ", " ORDER BY Id", norm)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]User{}
	err = b.client.StreamUsers(context.Background(), UserFilter{UserIDs: ids}, func(us []User) error {
		for _, u := range us {
			got[u.ID] = u
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(all) {
		t.Fatalf("got %d users, want %d", len(got), len(all))
	}
	inactive, nonStandard := 0, 0
	for _, u := range got {
		switch u.SkipReason() {
		case SkipInactive:
			inactive++
		case SkipNotStandard:
			nonStandard++
		}
	}
	if inactive == 0 || nonStandard == 0 {
		t.Errorf("inactive %d, non-standard %d: explicit ids must return them", inactive, nonStandard)
	}
	b.mu.Lock()
	maxURI := b.maxURI
	b.mu.Unlock()
	if maxURI > 4096 || maxURI < 3000 {
		t.Errorf("longest query URI %d bytes, want close to but within the 4096 budget", maxURI)
	}
	if n := b.queryCalls(); n != len(queries) || n < 2 {
		t.Errorf("%d query calls, want one per split query (%d)", n, len(queries))
	}
	t.Logf("%d ids -> %d GET queries, longest URI %d bytes", len(ids), b.queryCalls(), maxURI)

	if err := b.client.StreamUsers(context.Background(), UserFilter{UserIDs: []string{"005' OR Id != '"}}, func([]User) error { return nil }); !errors.Is(err, ErrBadFilter) {
		t.Errorf("malformed id: %v", err)
	}
	if err := b.client.StreamUsers(context.Background(), UserFilter{}, func([]User) error { return nil }); !errors.Is(err, ErrBadFilter) {
		t.Errorf("empty filter: %v", err)
	}
}

func TestHostileProfileNames(t *testing.T) {
	t.Parallel()
	hostile := `O'Brien\' OR Name != '`
	b := setup(t, setupOpts{users: 10, mutate: func(s *sfdc.OrgSpec) {
		s.Profiles = append(s.Profiles,
			sfdc.ProfileSpec{Name: hostile, Permissions: sfdc.PermissionsSpec{User: []string{"ApiEnabled"}}},
			sfdc.ProfileSpec{Name: "O'Brien", Permissions: sfdc.PermissionsSpec{User: []string{"ApiEnabled"}}},
			sfdc.ProfileSpec{Name: "50%_off\n", Permissions: sfdc.PermissionsSpec{User: []string{"ApiEnabled"}}})
	}})
	ctx := context.Background()
	for _, name := range []string{hostile, "O'Brien", "50%_off\n"} {
		ps, err := b.client.ResolveProfiles(ctx, []string{name})
		if err != nil {
			t.Fatalf("%q: %v", name, err)
		}
		if len(ps) != 1 || ps[0].Name != name {
			t.Fatalf("%q resolved to %+v, want exactly that profile", name, ps)
		}
	}
	// A name built to widen the query matches nothing and says so.
	_, err := b.client.ResolveProfiles(ctx, []string{`x' OR Name != '`})
	var unknown *UnknownProfilesError
	if !errors.As(err, &unknown) || len(unknown.Unknown) != 1 || len(unknown.Available) != len(b.spec.Profiles) {
		t.Fatalf("injection attempt: %v", err)
	}
	if !strings.Contains(err.Error(), sfdc.ProfileStandardUser) {
		t.Errorf("error should list existing names: %v", err)
	}
}

func TestRefreshOnceOn401(t *testing.T) {
	t.Parallel()
	for _, p := range pagers {
		t.Run(p.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, setupOpts{users: 5, pager: p.pager})
			if err := b.sb.ExpireAccessTokens(b.grant.GrantID); err != nil {
				t.Fatal(err)
			}
			var rows []idRow
			err := Query(context.Background(), b.client, "SELECT Id FROM User", func(r []idRow) error { rows = append(rows, r...); return nil })
			if err != nil {
				t.Fatalf("query after expiry: %v", err)
			}
			if len(rows) != len(b.spec.Users) || b.refreshN.Load() != 1 {
				t.Fatalf("%d rows, %d refreshes; want %d rows after exactly one refresh", len(rows), b.refreshN.Load(), len(b.spec.Users))
			}
			// The new token is used from now on: no second refresh.
			if _, err := b.client.Describe(context.Background(), "Lead"); err != nil || b.refreshN.Load() != 1 {
				t.Fatalf("describe: %v (refreshes %d)", err, b.refreshN.Load())
			}
		})
	}
}

func TestSecond401IsReturnedNotLooped(t *testing.T) {
	t.Parallel()
	stale := func(b *testBundle) func(context.Context) (Session, error) {
		return func(context.Context) (Session, error) {
			b.refreshN.Add(1)
			return Session{AccessToken: b.grant.AccessToken}, nil // still expired
		}
	}
	for _, p := range pagers {
		t.Run(p.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, setupOpts{users: 5, pager: p.pager, refresh: stale})
			if err := b.sb.ExpireAccessTokens(b.grant.GrantID); err != nil {
				t.Fatal(err)
			}
			err := Query(context.Background(), b.client, "SELECT Id FROM User", func([]idRow) error { return nil })
			if !IsInvalidSession(err) || oauth.Classify(err) != oauth.ClassNeedsReconnect {
				t.Fatalf("want INVALID_SESSION_ID, got %v", err)
			}
			if b.refreshN.Load() != 1 || b.queryCalls() != 2 {
				t.Fatalf("%d refreshes, %d query calls; want 1 and 2", b.refreshN.Load(), b.queryCalls())
			}
			if strings.Contains(err.Error(), b.grant.AccessToken) || strings.Contains(err.Error(), "SELECT") {
				t.Errorf("error leaks a token or SOQL: %v", err)
			}
		})
	}
}

func TestRefreshFailureIsReturned(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{users: 5})
	if err := b.sb.RevokeGrant(b.grant.GrantID); err != nil {
		t.Fatal(err)
	}
	err := Query(context.Background(), b.client, "SELECT Id FROM User", func([]idRow) error { return nil })
	if oauth.Classify(err) != oauth.ClassNeedsReconnect {
		t.Fatalf("revoked grant: %v (class %s)", err, oauth.Classify(err))
	}
	var oe *oauth.Error
	if !errors.As(err, &oe) || oe.Code != "invalid_grant" {
		t.Fatalf("want the refresh's *oauth.Error, got %v", err)
	}
}

func TestFaultsSurfaceAsErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		fault sandbox.Fault
		check func(error) bool
		class oauth.Class
	}{
		{"500", sandbox.Fault{Kind: sandbox.FaultStatus, Status: 500}, func(err error) bool { e, ok := asAPIError(err); return ok && e.Status == 500 }, oauth.ClassTransient},
		{"503", sandbox.Fault{Kind: sandbox.FaultStatus, Status: 503}, func(err error) bool { e, ok := asAPIError(err); return ok && e.Status == 503 }, oauth.ClassTransient},
		{"drop", sandbox.Fault{Kind: sandbox.FaultDrop}, func(err error) bool { _, ok := asAPIError(err); return !ok }, oauth.ClassTransient},
	}
	for _, p := range pagers {
		for _, tt := range tests {
			t.Run(p.name+"/"+tt.name, func(t *testing.T) {
				t.Parallel()
				b := setup(t, setupOpts{users: 5, pager: p.pager})
				f := tt.fault
				f.Provider, f.Endpoint, f.Count = sandbox.Salesforce, "query", 1
				b.sb.Faults().MustAdd(f)
				err := Query(context.Background(), b.client, "SELECT Id FROM User", func([]idRow) error { return nil })
				if err == nil || !tt.check(err) || oauth.Classify(err) != tt.class {
					t.Fatalf("got %v (class %s)", err, oauth.Classify(err))
				}
				if b.queryCalls() != 1 {
					t.Errorf("%d query calls: a failure must not be retried here", b.queryCalls())
				}
			})
		}
	}
}

func TestContextCancelsHangingQuery(t *testing.T) {
	t.Parallel()
	for _, p := range pagers {
		t.Run(p.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, setupOpts{users: 5, pager: p.pager})
			b.sb.Faults().MustAdd(sandbox.Fault{Provider: sandbox.Salesforce, Endpoint: "query", Kind: sandbox.FaultHang, Count: 1})
			arrived := make(chan struct{})
			var once sync.Once
			b.setWrapper(func(w http.ResponseWriter, r *http.Request) bool {
				if strings.Contains(r.URL.Path, "/query") {
					once.Do(func() { close(arrived) })
				}
				return false // the sandbox holds it
			})
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() {
				done <- Query(ctx, b.client, "SELECT Id FROM User", func([]idRow) error { return nil })
			}()
			select {
			case <-arrived:
			case err := <-done:
				t.Fatalf("returned before the request arrived: %v", err)
			}
			cancel()
			if err := <-done; !errors.Is(err, context.Canceled) {
				t.Fatalf("want context.Canceled, got %v", err)
			}
		})
	}
}

func TestCompositeRoundTrip(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{users: 5})
	ctx := context.Background()
	lead, _ := b.client.DescribePath("Lead")
	contact, _ := b.client.DescribePath("Contact")
	bogus, _ := b.client.DescribePath("NoSuchObject")
	before, _ := b.sb.Salesforce().Usage(b.orgID)
	res, err := b.client.Composite(ctx, []Subrequest{
		{Method: "GET", URL: lead, ReferenceID: "Lead"},
		{Method: "GET", URL: contact, ReferenceID: "Contact"},
		{Method: "GET", URL: bogus, ReferenceID: "Bogus"},
		{Method: "GET", URL: b.client.QueryPath("SELECT Id, UserPermissionsMarketingUser FROM User WHERE Id = " + Quote(b.teamID)), ReferenceID: "me"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if after, _ := b.sb.Salesforce().Usage(b.orgID); after-before != 1 {
		t.Errorf("composite cost %d API calls, want 1", after-before)
	}
	if len(res) != 4 || res[0].ReferenceID != "Lead" || res[3].ReferenceID != "me" {
		t.Fatalf("answers out of order: %+v", res)
	}
	d, err := DecodeDescribe(res[0].Body)
	if err != nil || d.Name != "Lead" || !d.Queryable || len(d.Fields) == 0 {
		t.Fatalf("Lead describe: %+v %v", d, err)
	}
	if _, ok := d.Field("Email"); !ok {
		t.Errorf("Lead describe lacks Email")
	}
	if err := res[2].Err(); err == nil || !(IsNotFound(err) || IsInvalidType(err)) {
		t.Errorf("bogus object: %v", err)
	}
	var me struct {
		Records []struct {
			MarketingUser bool `json:"UserPermissionsMarketingUser"`
		} `json:"records"`
	}
	if err := res[3].Decode(&me); err != nil || len(me.Records) != 1 || !me.Records[0].MarketingUser {
		t.Errorf("me query: %+v %v", me, err)
	}
	if _, err := b.client.Composite(ctx, make([]Subrequest, MaxSubrequests+1)); err == nil {
		t.Error("26 subrequests accepted")
	}
}

func TestDescribeUserInfoLimits(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{users: 5})
	ctx := context.Background()
	d, err := b.client.Describe(ctx, "Campaign")
	if err != nil || d.Name != "Campaign" {
		t.Fatalf("describe: %+v %v", d, err)
	}
	if _, err := b.client.Describe(ctx, "Lead/../../limits"); err == nil {
		t.Error("path-like object name accepted")
	}

	// userinfo answers a dead token with 403 Bad_OAuth_Token: refresh once.
	if err := b.sb.ExpireAccessTokens(b.grant.GrantID); err != nil {
		t.Fatal(err)
	}
	ui, err := b.client.UserInfo(ctx)
	if err != nil || b.refreshN.Load() != 1 {
		t.Fatalf("userinfo: %v (refreshes %d)", err, b.refreshN.Load())
	}
	id, err := ParseIdentityURL(ui.Sub)
	if err != nil || id.UserID != b.teamID || id.OrgID != b.orgID {
		t.Errorf("userinfo sub %q -> %+v %v; want user %s org %s", ui.Sub, id, err, b.teamID, b.orgID)
	}

	limits, err := b.client.Limits(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, max := b.sb.Salesforce().Usage(b.orgID); limits["DailyApiRequests"].Max != max {
		t.Errorf("DailyApiRequests %+v, sandbox max %d", limits["DailyApiRequests"], max)
	}
}

func TestOrgLevelErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	run := func(b *testBundle) error {
		return Query(ctx, b.client, "SELECT Id FROM User", func([]idRow) error { return nil })
	}
	t.Run("api disabled", func(t *testing.T) {
		t.Parallel()
		b := setup(t, setupOpts{users: 5})
		if err := b.sb.Salesforce().SetAPIEnabled(b.orgID, false); err != nil {
			t.Fatal(err)
		}
		if err := run(b); !IsAPIDisabled(err) || oauth.Classify(err) != oauth.ClassOrgProblem {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("daily limit", func(t *testing.T) {
		t.Parallel()
		b := setup(t, setupOpts{users: 5})
		if err := b.sb.Salesforce().ExhaustDailyLimit(b.orgID); err != nil {
			t.Fatal(err)
		}
		err := run(b)
		if !IsRequestLimit(err) || !IsDailyLimit(err) || IsConcurrencyLimit(err) || oauth.Classify(err) != oauth.ClassRateLimited {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("concurrency limit", func(t *testing.T) {
		t.Parallel()
		b := setup(t, setupOpts{users: 5})
		if err := b.sb.Salesforce().InjectConcurrencyLimit(b.orgID, 1); err != nil {
			t.Fatal(err)
		}
		if err := run(b); !IsConcurrencyLimit(err) || IsDailyLimit(err) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("malformed query and invalid field", func(t *testing.T) {
		t.Parallel()
		b := setup(t, setupOpts{users: 5})
		if err := Query(ctx, b.client, "SELECT FROM User", func([]idRow) error { return nil }); !IsMalformedQuery(err) {
			t.Errorf("malformed: %v", err)
		}
		if err := Query(ctx, b.client, "SELECT NoSuchField__c FROM User", func([]idRow) error { return nil }); !IsInvalidField(err) {
			t.Errorf("invalid field: %v", err)
		}
	})
}

// instance_url can change on refresh (org migration); the replay and every
// later call go to the new one.
func TestInstanceURLChangeOnRefresh(t *testing.T) {
	t.Parallel()
	moved := func(b *testBundle) func(context.Context) (Session, error) {
		return func(ctx context.Context) (Session, error) {
			b.refreshN.Add(1)
			ts, err := b.oauth.Refresh(ctx, "salesforce", b.grant.RefreshToken)
			if err != nil {
				return Session{}, err
			}
			b.mu.Lock()
			b.access = ts.AccessToken
			b.mu.Unlock()
			return Session{AccessToken: ts.AccessToken, InstanceURL: strings.Replace(ts.InstanceURL, "127.0.0.1", "localhost", 1)}, nil
		}
	}
	for _, p := range pagers {
		t.Run(p.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, setupOpts{users: 5, pager: p.pager, refresh: moved})
			var hosts []string
			b.setWrapper(func(w http.ResponseWriter, r *http.Request) bool {
				if strings.HasPrefix(r.URL.Path, "/salesforce/services/data/") {
					b.mu.Lock()
					hosts = append(hosts, strings.Split(r.Host, ":")[0])
					b.mu.Unlock()
				}
				return false
			})
			if err := b.sb.ExpireAccessTokens(b.grant.GrantID); err != nil {
				t.Fatal(err)
			}
			if err := Query(context.Background(), b.client, "SELECT Id FROM User", func([]idRow) error { return nil }); err != nil {
				t.Fatal(err)
			}
			if _, err := b.client.Describe(context.Background(), "Lead"); err != nil {
				t.Fatal(err)
			}
			b.mu.Lock()
			defer b.mu.Unlock()
			if len(hosts) != 3 || hosts[0] != "127.0.0.1" || hosts[1] != "localhost" || hosts[2] != "localhost" {
				t.Fatalf("hosts %v: want the replay and later calls on the new instance", hosts)
			}
			if !strings.Contains(b.client.InstanceURL(), "localhost") {
				t.Errorf("InstanceURL() = %s", b.client.InstanceURL())
			}
		})
	}
}

// BenchmarkQuery5000 pages 5,001 users (3 pages of up to 2,000) through
// each pager against the sandbox; the difference is simpleforce's generic
// decoding plus the re-encode into typed records.
func BenchmarkQuery5000(b *testing.B) {
	for _, p := range pagers {
		b.Run(p.name, func(b *testing.B) {
			bundle := setup(b, setupOpts{users: 5000, pager: p.pager})
			b.ResetTimer()
			for b.Loop() {
				n := 0
				err := Query(context.Background(), bundle.client, "SELECT Id, Username, Email, Name, IsActive, UserType, ProfileId, Profile.Name FROM User", func(r []userRecord) error { n += len(r); return nil })
				if err != nil || n != 5001 {
					b.Fatalf("%d rows: %v", n, err)
				}
			}
		})
	}
}
