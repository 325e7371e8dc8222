package sfdc

import (
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
)

// fixture reads a recorded Salesforce response from shared/reference/fixtures/salesforce.
func fixture(t *testing.T, name string) any {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	dir := filepath.Join(filepath.Dir(file), "..", "..", "..", "..", "shared", "reference", "fixtures", "salesforce")
	if _, err := os.Stat(dir); err != nil {
		dir = "/work/shared/reference/fixtures/salesforce"
	}
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatalf("read fixture %s: %v", name, err)
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decode fixture %s: %v", name, err)
	}
	return v
}

func decode(t *testing.T, b []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return v
}

func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "bool"
	case float64:
		return "number"
	case string:
		return "string"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return "?"
}

// sameShape reports where got lacks a key of want or has a different JSON type for it
// (null in either is accepted for nullable keys listed in nullable).
func sameShape(t *testing.T, where string, want, got map[string]any, nullable bool) {
	t.Helper()
	for k, wv := range want {
		gv, ok := got[k]
		if !ok {
			t.Errorf("%s: key %q missing (recorded response has it)", where, k)
			continue
		}
		wt, gt := jsonType(wv), jsonType(gv)
		if wt != gt && !(nullable && (wt == "null" || gt == "null")) {
			t.Errorf("%s: key %q is %s, recorded %s", where, k, gt, wt)
		}
	}
}

func keys(m map[string]any) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func TestFixtureQueryShapes(t *testing.T) {
	tb := setup(t, 3000)
	// Page 1 not done, page 2 done, as recorded.
	r := tb.query(t, tb.teamTok, "SELECT Id, Name FROM User")
	p1 := decode(t, r.body).(map[string]any)
	sameShape(t, "page 1", fixture(t, "query_page1_not_done.restforce.json").(map[string]any), p1, false)
	if got, want := strings.Join(keys(p1), ","), "done,nextRecordsUrl,records,totalSize"; got != want {
		t.Errorf("page 1 keys = %s, want %s", got, want)
	}
	rec := p1["records"].([]any)[0].(map[string]any)
	wantRec := fixture(t, "query_page1_not_done.restforce.json").(map[string]any)["records"].([]any)[0].(map[string]any)
	sameShape(t, "record attributes", wantRec["attributes"].(map[string]any), rec["attributes"].(map[string]any), false)

	r = tb.do(t, "GET", p1["nextRecordsUrl"].(string), tb.teamTok, "")
	p2 := decode(t, r.body).(map[string]any)
	sameShape(t, "page 2", fixture(t, "query_page2_done.restforce.json").(map[string]any), p2, false)
	if _, has := p2["nextRecordsUrl"]; has || p2["done"] != true {
		t.Errorf("last page: done=%v, nextRecordsUrl present=%v", p2["done"], has)
	}

	r = tb.query(t, tb.teamTok, "SELECT Id FROM User WHERE Username = 'nobody@example.com'")
	empty := decode(t, r.body).(map[string]any)
	sameShape(t, "empty", fixture(t, "query_empty.restforce.json").(map[string]any), empty, false)
	if empty["totalSize"].(float64) != 0 || len(empty["records"].([]any)) != 0 {
		t.Errorf("empty = %s", r.body)
	}

	// Parent relationship: nested object with its own attributes; null when empty.
	r = tb.query(t, tb.teamTok, "SELECT Id, Profile.Name, Manager.Name FROM User LIMIT 1")
	rec = decode(t, r.body).(map[string]any)["records"].([]any)[0].(map[string]any)
	wantParent := fixture(t, "query_relationships.restforce.json").(map[string]any)["records"].([]any)[0].(map[string]any)["ParentWhizbang__r"].(map[string]any)
	prof := rec["Profile"].(map[string]any)
	sameShape(t, "parent relationship attributes", wantParent["attributes"].(map[string]any), prof["attributes"].(map[string]any), false)
	if _, ok := prof["Name"].(string); !ok {
		t.Errorf("Profile = %v", prof)
	}
	if v, ok := rec["Manager"]; !ok || v != nil {
		t.Errorf("empty relationship = %v (present %v), want null", v, ok)
	}
}

