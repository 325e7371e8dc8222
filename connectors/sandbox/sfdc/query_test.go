package sfdc

import (
	"io"
	"log"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/simpleforce/simpleforce"
)

func TestMain(m *testing.M) {
	// simpleforce logs every URL and failed body to the global logger.
	log.SetOutput(io.Discard)
	os.Exit(m.Run())
}

// headerRT adds Sforce-Query-Options to every request simpleforce makes.
type headerRT struct {
	batch string
	calls int
}

func (h *headerRT) RoundTrip(r *http.Request) (*http.Response, error) {
	h.calls++
	if h.batch != "" {
		r = r.Clone(r.Context())
		r.Header.Set("Sforce-Query-Options", "batchSize="+h.batch)
	}
	return http.DefaultTransport.RoundTrip(r)
}

func TestSimpleforcePagination(t *testing.T) {
	tb := setup(t, 2500)
	const soql = "SELECT Id, Username, Email, FirstName, LastName, Name, IsActive, UserType, ProfileId, Profile.Name, SmallPhotoUrl, FullPhotoUrl, IsProfilePhotoActive FROM User WHERE IsActive = true AND UserType = 'Standard' ORDER BY Id"

	// The expected set, computed from the scenario rather than from the sandbox's output.
	want := 0
	for _, id := range tb.srv.Users(tb.orgID) {
		u, _ := tb.srv.User(id)
		if u.IsActive && u.UserType == "Standard" {
			want++
		}
	}
	if want < 2000 {
		t.Fatalf("only %d active standard users generated", want)
	}

	tests := []struct {
		name     string
		batch    string // Sforce-Query-Options batchSize; "" = default
		pageSize int
	}{
		{"default batch", "", 2000},
		{"batch 500", "500", 500},
		{"batch below minimum clamps to 200", "50", 200},
		{"batch above maximum clamps to 2000", "9000", 2000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rt := &headerRT{batch: tt.batch}
			c := simpleforce.NewClient(tb.base, "client", "62.0")
			c.SetHttpClient(&http.Client{Transport: rt})
			c.SetSidLoc(tb.teamTok, tb.base)
			usedBefore, _ := tb.srv.Usage(tb.orgID)

			seen := map[string]bool{}
			res, err := c.Query(soql)
			pages, last := 0, ""
			for {
				if err != nil {
					t.Fatalf("page %d: %v", pages, err)
				}
				pages++
				if res.TotalSize != want {
					t.Fatalf("totalSize = %d, want %d", res.TotalSize, want)
				}
				if !res.Done && len(res.Records) != tt.pageSize {
					t.Fatalf("page %d has %d records, want %d", pages, len(res.Records), tt.pageSize)
				}
				for _, r := range res.Records {
					id := r.StringField("Id")
					if seen[id] {
						t.Fatalf("record %s returned twice", id)
					}
					if id <= last {
						t.Fatalf("ORDER BY Id violated: %s after %s", id, last)
					}
					last = id
					seen[id] = true
					if r.StringField("UserType") != "Standard" || r.InterfaceField("IsActive") != true {
						t.Fatalf("record does not match the filter: %v", r)
					}
					prof, ok := r.InterfaceField("Profile").(map[string]interface{})
					if !ok || prof["Name"] == "" || prof["attributes"] == nil {
						t.Fatalf("Profile relationship = %#v", r.InterfaceField("Profile"))
					}
				}
				if res.Done {
					if res.NextRecordsURL != "" {
						t.Fatalf("last page has nextRecordsUrl %q", res.NextRecordsURL)
					}
					break
				}
				if !strings.HasPrefix(res.NextRecordsURL, "/services/data/v62.0/query/01g") {
					t.Fatalf("nextRecordsUrl = %q", res.NextRecordsURL)
				}
				res, err = c.Query(res.NextRecordsURL)
			}
			if len(seen) != want {
				t.Errorf("got %d records over %d pages, want %d", len(seen), pages, want)
			}
			wantPages := (want + tt.pageSize - 1) / tt.pageSize
			if pages != wantPages || rt.calls != wantPages {
				t.Errorf("pages = %d, HTTP calls = %d, want %d", pages, rt.calls, wantPages)
			}
			usedAfter, _ := tb.srv.Usage(tb.orgID)
			if usedAfter-usedBefore != wantPages {
				t.Errorf("usage grew by %d, want %d (one per page)", usedAfter-usedBefore, wantPages)
			}
		})
	}
}

