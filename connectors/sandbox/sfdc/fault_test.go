package sfdc

import (
	"strings"
	"testing"
	"time"
)

func TestFaultAPIDisabled(t *testing.T) {
	tb := setup(t, 5)
	if err := tb.srv.SetAPIEnabled(tb.orgID, false); err != nil {
		t.Fatal(err)
	}
	e := wantError(t, tb.query(t, tb.teamTok, "SELECT Id FROM User"), 403, "API_DISABLED_FOR_ORG")
	if e.Message != "The REST API is not enabled for this Organization." {
		t.Errorf("message = %q", e.Message)
	}
	if used, _ := tb.srv.Usage(tb.orgID); used != 0 {
		t.Errorf("refused call counted: usage %d", used)
	}
	if err := tb.srv.SetAPIEnabled(tb.orgID, true); err != nil {
		t.Fatal(err)
	}
	if r := tb.query(t, tb.teamTok, "SELECT Id FROM User"); r.status != 200 {
		t.Fatalf("after re-enabling: %d %s", r.status, r.body)
	}
}

func TestFaultDailyLimit(t *testing.T) {
	tb := setup(t, 5)
	r := tb.query(t, tb.teamTok, "SELECT Id FROM User")
	if got := r.header.Get("Sforce-Limit-Info"); got != "api-usage=1/100000" {
		t.Errorf("Sforce-Limit-Info = %q", got)
	}
	if err := tb.srv.ExhaustDailyLimit(tb.orgID); err != nil {
		t.Fatal(err)
	}
	r = tb.query(t, tb.teamTok, "SELECT Id FROM User")
	e := wantError(t, r, 403, "REQUEST_LIMIT_EXCEEDED")
	if e.Message != "TotalRequests Limit exceeded." {
		t.Errorf("message = %q", e.Message)
	}
	if got := r.header.Get("Sforce-Limit-Info"); got != "api-usage=100000/100000" {
		t.Errorf("Sforce-Limit-Info on refusal = %q", got)
	}
	// Usage is a rolling 24-hour window.
	tb.clock.Advance(23 * time.Hour)
	wantError(t, tb.query(t, tb.teamTok, "SELECT Id FROM User"), 403, "REQUEST_LIMIT_EXCEEDED")
	tb.clock.Advance(2 * time.Hour)
	if r := tb.query(t, tb.teamTok, "SELECT Id FROM User"); r.status != 200 {
		t.Fatalf("after 25h: %d %s", r.status, r.body)
	}
	// A small allocation runs out call by call.
	if err := tb.srv.SetDailyLimit(tb.orgID, 3); err != nil {
		t.Fatal(err)
	}
	_ = tb.srv.ResetUsage(tb.orgID)
	for i := 0; i < 3; i++ {
		if r := tb.query(t, tb.teamTok, "SELECT Id FROM User"); r.status != 200 {
			t.Fatalf("call %d: %d", i, r.status)
		}
	}
	wantError(t, tb.query(t, tb.teamTok, "SELECT Id FROM User"), 403, "REQUEST_LIMIT_EXCEEDED")
}

func TestFaultConcurrencyLimit(t *testing.T) {
	tb := setup(t, 5)
	if err := tb.srv.InjectConcurrencyLimit(tb.orgID, 2); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		e := wantError(t, tb.query(t, tb.teamTok, "SELECT Id FROM User"), 403, "REQUEST_LIMIT_EXCEEDED")
		if e.Message != "ConcurrentRequests (Concurrent API Requests) Limit exceeded." {
			t.Errorf("message = %q", e.Message)
		}
	}
	if r := tb.query(t, tb.teamTok, "SELECT Id FROM User"); r.status != 200 {
		t.Fatalf("third call: %d %s", r.status, r.body)
	}
	if used, _ := tb.srv.Usage(tb.orgID); used != 1 {
		t.Errorf("usage = %d, want 1 (refused calls do not count)", used)
	}
}

func TestFaultSessions(t *testing.T) {
	tb := setup(t, 5)
	wantError(t, tb.query(t, "", "SELECT Id FROM User"), 401, "INVALID_SESSION_ID")
	if err := tb.srv.SetUserActive(tb.teamID, false); err != nil {
		t.Fatal(err)
	}
	r := tb.query(t, tb.teamTok, "SELECT Id FROM User")
	wantError(t, r, 401, "INVALID_SESSION_ID")
	if r.header.Get("Sforce-Limit-Info") != "" {
		t.Error("401 carries Sforce-Limit-Info")
	}
	// The versions list needs no session and carries no limit header.
	r = tb.do(t, "GET", "/services/data/", "", "")
	if r.status != 200 || r.header.Get("Sforce-Limit-Info") != "" || !strings.Contains(string(r.body), `"version":"62.0"`) {
		t.Errorf("versions = %d %q %s", r.status, r.header.Get("Sforce-Limit-Info"), r.body)
	}
}

