package httpapi_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"tether/sync/connections"
	"tether/sync/directory"
	"tether/sync/members"
	"tether/sync/orgs"
	"tether/sync/store"
	"tether/sync/store/storetest"
	"tether/worker/httpapi"
)

func setupMembers(t *testing.T, st *store.Store) *orgBundle {
	t.Helper()
	ms, err := members.New(members.Config{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	os, err := orgs.New(orgs.Config{Store: st, Members: ms})
	if err != nil {
		t.Fatal(err)
	}
	server, err := httpapi.New(httpapi.Params{Logger: zerolog.Nop(), Gatherer: prometheus.NewRegistry(),
		AdminUser: "admin", AdminPassword: "pw", Orgs: os, Members: ms})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(server)
	t.Cleanup(srv.Close)
	return &orgBundle{st: st, url: srv.URL}
}

// TestMembersAPI drives Action Required through the routes on both stores: the counts of
// every filter match the store and the listing, reasons follow connections, photos, roles
// and the org's policy, and no token leaves.
func TestMembersAPI(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		b := setupMembers(t, st)
		ctx := t.Context()
		now := time.Now()
		org, err := st.CreateOrg(ctx, directory.Org{Name: "Acme", SeatLimit: 50, CreatedAt: now})
		if err != nil {
			t.Fatal(err)
		}
		add := func(email string, role directory.Role, status directory.MembershipStatus) directory.Membership {
			u, err := st.CreateUser(ctx, directory.User{Email: email, Name: strings.Split(email, "@")[0], CreatedAt: now})
			if err != nil {
				t.Fatal(err)
			}
			m, err := st.CreateMembership(ctx, org.ID, directory.Membership{UserID: u.ID, Role: role, Status: status, CreatedAt: now})
			if err != nil {
				t.Fatal(err)
			}
			return m
		}
		connect := func(m directory.Membership, kind connections.Kind, state connections.State, scopes ...string) {
			_, err := st.CreateConnection(ctx, org.ID, connections.Connection{MembershipID: m.ID, Kind: kind, State: state,
				Scopes: scopes, AccessTokenEnc: []byte("sealed-access"), RefreshTokenEnc: []byte("sealed-refresh"),
				LastErrorCode: map[connections.State]string{connections.StateNeedsAdmin: "user_disabled"}[state], CreatedAt: now})
			if err != nil {
				t.Fatal(err)
			}
		}
		admin := add("ann@acme.example", directory.RoleAdmin, directory.MembershipActive)
		connect(admin, connections.KindSalesforce, connections.StateNeedsAdmin)
		chat := add("bob@acme.example", directory.RoleChat, directory.MembershipActive)
		connect(chat, connections.KindSalesforce, connections.StateHealthy)
		connect(chat, connections.KindMicrosoftCalendar, connections.StateHealthy, connections.ScopeMicrosoftCalendar, connections.ScopeMicrosoftTeams)
		meet := add("cat@acme.example", directory.RoleMeetings, directory.MembershipActive)
		connect(meet, connections.KindGoogleCalendar, connections.StateNeedsReconnect)
		add("dan@acme.example", directory.RoleChat, directory.MembershipPending)
		eve := add("eve@acme.example", directory.RoleCustomAdmin, directory.MembershipDeactivated)
		connect(eve, connections.KindSalesforce, connections.StateRevoked)

		var page httpapi.MemberListJSON
		b.call(t, "GET", "/v1/orgs/"+org.ID+"/members", "", &page)
		if len(page.Members) != 5 || page.Members[0].ReasonsCheckedAt != nil {
			t.Fatalf("before recompute: %+v", page.Members)
		}
		var rc httpapi.RecomputeJSON
		if res := b.call(t, "POST", "/v1/orgs/"+org.ID+"/members/recompute", "", &rc); res.StatusCode != 200 || rc.Members != 5 || rc.ActionRequired != 3 {
			t.Fatalf("recompute: %d %+v", res.StatusCode, rc)
		}

		byEmail := func(p httpapi.MemberListJSON) map[string]httpapi.MemberJSON {
			out := map[string]httpapi.MemberJSON{}
			for _, m := range p.Members {
				out[m.Email] = m
			}
			return out
		}
		b.call(t, "GET", "/v1/orgs/"+org.ID+"/members?filter=all", "", &page)
		got := byEmail(page)
		ann, bob, cat := got["ann@acme.example"], got["bob@acme.example"], got["cat@acme.example"]
		if len(ann.Reasons) != 1 || ann.Reasons[0].Actor != "admin" || ann.Reasons[0].State != "needs_admin" || ann.Reasons[0].Code != "user_disabled" ||
			len(ann.Connections) != 1 || ann.Connections[0].Actor != "admin" {
			t.Errorf("admin with a disabled Salesforce user: %+v", ann)
		}
		// One Microsoft grant serves calendar and Teams; only the photo is missing.
		if !bob.ActionRequired || len(bob.Reasons) != 1 || bob.Reasons[0].Requirement != "photo" || bob.Reasons[0].Actor != "rep" ||
			len(bob.Connections) != 2 || fmt.Sprint(bob.Connections[1].Serves) != "[microsoft_calendar teams]" {
			t.Errorf("chat member: %+v", bob)
		}
		if len(cat.Reasons) != 3 || cat.Reasons[0].Requirement != "calendar" || cat.Reasons[0].State != "needs_reconnect" ||
			cat.Reasons[0].Actor != "rep" || !cat.Reasons[1].Recommended {
			t.Errorf("meetings member: %+v", cat.Reasons)
		}
		if got["dan@acme.example"].ActionRequired || len(got["eve@acme.example"].Reasons) != 0 {
			t.Errorf("pending or deactivated member with reasons: %+v", page.Members)
		}
		// A deactivated member's revoked connections are nobody's to fix.
		if cs := got["eve@acme.example"].Connections; len(cs) != 1 || cs[0].State != connections.StateRevoked || cs[0].Actor != "" {
			t.Errorf("deactivated member's connections: %+v", cs)
		}
		// People invited who have no tether user yet are in no filter; the page counts the
		// invitations still open (not the expired one) so an admin does not read "pending 0".
		if page.PendingInvites != 0 {
			t.Errorf("pending_invites %d before any invite, want 0", page.PendingInvites)
		}
		for i, exp := range []time.Time{now.Add(time.Hour), now.Add(2 * time.Hour), now.Add(-time.Minute)} {
			if _, err := st.CreateInvite(ctx, org.ID, directory.Invite{Email: fmt.Sprintf("inv%d@acme.example", i), Role: directory.RoleChat,
				TokenHash: fmt.Sprintf("hash-%d", i), Status: directory.InvitePending, ExpiresAt: exp, CreatedAt: now}); err != nil {
				t.Fatal(err)
			}
		}
		b.call(t, "GET", "/v1/orgs/"+org.ID+"/members?filter=pending", "", &page)
		if page.PendingInvites != 2 || page.Counts[directory.FilterPending].Members != 1 {
			t.Errorf("pending_invites %d, pending members %d; want 2 open invitations and dan's pending membership",
				page.PendingInvites, page.Counts[directory.FilterPending].Members)
		}

		// Every filter's counts equal the store's and what the filter lists.
		want, err := st.CountMemberships(ctx, org.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range directory.MemberFilters() {
			var p, ar httpapi.MemberListJSON
			b.call(t, "GET", "/v1/orgs/"+org.ID+"/members?filter="+string(f), "", &p)
			b.call(t, "GET", "/v1/orgs/"+org.ID+"/members?action_required=true&filter="+string(f), "", &ar)
			if p.Counts[f] != want.Of(f) || len(p.Members) != want.Of(f).Members || len(ar.Members) != want.Of(f).ActionRequired {
				t.Errorf("filter %s: counts %+v, listed %d (%d action required), store %+v", f, p.Counts[f], len(p.Members), len(ar.Members), want.Of(f))
			}
			if len(p.Counts) != len(directory.MemberFilters()) {
				t.Errorf("filter %s: counts of %d filters", f, len(p.Counts))
			}
		}
		if c := page.Counts; c[directory.FilterAll] != (directory.FilterCount{Members: 5, ActionRequired: 3}) ||
			c[directory.FilterAdmin] != (directory.FilterCount{Members: 1, ActionRequired: 1}) ||
			c[directory.FilterDeactivated] != (directory.FilterCount{Members: 1}) {
			t.Errorf("counts %+v", c)
		}

		// Paging carries the filter.
		var p1, p2 httpapi.MemberListJSON
		b.call(t, "GET", "/v1/orgs/"+org.ID+"/members?filter=active&limit=2", "", &p1)
		if len(p1.Members) != 2 || !strings.Contains(p1.Next, "filter=active") {
			t.Fatalf("page 1: %d members, next %q", len(p1.Members), p1.Next)
		}
		b.call(t, "GET", p1.Next, "", &p2)
		if len(p2.Members) != 1 || p2.Next != "" || p2.Members[0].ID <= p1.Members[1].ID {
			t.Fatalf("page 2: %+v next %q", p2.Members, p2.Next)
		}

		// A photo meets bob's last requirement; a role change brings the role's policy.
		var m httpapi.MemberJSON
		b.call(t, "PATCH", "/v1/orgs/"+org.ID+"/members/bob@acme.example", `{"photo_url":"https://img.example/bob.png"}`, &m)
		if m.ActionRequired || len(m.Reasons) != 0 {
			t.Errorf("after photo: %+v", m)
		}
		// The answer is the member as the list shows it: its email and its connections.
		if m.Email != "bob@acme.example" || len(m.Connections) != 2 {
			t.Errorf("after photo: email %q, %d connections; want bob@acme.example and 2", m.Email, len(m.Connections))
		}
		b.call(t, "PATCH", "/v1/orgs/"+org.ID+"/members/"+meet.ID, `{"role":"admin"}`, &m)
		if m.Role != directory.RoleAdmin || len(m.Reasons) != 1 || m.Reasons[0].Requirement != "salesforce" {
			t.Errorf("after role change: %+v", m)
		}
		// The org's policy: chat needs Zoom now; bob has none.
		var ov httpapi.OrgOverviewJSON
		b.call(t, "PATCH", "/v1/orgs/"+org.ID, `{"policy":{"chat":"zoom,photo"}}`, &ov)
		if ov.Policy[directory.RoleChat] != "zoom,photo" || ov.Policy[directory.RoleMeetings] != "calendar,~conferencing,photo" {
			t.Errorf("policy %+v", ov.Policy)
		}
		b.call(t, "GET", "/v1/orgs/"+org.ID+"/members?filter=chat&action_required=true", "", &page)
		if len(page.Members) != 1 || page.Members[0].Email != "bob@acme.example" || page.Members[0].Reasons[0].Requirement != "zoom" {
			t.Errorf("chat action required after the policy change: %+v", page.Members)
		}

		b.wantError(t, "GET", "/v1/orgs/"+org.ID+"/members?filter=everyone", "", http.StatusBadRequest, members.CodeInvalidFilter)
		b.wantError(t, "GET", "/v1/orgs/nope/members", "", http.StatusNotFound, members.CodeOrgNotFound)
		b.wantError(t, "PATCH", "/v1/orgs/"+org.ID+"/members/nobody@acme.example", `{"role":"chat"}`, http.StatusNotFound, members.CodeMemberNotFound)
		b.wantError(t, "PATCH", "/v1/orgs/"+org.ID+"/members/"+chat.ID, `{"role":"owner"}`, http.StatusUnprocessableEntity, members.CodeInvalidRole)
		// A deactivated member is changed by inviting them again, not by a PATCH.
		b.wantError(t, "PATCH", "/v1/orgs/"+org.ID+"/members/"+eve.ID, `{"role":"chat"}`, http.StatusConflict, members.CodeDeactivated)
		b.wantError(t, "PATCH", "/v1/orgs/"+org.ID+"/members/"+chat.ID, `{"photo_url":"javascript:alert(1)"}`, http.StatusUnprocessableEntity, members.CodeInvalidPhoto)
		b.wantError(t, "PATCH", "/v1/orgs/"+org.ID, `{"policy":{"chat":"fax"}}`, http.StatusUnprocessableEntity, orgs.CodeInvalidPolicy)
		// An empty policy names nothing to change: refused, not answered 200 as if set.
		if e := b.wantError(t, "PATCH", "/v1/orgs/"+org.ID, `{"policy":{}}`, http.StatusUnprocessableEntity, orgs.CodeInvalidPolicy); !strings.Contains(e.Message, "at least one role") {
			t.Errorf("empty policy: message %q does not say what a policy must contain", e.Message)
		}
		b.call(t, "GET", "/v1/orgs/"+org.ID, "", &ov)
		if ov.Policy[directory.RoleChat] != "zoom,photo" {
			t.Errorf("policy after the refused empty one: %+v", ov.Policy)
		}
	})
}

// TestMembersAPINeverShowsTokens: the sealed token bytes and field names stay out of the
// answer.
func TestMembersAPINeverShowsTokens(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		b := setupMembers(t, st)
		ctx := t.Context()
		org, _ := st.CreateOrg(ctx, directory.Org{Name: "Acme", SeatLimit: 5})
		u, _ := st.CreateUser(ctx, directory.User{Email: "rep@acme.example"})
		m, _ := st.CreateMembership(ctx, org.ID, directory.Membership{UserID: u.ID, Role: directory.RoleChat})
		if _, err := st.CreateConnection(ctx, org.ID, connections.Connection{MembershipID: m.ID, Kind: connections.KindZoom,
			State: connections.StateHealthy, AccessTokenEnc: []byte("SEALED-A"), RefreshTokenEnc: []byte("SEALED-R")}); err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequestWithContext(ctx, "GET", b.url+"/v1/orgs/"+org.ID+"/members", nil)
		req.SetBasicAuth("admin", "pw")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		body := readAll(t, res)
		if !strings.Contains(body, `"kind":"zoom"`) || strings.Contains(body, "token") || strings.Contains(body, "U0VBTEVE") {
			t.Fatalf("body: %s", body)
		}
	})
}
