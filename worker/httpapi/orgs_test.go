package httpapi_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"tether/sync/connections"
	"tether/sync/directory"
	"tether/sync/orgs"
	"tether/sync/permissions"
	"tether/sync/store"
	"tether/sync/store/storetest"
	"tether/worker/httpapi"
)

type orgBundle struct {
	st  *store.Store
	url string
}

// setupOrgs serves the org routes on st; hosts are the Salesforce login hosts they show.
func setupOrgs(t *testing.T, st *store.Store, hosts directory.SalesforceHosts) *orgBundle {
	t.Helper()
	svc, err := orgs.New(orgs.Config{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	server, err := httpapi.New(httpapi.Params{Logger: zerolog.Nop(), Gatherer: prometheus.NewRegistry(),
		AdminUser: "admin", AdminPassword: "pw", Orgs: svc, SalesforceHosts: hosts})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(server)
	t.Cleanup(srv.Close)
	return &orgBundle{st: st, url: srv.URL}
}

// call sends an admin request and decodes the JSON answer into out (if not nil); every
// answer must be JSON.
func (b *orgBundle) call(t *testing.T, method, path, body string, out any) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, b.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth("admin", "pw")
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	if ct := res.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("%s %s: %d with Content-Type %q: %s", method, path, res.StatusCode, ct, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: %d %s: %v", method, path, res.StatusCode, data, err)
		}
	}
	return res
}

// wantError checks an answer's status and JSON error code.
func (b *orgBundle) wantError(t *testing.T, method, path, body string, status int, code string) httpapi.APIError {
	t.Helper()
	var e errorBody
	res := b.call(t, method, path, body, &e)
	if res.StatusCode != status || e.Error.Code != code || e.Error.Message == "" {
		t.Errorf("%s %s %s: %d %+v, want %d %s", method, path, body, res.StatusCode, e.Error, status, code)
	}
	return e.Error
}