// auditComposite is the permission audit's one call from salesforce.md §4.2.
func auditComposite(userID string) string {
	var subs []string
	for _, o := range []string{"Lead", "Contact", "Campaign", "CampaignMember", "Account", "Opportunity", "Event", "Task"} {
		subs = append(subs, `{"method":"GET","url":"/services/data/v62.0/sobjects/`+o+`/describe","referenceId":"`+o+`"}`)
	}
	subs = append(subs,
		`{"method":"GET","url":"/services/data/v62.0/query/?q=SELECT+Id,IsActive,UserType,UserPermissionsMarketingUser,ProfileId,Profile.Name+FROM+User+WHERE+Id='`+userID+`'","referenceId":"me"}`,
		`{"method":"GET","url":"/services/data/v62.0/query/?q=SELECT+Id,PermissionSet.Name,PermissionSet.IsOwnedByProfile+FROM+PermissionSetAssignment+WHERE+AssigneeId='`+userID+`'+AND+PermissionSet.PermissionsAllowViewEditConvertedLeads=true","referenceId":"convertedLeads"}`)
	return `{"allOrNone":false,"compositeRequest":[` + strings.Join(subs, ",") + `]}`
}

type auditView struct {
	status   map[string]int
	objects  map[string]map[string]any // describe top level
	fields   map[string]map[string]map[string]any
	me       map[string]any
	convRows int
	errCode  map[string]string
}

func (tb *testBundle) audit(t *testing.T) auditView {
	t.Helper()
	r := tb.do(t, "POST", "/services/data/v62.0/composite", tb.teamTok, auditComposite(tb.teamID))
	if r.status != 200 {
		wantError(t, r, r.status, "")
	}
	var resp struct {
		CompositeResponse []struct {
			Body           any               `json:"body"`
			HTTPHeaders    map[string]string `json:"httpHeaders"`
			HTTPStatusCode int               `json:"httpStatusCode"`
			ReferenceID    string            `json:"referenceId"`
		} `json:"compositeResponse"`
	}
	r.json(t, &resp)
	v := auditView{status: map[string]int{}, objects: map[string]map[string]any{}, fields: map[string]map[string]map[string]any{}, errCode: map[string]string{}}
	for _, sr := range resp.CompositeResponse {
		v.status[sr.ReferenceID] = sr.HTTPStatusCode
		if sr.HTTPHeaders == nil {
			t.Errorf("%s: httpHeaders missing", sr.ReferenceID)
		}
		if sr.HTTPStatusCode != 200 {
			v.errCode[sr.ReferenceID] = sr.Body.([]any)[0].(map[string]any)["errorCode"].(string)
			continue
		}
		body := sr.Body.(map[string]any)
		switch sr.ReferenceID {
		case "me":
			v.me = body["records"].([]any)[0].(map[string]any)
		case "convertedLeads":
			v.convRows = int(body["totalSize"].(float64))
		default:
			v.objects[sr.ReferenceID] = body
			fm := map[string]map[string]any{}
			for _, f := range body["fields"].([]any) {
				fm[f.(map[string]any)["name"].(string)] = f.(map[string]any)
			}
			v.fields[sr.ReferenceID] = fm
		}
	}
	return v
}

func TestAuditCompositeBaseline(t *testing.T) {
	tb := setup(t, 5)
	v := tb.audit(t)
	if len(v.status) != 10 {
		t.Fatalf("got %d subresponses", len(v.status))
	}
	for ref, st := range v.status {
		if st != 200 {
			t.Errorf("%s: status %d (%s)", ref, st, v.errCode[ref])
		}
	}
	flags := map[string][]string{
		"Lead": {"queryable", "createable", "updateable"}, "Contact": {"queryable", "updateable"},
		"Campaign": {"queryable", "updateable"}, "CampaignMember": {"queryable", "updateable"},
		"Account": {"queryable"}, "Opportunity": {"queryable"}, "Event": {"createable"}, "Task": {"createable"},
	}
	for o, fs := range flags {
		for _, f := range fs {
			if v.objects[o][f] != true {
				t.Errorf("%s.%s = %v, want true", o, f, v.objects[o][f])
			}
		}
	}
	for _, f := range TeamLeadFields {
		if fd := v.fields["Lead"][f]; fd == nil || fd["updateable"] != true || fd["createable"] != true {
			t.Errorf("Lead.%s = %v", f, fd)
		}
	}
	if v.me["UserPermissionsMarketingUser"] != true || v.convRows != 0 {
		t.Errorf("me = %v, converted-lead rows = %d", v.me, v.convRows)
	}
	if used, _ := tb.srv.Usage(tb.orgID); used != 1 {
		t.Errorf("composite cost %d calls, want 1", used)
	}
}