func TestFixtureErrorBodies(t *testing.T) {
	tb := setup(t, 5)
	// INVALID_SESSION_ID: byte-for-byte the recorded body.
	r := tb.query(t, "wrong-token", "SELECT Id FROM User")
	want, _ := json.Marshal(fixture(t, "rest_error_invalid_session_id.restforce.json"))
	got, _ := json.Marshal(decode(t, r.body))
	if r.status != 401 || string(got) != string(want) {
		t.Errorf("401 body = %s, want %s", got, want)
	}
	// NOT_FOUND: the recorded message.
	r = tb.do(t, "GET", "/services/data/v62.0/sobjects/NoSuchThing/describe", tb.teamTok, "")
	want, _ = json.Marshal(fixture(t, "rest_error_not_found.restforce.json"))
	got, _ = json.Marshal(decode(t, r.body))
	if r.status != 404 || string(got) != string(want) {
		t.Errorf("404 body = %s, want %s", got, want)
	}
	// INVALID_FIELD: same keys and types as recorded.
	r = tb.do(t, "GET", "/services/data/v62.0/sobjects/User/"+tb.teamID+"?fields=foo", tb.teamTok, "")
	rec := fixture(t, "rest_error_invalid_field.restforce.json").([]any)[0].(map[string]any)
	gotErr := decode(t, r.body).([]any)[0].(map[string]any)
	sameShape(t, "INVALID_FIELD", rec, gotErr, false)
	if gotErr["errorCode"] != "INVALID_FIELD" || gotErr["message"] != "No such column 'foo' on sobject of type User" {
		t.Errorf("INVALID_FIELD = %v", gotErr)
	}
}

func TestFixtureLimits(t *testing.T) {
	tb := setup(t, 5)
	if err := tb.srv.SetUsage(tb.orgID, 47); err != nil {
		t.Fatal(err)
	}
	r := tb.do(t, "GET", "/services/data/v62.0/limits", tb.teamTok, "")
	if r.status != 200 {
		t.Fatalf("limits = %d %s", r.status, r.body)
	}
	got := decode(t, r.body).(map[string]any)
	want := fixture(t, "limits_dev_org.swiftlysalesforce.json").(map[string]any)
	for k, wv := range want {
		gv, ok := got[k].(map[string]any)
		if !ok {
			t.Errorf("limits: %q missing", k)
			continue
		}
		for _, sub := range []string{"Max", "Remaining"} {
			if jsonType(gv[sub]) != jsonType(wv.(map[string]any)[sub]) {
				t.Errorf("limits %s.%s = %v", k, sub, gv[sub])
			}
		}
	}
	d := got["DailyApiRequests"].(map[string]any)
	// 47 set + this call.
	if d["Max"].(float64) != 100000 || d["Remaining"].(float64) != 100000-48 {
		t.Errorf("DailyApiRequests = %v", d)
	}
}

func TestFixtureDescribeShapes(t *testing.T) {
	tb := setup(t, 5)
	want := fixture(t, "describe_account_full.swiftlysalesforce.json").(map[string]any)
	r := tb.do(t, "GET", "/services/data/v62.0/sobjects/Account/describe", tb.teamTok, "")
	if r.status != 200 {
		t.Fatalf("describe = %d %s", r.status, r.body)
	}
	got := decode(t, r.body).(map[string]any)
	sameShape(t, "Account describe", want, got, true)
	if len(keys(got)) != len(keys(want)) {
		t.Errorf("describe has %d keys, recorded %d: %v", len(keys(got)), len(keys(want)), keys(got))
	}
	wantFields := map[string]map[string]any{}
	for _, f := range want["fields"].([]any) {
		m := f.(map[string]any)
		wantFields[m["name"].(string)] = m
	}
	gotFields := map[string]map[string]any{}
	for _, f := range got["fields"].([]any) {
		m := f.(map[string]any)
		gotFields[m["name"].(string)] = m
		sameShape(t, "Account."+m["name"].(string), wantFields["Id"], m, true)
		if len(m) != len(wantFields["Id"]) {
			t.Errorf("field %s has %d keys, recorded %d", m["name"], len(m), len(wantFields["Id"]))
		}
	}
	// Every standard field of the recorded Account exists with the same type and soapType.
	for name, wf := range wantFields {
		// Custom fields and RecordTypeId exist only in orgs that define them.
		if strings.HasSuffix(name, "__c") || name == "RecordTypeId" {
			continue
		}
		gf, ok := gotFields[name]
		if !ok {
			t.Errorf("Account.%s missing from describe", name)
			continue
		}
		for _, k := range []string{"type", "soapType", "nillable", "nameField", "idLookup"} {
			if gf[k] != wf[k] {
				t.Errorf("Account.%s %s = %v, recorded %v", name, k, gf[k], wf[k])
			}
		}
	}

	r = tb.do(t, "GET", "/services/data/v62.0/sobjects", tb.teamTok, "")
	g := decode(t, r.body).(map[string]any)
	wg := fixture(t, "describe_global.restforce.json").(map[string]any)
	sameShape(t, "describeGlobal", wg, g, false)
	sameShape(t, "describeGlobal entry", wg["sobjects"].([]any)[0].(map[string]any), g["sobjects"].([]any)[0].(map[string]any), false)
}