func TestOrgAPI(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		b := setupOrgs(t, st, directory.SalesforceHosts{})
		ctx := t.Context()

		var parent httpapi.OrgJSON
		res := b.call(t, "POST", "/v1/orgs", `{"name":"Agency","seats":10}`, &parent)
		if res.StatusCode != http.StatusCreated || res.Header.Get("Location") != "/v1/orgs/"+parent.ID {
			t.Fatalf("POST /v1/orgs: %d, Location %q", res.StatusCode, res.Header.Get("Location"))
		}
		if parent.Name != "Agency" || parent.Seats.Limit != 10 || parent.SalesforceLogin != "production" ||
			parent.SalesforceLoginURL != "https://login.salesforce.com" || parent.ParentID != "" {
			t.Fatalf("created %+v", parent)
		}
		var client httpapi.OrgJSON
		b.call(t, "POST", "/v1/orgs", `{"name":"Client","seats":3,"parent_id":"`+parent.ID+`","salesforce_login":"sandbox"}`, &client)
		if client.ParentID != parent.ID || client.SalesforceLogin != "sandbox" || client.SalesforceLoginURL != "https://test.salesforce.com" {
			t.Fatalf("created client %+v", client)
		}
		stored, err := st.GetOrg(ctx, client.ID)
		if err != nil || stored.SalesforceLogin != directory.SalesforceSandbox || stored.ParentOrgID != parent.ID {
			t.Fatalf("stored client %+v %v", stored, err)
		}

		b.wantError(t, "POST", "/v1/orgs", `{"name":"X","seats":0}`, 422, orgs.CodeInvalidSeats)
		b.wantError(t, "POST", "/v1/orgs", `{"name":"","seats":1}`, 422, orgs.CodeInvalidName)
		b.wantError(t, "POST", "/v1/orgs", `{"name":"X","seats":1,"salesforce_login":"staging"}`, 422, orgs.CodeInvalidSalesforceLogin)
		b.wantError(t, "POST", "/v1/orgs", `{"name":"X","seats":1,"parent_id":"nope"}`, 422, orgs.CodeParentNotFound)
		b.wantError(t, "POST", "/v1/orgs", `{"name":"X","seats":1,"colour":"red"}`, 400, "invalid_json")

		// Two seats used in the client: an active member and a pending invite.
		u, err := st.CreateUser(ctx, directory.User{Email: "ann@example.com", Name: "Ann"})
		if err != nil {
			t.Fatal(err)
		}
		mc, err := st.CreateMembership(ctx, client.ID, directory.Membership{UserID: u.ID, Role: directory.RoleAdmin})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.CreateMembership(ctx, parent.ID, directory.Membership{UserID: u.ID, Role: directory.RoleChat, Status: directory.MembershipPending}); err != nil {
			t.Fatal(err)
		}
		if _, err := st.CreateInvite(ctx, client.ID, directory.Invite{Email: "bob@example.com", Role: directory.RoleChat,
			TokenHash: "h-" + client.ID, ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		imp, err := st.CreateImport(ctx, client.ID, directory.Import{Role: directory.RoleChat})
		if err != nil {
			t.Fatal(err)
		}

		var list httpapi.OrgListJSON
		b.call(t, "GET", "/v1/orgs?parent="+parent.ID, "", &list)
		if len(list.Orgs) != 1 || list.Orgs[0].ID != client.ID || list.Orgs[0].Seats.Used != 2 ||
			list.Orgs[0].Seats.Free == nil || *list.Orgs[0].Seats.Free != 1 || list.Next != "" {
			t.Fatalf("client orgs of the parent: %+v", list)
		}
		list = httpapi.OrgListJSON{}
		b.call(t, "GET", "/v1/orgs?limit=1", "", &list)
		if len(list.Orgs) != 1 || list.Orgs[0].ID != parent.ID || *list.Orgs[0].Clients != 1 || list.Next == "" {
			t.Fatalf("first page: %+v", list)
		}
		next := list.Next
		list = httpapi.OrgListJSON{}
		b.call(t, "GET", next, "", &list)
		if next != "/v1/orgs?after="+parent.ID+"&limit=1" || len(list.Orgs) != 1 || list.Orgs[0].ID != client.ID {
			t.Fatalf("second page: %+v", list)
		}
		b.wantError(t, "GET", "/v1/orgs?parent=nope", "", 404, orgs.CodeOrgNotFound)
		b.wantError(t, "GET", "/v1/orgs?limit=0", "", 400, "invalid_limit")

		var ov httpapi.OrgOverviewJSON
		b.call(t, "GET", "/v1/orgs/"+client.ID, "", &ov)
		if ov.ID != client.ID || ov.Seats.Used != 2 || ov.Seats.Active != 1 || ov.Seats.PendingInvites != 1 ||
			ov.Parent == nil || ov.Parent.ID != parent.ID || ov.Parent.Name != "Agency" ||
			ov.TeamConnection.State != "missing" || ov.LastAudit != nil ||
			len(ov.PendingImports) != 1 || ov.PendingImports[0].ID != imp.ID || len(ov.Clients) != 0 {
			t.Fatalf("overview of the client: %+v", ov)
		}
		// The parent has a healthy team connection and an audit with one required check
		// missing and one unknown.
		next1 := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
		if _, err := st.CreateConnection(ctx, parent.ID, connections.Connection{Kind: connections.KindSalesforceTeam,
			State: connections.StateHealthy, ProviderAccountID: "005000000000001AAA", ProviderOrgID: "00D000000000001AAA",
			AccessTokenEnc: []byte("sealed"), NextRefreshAt: next1}); err != nil {
			t.Fatal(err)
		}
		rep, err := st.SavePermissionReport(ctx, parent.ID, permissions.Report{CreatedAt: next1, Checks: []permissions.Check{
			{Name: "connection", Required: true, Result: permissions.ResultOK},
			{Name: "campaign", Required: true, Result: permissions.ResultUnknown},
			{Name: "marketing_user", Required: true, Result: permissions.ResultMissing},
		}})
		if err != nil {
			t.Fatal(err)
		}
		ov = httpapi.OrgOverviewJSON{}
		b.call(t, "GET", "/v1/orgs/"+parent.ID, "", &ov)
		if len(ov.Clients) != 1 || ov.Clients[0].ID != client.ID || ov.Clients[0].Seats.Used != 2 || ov.Parent != nil {
			t.Fatalf("overview of the parent: %+v", ov)
		}
		if tc := ov.TeamConnection; tc.State != "healthy" || tc.ProviderAccountID != "005000000000001AAA" ||
			tc.ProviderOrgID != "00D000000000001AAA" || tc.NextRefreshAt == nil || !tc.NextRefreshAt.Equal(next1) {
			t.Fatalf("team connection of the parent: %+v", tc)
		}
		if a := ov.LastAudit; a == nil || a.ReportID != rep.ID || a.Result != "missing" || !slices.Equal(a.Missing, []string{"marketing_user"}) ||
			!slices.Equal(a.Unknown, []string{"campaign"}) || a.Summary["ok"] != 1 || !a.CreatedAt.Equal(next1) {
			t.Fatalf("last audit of the parent: %+v", ov.LastAudit)
		}
		b.wantError(t, "GET", "/v1/orgs/nope", "", 404, orgs.CodeOrgNotFound)

		e := b.wantError(t, "PATCH", "/v1/orgs/"+client.ID, `{"seats":1}`, 409, orgs.CodeSeatsInUse)
		if !strings.Contains(e.Message, "uses 2 seats") {
			t.Errorf("seats_in_use message: %q", e.Message)
		}
		b.wantError(t, "PATCH", "/v1/orgs/"+parent.ID, `{"parent_id":"`+client.ID+`"}`, 409, orgs.CodeParentCycle)
		b.wantError(t, "PATCH", "/v1/orgs/"+client.ID, `{"parent_id":"nope"}`, 422, orgs.CodeParentNotFound)
		b.wantError(t, "PATCH", "/v1/orgs/nope", `{"seats":5}`, 404, orgs.CodeOrgNotFound)
		b.wantError(t, "PATCH", "/v1/orgs/"+client.ID, `{}`, 422, orgs.CodeEmptyChange)
		ov = httpapi.OrgOverviewJSON{}
		res = b.call(t, "PATCH", "/v1/orgs/"+client.ID, `{"seats":2,"name":"Client 1","parent_id":"","salesforce_login":"production"}`, &ov)
		if res.StatusCode != 200 || ov.Seats.Limit != 2 || ov.Name != "Client 1" || ov.Parent != nil || ov.ParentID != "" || ov.SalesforceLogin != "production" {
			t.Fatalf("PATCH: %d %+v", res.StatusCode, ov)
		}

		var ms httpapi.MembershipsJSON
		b.call(t, "GET", "/v1/users/ANN@example.com/memberships", "", &ms)
		if ms.User.ID != u.ID || len(ms.Memberships) != 2 {
			t.Fatalf("memberships: %+v", ms)
		}
		byOrg := map[string]httpapi.MembershipJSON{}
		for _, m := range ms.Memberships {
			byOrg[m.OrgID] = m
		}
		if m := byOrg[client.ID]; m.Role != directory.RoleAdmin || m.Status != directory.MembershipActive || m.MembershipID != mc.ID || m.OrgName != "Client 1" || m.Default {
			t.Fatalf("membership in the client: %+v", m)
		}
		if m := byOrg[parent.ID]; m.Role != directory.RoleChat || m.Status != directory.MembershipPending {
			t.Fatalf("membership in the parent: %+v", m)
		}
		var byID httpapi.MembershipsJSON
		b.call(t, "GET", "/v1/users/"+u.ID+"/memberships", "", &byID)
		if byID.User.Email != "ann@example.com" || len(byID.Memberships) != 2 {
			t.Fatalf("by id: %+v", byID)
		}
		b.wantError(t, "GET", "/v1/users/nobody@example.com/memberships", "", 404, orgs.CodeUserNotFound)

		other, err := st.CreateOrg(ctx, directory.Org{Name: "Other", SeatLimit: 1})
		if err != nil {
			t.Fatal(err)
		}
		b.wantError(t, "PUT", "/v1/users/ann@example.com/default-org", `{"org_id":"`+other.ID+`"}`, 422, orgs.CodeNotAMember)
		b.wantError(t, "PUT", "/v1/users/ann@example.com/default-org", `{"org_id":"nope"}`, 404, orgs.CodeOrgNotFound)
		var user httpapi.UserJSON
		res = b.call(t, "PUT", "/v1/users/ann@example.com/default-org", `{"org_id":"`+client.ID+`"}`, &user)
		if res.StatusCode != 200 || user.DefaultOrgID != client.ID {
			t.Fatalf("PUT default-org: %d %+v", res.StatusCode, user)
		}
		ms = httpapi.MembershipsJSON{}
		b.call(t, "GET", "/v1/users/"+u.ID+"/memberships", "", &ms)
		for _, m := range ms.Memberships {
			if m.Default != (m.OrgID == client.ID) {
				t.Fatalf("default flag after PUT: %+v", ms.Memberships)
			}
		}
		if ms.User.DefaultOrgID != client.ID {
			t.Fatalf("user's default org %q", ms.User.DefaultOrgID)
		}
	})
}

