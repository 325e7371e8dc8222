// Benchmarks of the Salesforce emulator. Run:
//
//	go test ./connectors/sandbox/sfdc -run '^$' -bench . -benchmem -count 5
//
// The figure is BenchmarkUserPage: one 2,000-row User page served over HTTP
// (target ≤ 50 ms); it reports ms/op.
package sfdc

import (
	"io"
	"net/http"
	"net/url"
	"testing"
)

const importSOQL = "SELECT Id, Username, Email, FirstName, LastName, Name, IsActive, UserType, ProfileId, Profile.Name, UserRoleId, TimeZoneSidKey, SmallPhotoUrl, FullPhotoUrl, IsProfilePhotoActive, ManagerId FROM User WHERE IsActive = true AND UserType = 'Standard' ORDER BY Id"

func get(b *testing.B, tb *testBundle, path string) []byte {
	req, _ := http.NewRequest("GET", tb.base+path, nil)
	req.Header.Set("Authorization", "Bearer "+tb.teamTok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		b.Fatalf("%d %s", resp.StatusCode, body)
	}
	return body
}

func reportMS(b *testing.B) {
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/op")
}

// BenchmarkUserPage serves a later 2,000-row page of the import query from its cursor
// (100,000-user org).
func BenchmarkUserPage(b *testing.B) {
	tb := setup(b, 100000)
	tb.srv.SetDailyLimit(tb.orgID, 1<<30)
	first := get(b, tb, "/services/data/v62.0/query?q="+url.QueryEscape(importSOQL))
	var q queryResp
	if err := jsonUnmarshal(first, &q); err != nil || q.NextRecordsURL == "" {
		b.Fatalf("no cursor: %v", err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		body := get(b, tb, q.NextRecordsURL)
		b.SetBytes(int64(len(body)))
	}
	reportMS(b)
}

// BenchmarkUserQueryFirstPage runs the import query over 100,000 users (filter, sort,
// cursor) and serves its first 2,000 rows.
func BenchmarkUserQueryFirstPage(b *testing.B) {
	tb := setup(b, 100000)
	tb.srv.SetDailyLimit(tb.orgID, 1<<30)
	path := "/services/data/v62.0/query?q=" + url.QueryEscape(importSOQL)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		get(b, tb, path)
	}
	reportMS(b)
}

// BenchmarkGenerateOrg100k builds and loads a 100,000-user org.
func BenchmarkGenerateOrg100k(b *testing.B) {
	for i := 0; i < b.N; i++ {
		s := New(Params{Auth: &tokenAuth{m: map[string]string{}}})
		if err := s.LoadScenario(Scenario{Orgs: []OrgSpec{GenerateOrg(int64(i), 100000)}}); err != nil {
			b.Fatal(err)
		}
	}
	reportMS(b)
}

// BenchmarkAuditComposite is the permission audit's one composite call (8 describes, 2 queries).
func BenchmarkAuditComposite(b *testing.B) {
	tb := setup(b, 1000)
	tb.srv.SetDailyLimit(tb.orgID, 1<<30)
	body := auditComposite(tb.teamID)
	// Every sub-request answers 200 before timing starts, and every timed response is a
	// 200: a regression must not make this time error pages.
	first := tb.do(b, "POST", "/services/data/v62.0/composite", tb.teamTok, body)
	var cr struct {
		CompositeResponse []struct {
			HTTPStatusCode int    `json:"httpStatusCode"`
			ReferenceID    string `json:"referenceId"`
		} `json:"compositeResponse"`
	}
	first.json(b, &cr)
	if first.status != 200 || len(cr.CompositeResponse) == 0 {
		b.Fatalf("audit composite: %d with %d sub-responses: %s", first.status, len(cr.CompositeResponse), first.body)
	}
	for _, r := range cr.CompositeResponse {
		if r.HTTPStatusCode != 200 {
			b.Fatalf("audit composite sub-request %s answered %d: %s", r.ReferenceID, r.HTTPStatusCode, first.body)
		}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if r := tb.do(b, "POST", "/services/data/v62.0/composite", tb.teamTok, body); r.status != 200 {
			b.Fatalf("audit composite answered %d: %s", r.status, r.body)
		}
	}
	reportMS(b)
}