func TestSimpleforceErrors(t *testing.T) {
	tb := setup(t, 10)
	c := simpleforce.NewClient(tb.base, "client", "62.0")
	c.SetSidLoc("expired-token", tb.base)
	_, err := c.Query("SELECT Id FROM User")
	se, ok := err.(simpleforce.SalesforceError)
	if !ok || se.HttpCode != 401 || se.ErrorCode != "INVALID_SESSION_ID" {
		t.Fatalf("err = %#v, want 401 INVALID_SESSION_ID", err)
	}
	c.SetSidLoc(tb.teamTok, tb.base)
	_, err = c.Query("SELECT Id FROM User WHERE")
	if se, ok := err.(simpleforce.SalesforceError); !ok || se.ErrorCode != "MALFORMED_QUERY" {
		t.Fatalf("err = %#v, want MALFORMED_QUERY", err)
	}
}

type queryResp struct {
	TotalSize      int              `json:"totalSize"`
	Done           bool             `json:"done"`
	NextRecordsURL string           `json:"nextRecordsUrl"`
	Records        []map[string]any `json:"records"`
}

func TestQuerySemantics(t *testing.T) {
	tb := setup(t, 300)
	ids := tb.srv.Users(tb.orgID)
	u1, _ := tb.srv.User(ids[1])
	u2, _ := tb.srv.User(ids[2])
	profiles := tb.query(t, tb.teamTok, "SELECT Id, Name FROM Profile WHERE Name = 'standard user'")
	var pr queryResp
	profiles.json(t, &pr)
	if pr.TotalSize != 1 {
		t.Fatalf("profile query = %s", profiles.body)
	}
	stdProfile := pr.Records[0]["Id"].(string)

	count := func(soql string) int {
		t.Helper()
		r := tb.query(t, tb.teamTok, soql)
		if r.status != 200 {
			t.Fatalf("%s: %d %s", soql, r.status, r.body)
		}
		var q queryResp
		r.json(t, &q)
		return q.TotalSize
	}
	// Expected counts computed from the scenario.
	var active, std, activeStd, inProfile, noEmail, likeA int
	for _, id := range ids {
		u, _ := tb.srv.User(id)
		if u.IsActive {
			active++
		}
		if u.UserType == "Standard" {
			std++
		}
		if u.IsActive && u.UserType == "Standard" {
			activeStd++
		}
		if u.Email == "" {
			noEmail++
		}
		if strings.HasPrefix(strings.ToLower(u.LastName), "a") {
			likeA++
		}
	}
	tb.srv.mu.RLock()
	for _, u := range tb.srv.orgs[0].users {
		if u.profile.ID == stdProfile {
			inProfile++
		}
	}
	tb.srv.mu.RUnlock()

	tests := []struct {
		soql string
		want int
	}{
		{"SELECT Id FROM User", len(ids)},
		{"SELECT Id FROM User WHERE IsActive = true", active},
		{"SELECT Id FROM User WHERE IsActive != true", len(ids) - active},
		{"SELECT Id FROM User WHERE NOT IsActive = true", len(ids) - active},
		{"select id from user where isactive = TRUE and usertype = 'standard'", activeStd},
		{"SELECT Id FROM User WHERE (IsActive = true AND UserType = 'Standard') OR Id = '" + u1.ID + "'", activeStd + boolInt(!(u1.IsActive && u1.UserType == "Standard"))},
		{"SELECT Id FROM User WHERE UserType != 'Standard'", len(ids) - std},
		{"SELECT Id FROM User WHERE ProfileId IN ('" + stdProfile + "')", inProfile},
		{"SELECT Id FROM User WHERE ProfileId IN ('" + stdProfile[:15] + "')", inProfile},
		{"SELECT Id FROM User WHERE ProfileId NOT IN ('" + stdProfile + "')", len(ids) - inProfile},
		{"SELECT Id FROM User WHERE Id IN ('" + u1.ID[:15] + "', '" + strings.ToLower(u2.ID) + "')", 2},
		{"SELECT Id FROM User WHERE Email = null", noEmail},
		{"SELECT Id FROM User WHERE Email != null", len(ids) - noEmail},
		{"SELECT Id FROM User WHERE LastName LIKE 'a%'", likeA},
		{"SELECT Id FROM User WHERE Username LIKE 'tether\\_integration@%'", 0},
		{"SELECT Id FROM User WHERE Username LIKE 'tether_integration@%'", 1},
		{"SELECT Id FROM User LIMIT 7", 7},
		{"SELECT Id FROM User ORDER BY Name LIMIT 5 OFFSET 3", 5},
		{"SELECT Id FROM User WHERE CreatedDate < 2000-01-01T00:00:00Z", 0},
		{"SELECT Id FROM User WHERE CreatedDate > 2000-01-01T00:00:00Z", len(ids)},
		{"SELECT Id FROM User WHERE CreatedDate = LAST_N_DAYS:30", 0},
		{"SELECT Id FROM Lead", 0},
		{"SELECT COUNT() FROM User WHERE IsActive = true", active},
	}
	for _, tt := range tests {
		if got := count(tt.soql); got != tt.want {
			t.Errorf("%s: totalSize = %d, want %d", tt.soql, got, tt.want)
		}
	}

	// ORDER BY DESC with relationship field, and aggregate GROUP BY.
	r := tb.query(t, tb.teamTok, "SELECT Name, Profile.Name FROM User ORDER BY Name DESC LIMIT 50")
	var q queryResp
	r.json(t, &q)
	for i := 1; i < len(q.Records); i++ {
		if compareFold(q.Records[i-1]["Name"].(string), q.Records[i]["Name"].(string)) < 0 {
			t.Fatalf("DESC order violated at %d", i)
		}
	}
	r = tb.query(t, tb.teamTok, "SELECT ProfileId, COUNT(Id) n FROM User WHERE IsActive = true GROUP BY ProfileId")
	r.json(t, &q)
	sum := 0
	for _, rec := range q.Records {
		if rec["attributes"].(map[string]any)["type"] != "AggregateResult" {
			t.Fatalf("aggregate record = %v", rec)
		}
		sum += int(rec["n"].(float64))
	}
	if sum != active {
		t.Errorf("GROUP BY counts sum to %d, want %d", sum, active)
	}
	r = tb.query(t, tb.teamTok, "SELECT COUNT(Id) FROM User")
	r.json(t, &q)
	if len(q.Records) != 1 || int(q.Records[0]["expr0"].(float64)) != len(ids) {
		t.Errorf("COUNT(Id) = %s", r.body)
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestQueryErrors(t *testing.T) {
	tb := setup(t, 10)
	tests := []struct {
		soql, code, msg string
	}{
		{"SELECT Id FROM User WHERE", "MALFORMED_QUERY", "unexpected token: <EOF>"},
		{"SELECT Id FROM User WHERE IsActive = true AND UserType = 'Standard' OR Id = 'x'", "MALFORMED_QUERY", "ERROR at Row:1:Column:"},
		{"SELEC Id FROM User", "MALFORMED_QUERY", "unexpected token: 'SELEC'"},
		{"SELECT Id, Id FROM User", "MALFORMED_QUERY", "duplicate field selected: Id"},
		{"SELECT Id, Foo FROM User", "INVALID_FIELD", "No such column 'Foo' on entity 'User'."},
		{"SELECT Id, Profil.Name FROM User", "INVALID_FIELD", "Didn't understand relationship 'Profil' in field path."},
		{"SELECT Id FROM Usr", "INVALID_TYPE", "sObject type 'Usr' is not supported."},
		{"SELECT Id FROM User WHERE Id = 'abc'", "INVALID_QUERY_FILTER_OPERATOR", "invalid ID field: abc"},
		{"SELECT Id FROM User WHERE IsActive = 'true'", "INVALID_QUERY_FILTER_OPERATOR", "must be of type boolean"},
		{"SELECT Id FROM User WHERE Name = 5", "INVALID_QUERY_FILTER_OPERATOR", "must be of type string"},
		{"SELECT Name FROM User GROUP BY ProfileId", "MALFORMED_QUERY", "Field must be grouped or aggregated: Name"},
		{"SELECT Id FROM User OFFSET 2001", "NUMBER_OUTSIDE_VALID_RANGE", "Maximum SOQL offset allowed is 2000"},
	}
	for _, tt := range tests {
		e := wantError(t, tb.query(t, tb.teamTok, tt.soql), 400, tt.code)
		if !strings.Contains(e.Message, tt.msg) {
			t.Errorf("%s: message %q, want it to contain %q", tt.soql, e.Message, tt.msg)
		}
	}
	e := wantError(t, tb.do(t, "GET", "/services/data/v62.0/query?q=", tb.teamTok, ""), 400, "MALFORMED_QUERY")
	if e.Message == "" {
		t.Error("empty q has no message")
	}
	wantError(t, tb.do(t, "GET", "/services/data/v62.0/query/01gXXXXXXXXXXXXXXX-2000", tb.teamTok, ""), 400, "INVALID_QUERY_LOCATOR")
	wantError(t, tb.do(t, "POST", "/services/data/v62.0/query?q=x", tb.teamTok, "{}"), 405, "METHOD_NOT_ALLOWED")
	wantError(t, tb.do(t, "GET", "/services/data/v99.0/query?q=x", tb.teamTok, ""), 404, "NOT_FOUND")
}

func TestCursorExpiry(t *testing.T) {
	tb := setup(t, 500)
	r := tb.query(t, tb.teamTok, "SELECT Id FROM User", "Sforce-Query-Options", "batchSize=200")
	var q queryResp
	r.json(t, &q)
	if q.Done || q.NextRecordsURL == "" || len(q.Records) != 200 {
		t.Fatalf("first page = done %v next %q records %d", q.Done, q.NextRecordsURL, len(q.Records))
	}
	tb.clock.Advance(47 * time.Hour)
	if r := tb.do(t, "GET", strings.TrimPrefix(q.NextRecordsURL, ""), tb.teamTok, ""); r.status != 200 {
		t.Fatalf("cursor gone before 2 days: %d %s", r.status, r.body)
	}
	tb.clock.Advance(2 * time.Hour)
	wantError(t, tb.do(t, "GET", q.NextRecordsURL, tb.teamTok, ""), 400, "INVALID_QUERY_LOCATOR")
}

func TestURITooLong(t *testing.T) {
	tb := setup(t, 10)
	var ids []string
	for i := 0; i < 800; i++ {
		ids = append(ids, "'"+MakeID(PrefixUser, uint64(i))+"'")
	}
	soql := "SELECT Id FROM User WHERE Id IN (" + strings.Join(ids, ",") + ")"
	r := tb.query(t, tb.teamTok, soql)
	if r.status != http.StatusRequestURITooLong {
		t.Fatalf("status = %d, want 414", r.status)
	}
	// The same query fits in a composite body.
	body := `{"compositeRequest":[{"method":"GET","url":"/services/data/v62.0/query?q=` + urlQueryEscape(soql) + `","referenceId":"q"}]}`
	r = tb.do(t, "POST", "/services/data/v62.0/composite", tb.teamTok, body)
	if r.status != 200 || !strings.Contains(string(r.body), `"httpStatusCode":200`) {
		t.Fatalf("composite = %d %s", r.status, r.body)
	}
}

func urlQueryEscape(s string) string { return url.QueryEscape(s) }