// A /v1 route asked with a method it does not serve answers 405 in the API's JSON shape,
// with Allow; an unknown /v1 path answers 404 in that shape.
func TestAPIMethodNotAllowedIsJSON(t *testing.T) {
	b := setupOrgs(t, storetest.SQLite(t), directory.SalesforceHosts{})
	for _, tc := range []struct {
		method, path string
		status       int
		code, allow  string
	}{
		{"DELETE", "/v1/orgs", 405, "method_not_allowed", "GET, HEAD, POST"},
		{"PUT", "/v1/orgs/some-org", 405, "method_not_allowed", "GET, HEAD, PATCH"},
		{"GET", "/v1/users/ann@example.com/default-org", 405, "method_not_allowed", "PUT"},
		{"GET", "/v1/nothing-here", 404, "no_route", ""},
	} {
		var e errorBody
		res := b.call(t, tc.method, tc.path, "", &e)
		if res.StatusCode != tc.status || e.Error.Code != tc.code || res.Header.Get("Allow") != tc.allow {
			t.Errorf("%s %s: %d %+v Allow %q; want %d %s Allow %q", tc.method, tc.path, res.StatusCode, e.Error,
				res.Header.Get("Allow"), tc.status, tc.code, tc.allow)
		}
	}
}

// TestOrgLoginURLFollowsTheHosts: with the login hosts pointed at an emulator (as
// TETHER_SALESFORCE_LOGIN_URL and _SANDBOX_LOGIN_URL do), POST, GET and the list of orgs
// answer the emulator's URL, the one the connect flow redirects to, for either login.
func TestOrgLoginURLFollowsTheHosts(t *testing.T) {
	hosts := directory.SalesforceHosts{Production: "http://127.0.0.1:18090/salesforce", Sandbox: "http://127.0.0.1:18090/salesforce-sandbox"}
	b := setupOrgs(t, storetest.SQLite(t), hosts)
	for _, login := range []directory.SalesforceLogin{directory.SalesforceProduction, directory.SalesforceSandbox} {
		want := hosts.URL(login)
		var created httpapi.OrgJSON
		b.call(t, "POST", "/v1/orgs", `{"name":"Org","seats":2,"salesforce_login":"`+string(login)+`"}`, &created)
		if created.SalesforceLogin != login || created.SalesforceLoginURL != want {
			t.Errorf("POST /v1/orgs (%s): salesforce_login_url %q, want %q", login, created.SalesforceLoginURL, want)
		}
		var shown httpapi.OrgOverviewJSON
		b.call(t, "GET", "/v1/orgs/"+created.ID, "", &shown)
		if shown.SalesforceLoginURL != want {
			t.Errorf("GET /v1/orgs/%s (%s): salesforce_login_url %q, want %q", created.ID, login, shown.SalesforceLoginURL, want)
		}
	}
	var list httpapi.OrgListJSON
	b.call(t, "GET", "/v1/orgs", "", &list)
	for _, o := range list.Orgs {
		if want := hosts.URL(o.SalesforceLogin); o.SalesforceLoginURL != want {
			t.Errorf("GET /v1/orgs: org %s (%s) has salesforce_login_url %q, want %q", o.ID, o.SalesforceLogin, o.SalesforceLoginURL, want)
		}
	}
}