// TestRemoveEachTeamPermission removes each permission the audit checks, one at a time,
// and verifies the wire shows exactly that loss.
func TestRemoveEachTeamPermission(t *testing.T) {
	for _, p := range TeamPermissions() {
		t.Run(string(p), func(t *testing.T) {
			t.Parallel()
			tb := setup(t, 3)
			if ok, err := tb.srv.HasPermission(tb.teamID, p); err != nil || !ok {
				t.Fatalf("team user lacks %s before removal (%v)", p, err)
			}
			if err := tb.srv.RemovePermission(tb.teamID, p); err != nil {
				t.Fatal(err)
			}
			if ok, _ := tb.srv.HasPermission(tb.teamID, p); ok {
				t.Fatalf("%s still held after removal", p)
			}
			if p == PermAPIEnabled {
				wantError(t, tb.do(t, "POST", "/services/data/v62.0/composite", tb.teamTok, auditComposite(tb.teamID)), 403, "API_DISABLED_FOR_ORG")
				return
			}
			v := tb.audit(t)
			target, acc, _ := strings.Cut(string(p), ":")
			obj, field, isField := strings.Cut(target, ".")
			switch {
			case p == PermMarketingUser:
				if v.me["UserPermissionsMarketingUser"] != false || v.objects["Campaign"]["updateable"] != false {
					t.Errorf("marketing user: me=%v campaign updateable=%v", v.me["UserPermissionsMarketingUser"], v.objects["Campaign"]["updateable"])
				}
			case p == PermViewSetup:
				if v.status["convertedLeads"] != 400 || v.errCode["convertedLeads"] != "INVALID_TYPE" {
					t.Errorf("PSA query without View Setup: %d %s", v.status["convertedLeads"], v.errCode["convertedLeads"])
				}
			case isField && acc == "Read":
				if _, present := v.fields[obj][field]; present {
					t.Errorf("%s.%s still in describe", obj, field)
				}
			case isField && acc == "Edit":
				fd := v.fields[obj][field]
				if fd == nil || fd["updateable"] != false || fd["createable"] != false {
					t.Errorf("%s.%s = %v, want present, not updateable/createable", obj, field, fd)
				}
			case acc == "Read":
				if v.status[obj] != 404 || v.errCode[obj] != "NOT_FOUND" {
					t.Errorf("%s describe without Read: %d %s", obj, v.status[obj], v.errCode[obj])
				}
			case acc == "Edit":
				if v.objects[obj]["updateable"] != false || v.objects[obj]["queryable"] != true {
					t.Errorf("%s: updateable %v queryable %v", obj, v.objects[obj]["updateable"], v.objects[obj]["queryable"])
				}
			case acc == "Create":
				if v.objects[obj]["createable"] != false || v.objects[obj]["queryable"] != true {
					t.Errorf("%s: createable %v", obj, v.objects[obj]["createable"])
				}
			default:
				t.Fatalf("test does not know how to check %s", p)
			}
			// Nothing else changed: every other team permission is still held.
			for _, other := range TeamPermissions() {
				if other == p || strings.HasPrefix(string(other), obj+":") && strings.HasSuffix(string(p), ":Read") ||
					strings.HasPrefix(string(other), target+":Edit") && acc == "Read" {
					continue // removing Read takes dependent permissions with it
				}
				if ok, _ := tb.srv.HasPermission(tb.teamID, other); !ok {
					t.Errorf("removing %s also removed %s", p, other)
				}
			}
		})
	}
}

func TestGrantConvertedLeads(t *testing.T) {
	tb := setup(t, 3)
	if err := tb.srv.GrantPermission(tb.teamID, PermConvertedLeads); err != nil {
		t.Fatal(err)
	}
	v := tb.audit(t)
	if v.convRows != 1 {
		t.Errorf("converted-lead PSA rows = %d, want 1", v.convRows)
	}
}

func TestPermissionErrors(t *testing.T) {
	tb := setup(t, 3)
	for _, p := range []Permission{"Lead:Fly", "Nope:Read", "Lead.Nope:Read", "Frobnicate", "User:Read"} {
		if err := tb.srv.RemovePermission(tb.teamID, p); err == nil {
			t.Errorf("RemovePermission(%s) accepted", p)
		}
	}
	if err := tb.srv.RemovePermission("005000000000000AAA", PermViewSetup); err == nil {
		t.Error("unknown user accepted")
	}
}
