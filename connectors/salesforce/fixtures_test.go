package salesforce

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// fixtures is shared/reference/fixtures, next to the main checkout.
const fixtures = "../../../shared/reference/fixtures/salesforce"

func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtures, name))
	if err != nil {
		t.Fatalf("read fixture %s (expected beside the checkout at /work/shared): %v", name, err)
	}
	return b
}

func TestDecodeAPIErrorRecordedBodies(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		status int
		body   []byte
		code   string
		is     func(error) bool
	}{
		{"invalid session", 401, fixture(t, "rest_error_invalid_session_id.restforce.json"), "INVALID_SESSION_ID", IsInvalidSession},
		{"invalid field", 400, fixture(t, "rest_error_invalid_field.restforce.json"), "INVALID_FIELD", IsInvalidField},
		{"not found", 404, fixture(t, "rest_error_not_found.restforce.json"), "NOT_FOUND", IsNotFound},
		{"empty array", 500, []byte(`[]`), "", func(err error) bool { e, _ := asAPIError(err); return e.Status == 500 && e.Message == "" }},
		{"userinfo plain text", 403, []byte("Bad_OAuth_Token"), "Bad_OAuth_Token", IsInvalidSession},
		{"oauth-style object", 400, []byte(`{"error":"invalid_grant","error_description":"expired access/refresh token"}`), "invalid_grant", func(err error) bool { e, _ := asAPIError(err); return e.Message == "expired access/refresh token" }},
		{"html from a proxy", 502, []byte("<html><body>Bad Gateway</body></html>"), "", func(err error) bool { e, _ := asAPIError(err); return e.Message == "" && e.Status == 502 }},
		{"431 without body", 431, nil, "", IsURITooLong},
		{"414 without body", 414, nil, "", IsURITooLong},
		{"daily limit", 403, []byte(`[{"message":"TotalRequests Limit exceeded.","errorCode":"REQUEST_LIMIT_EXCEEDED"}]`), "REQUEST_LIMIT_EXCEEDED", IsDailyLimit},
		{"concurrency", 403, []byte(`[{"message":"ConcurrentRequests (Concurrent API Requests) Limit exceeded.","errorCode":"REQUEST_LIMIT_EXCEEDED"}]`), "REQUEST_LIMIT_EXCEEDED", IsConcurrencyLimit},
		{"api disabled", 403, []byte(`[{"message":"The REST API is not enabled for this Organization.","errorCode":"API_DISABLED_FOR_ORG"}]`), "API_DISABLED_FOR_ORG", IsAPIDisabled},
	}
	for _, tt := range tests {
		e := decodeAPIError(tt.status, tt.body)
		if e.Code != tt.code || !tt.is(e) {
			t.Errorf("%s: got %+v", tt.name, e)
		}
		if e.Error() == "" {
			t.Errorf("%s: empty Error()", tt.name)
		}
	}
}

func TestDecodeRecordedDescribe(t *testing.T) {
	t.Parallel()
	d, err := DecodeDescribe(fixture(t, "describe_account_full.swiftlysalesforce.json"))
	if err != nil {
		t.Fatal(err)
	}
	if d.Name != "Account" || !d.Queryable || !d.Createable || !d.Updateable || len(d.Fields) != 71 {
		t.Fatalf("got %s queryable=%t createable=%t updateable=%t with %d fields", d.Name, d.Queryable, d.Createable, d.Updateable, len(d.Fields))
	}
	name, ok := d.Field("Name")
	if !ok || name.Type != "string" || !name.Createable || !name.Updateable {
		t.Errorf("Name field: %+v %t", name, ok)
	}
	if id, ok := d.Field("Id"); !ok || id.Updateable {
		t.Errorf("Id field: %+v %t", id, ok)
	}
}

func TestDecodeRecordedQueryPages(t *testing.T) {
	t.Parallel()
	var p queryPage[struct {
		Text   string `json:"Text_Label"`
		Parent *struct {
			Name string `json:"Name"`
		} `json:"ParentWhizbang__r"`
	}]
	if err := json.Unmarshal(fixture(t, "query_relationships.restforce.json"), &p); err != nil {
		t.Fatal(err)
	}
	if !p.Done || len(p.Records) != 1 || p.Records[0].Parent == nil || p.Records[0].Parent.Name != "Parent Whizbang" {
		t.Fatalf("nested parent not decoded: %+v", p)
	}
	var first queryPage[json.RawMessage]
	if err := json.Unmarshal(fixture(t, "query_page1_not_done.restforce.json"), &first); err != nil {
		t.Fatal(err)
	}
	if first.Done || first.NextRecordsURL != "/services/data/v26.0/query/01gD" || first.TotalSize != 2 {
		t.Fatalf("page 1: %+v", first)
	}
	// A user whose Profile relationship is null keeps an empty name.
	var u userRecord
	if err := json.Unmarshal([]byte(`{"Id":"005xx000001SwiU","Profile":null,"IsActive":true}`), &u); err != nil {
		t.Fatal(err)
	}
	if got := u.user(); got.ProfileName != "" || got.ID != "005xx000001SwiUAAS" {
		t.Fatalf("null profile: %+v", got)
	}
}

func TestDecodeRecordedLimits(t *testing.T) {
	t.Parallel()
	limits, err := decodeLimits(fixture(t, "limits_dev_org.swiftlysalesforce.json"))
	if err != nil {
		t.Fatal(err)
	}
	if got := limits["DailyApiRequests"]; got != (Limit{Max: 15000, Remaining: 14953}) {
		t.Fatalf("DailyApiRequests %+v", got)
	}
	if len(limits) != 48 {
		t.Errorf("%d limits, want the fixture's 48", len(limits))
	}
}
