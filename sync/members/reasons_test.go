package members

import (
	"slices"
	"strings"
	"testing"

	"tether/sync/connections"
	"tether/sync/directory"
)

func conn(kind connections.Kind, st connections.State, scopes ...string) connections.Connection {
	return connections.Connection{ID: "c-" + string(kind), MembershipID: "m1", Kind: kind, State: st, Scopes: scopes,
		LastErrorCode: map[connections.State]string{connections.StateNeedsAdmin: "user_disabled", connections.StateNeedsReconnect: "invalid_grant"}[st]}
}

func misconfigured() connections.Connection {
	c := conn("salesforce", connections.StateNeedsAdmin)
	c.FailureClass, c.FailureReason = connections.FailMisconfigured, "the client id is unknown to Salesforce"
	return c
}

// summary renders reasons as "requirement:state:actor[:kind][~]" for comparison.
func summary(rs []directory.ActionReason) []string {
	out := []string{}
	for _, r := range rs {
		s := r.Requirement + ":" + r.State + ":" + r.Actor
		if r.Kind != "" {
			s += ":" + r.Kind
		}
		if r.Recommended {
			s += "~"
		}
		out = append(out, s)
	}
	return out
}

func TestReasons(t *testing.T) {
	const photo = "https://img.example/p.png"
	healthy, degraded := connections.StateHealthy, connections.StateDegraded
	custom := directory.Policy{directory.RoleChat: {Connections: []directory.Requirement{{Name: "zoom", AnyOf: []string{"zoom"}}}}}
	for _, tc := range []struct {
		name    string
		policy  directory.Policy
		role    directory.Role
		status  directory.MembershipStatus
		photo   string
		conns   []connections.Connection
		want    []string
		counted bool
		admin   bool
	}{
		{name: "chat with nothing", role: directory.RoleChat,
			want:    []string{"salesforce:missing:rep", "calendar:missing:rep", "conferencing:missing:rep~", "photo:missing:rep"},
			counted: true},
		{name: "chat with everything", role: directory.RoleChat, photo: photo,
			conns: []connections.Connection{conn("salesforce", healthy), conn("google_calendar", degraded), conn("zoom", healthy)},
			want:  []string{}},
		{name: "chat lacking only conferencing is not counted", role: directory.RoleChat, photo: photo,
			conns: []connections.Connection{conn("salesforce", healthy), conn("google_calendar", healthy)},
			want:  []string{"conferencing:missing:rep~"}},
		{name: "one Microsoft grant serves calendar and Teams", role: directory.RoleMeetings, photo: photo,
			conns: []connections.Connection{conn("microsoft_calendar", healthy, connections.ScopeMicrosoftCalendar, connections.ScopeMicrosoftTeams)},
			want:  []string{}},
		{name: "a calendar grant without the Teams scope does not serve Teams", role: directory.RoleMeetings, photo: photo,
			conns: []connections.Connection{conn("microsoft_calendar", healthy, connections.ScopeMicrosoftCalendar)},
			want:  []string{"conferencing:missing:rep~"}},
		{name: "needs_admin is the admin's", role: directory.RoleAdmin,
			conns:   []connections.Connection{conn("salesforce", connections.StateNeedsAdmin)},
			want:    []string{"salesforce:needs_admin:admin:salesforce"},
			counted: true, admin: true},
		{name: "a refused OAuth client is the operator's", role: directory.RoleAdmin,
			conns:   []connections.Connection{misconfigured()},
			want:    []string{"salesforce:needs_admin:operator:salesforce"},
			counted: true, admin: true},
		{name: "needs_reconnect is the rep's", role: directory.RoleCustomAdmin,
			conns:   []connections.Connection{conn("salesforce", connections.StateNeedsReconnect)},
			want:    []string{"salesforce:needs_reconnect:rep:salesforce"},
			counted: true},
		{name: "error waits on the admin", role: directory.RoleMeetings, photo: photo,
			conns:   []connections.Connection{conn("google_calendar", connections.StateError), conn("zoom", healthy)},
			want:    []string{"calendar:error:admin:google_calendar"},
			counted: true, admin: true},
		{name: "the admin's problem outranks the rep's on the same requirement", role: directory.RoleMeetings, photo: photo,
			conns: []connections.Connection{conn("google_calendar", connections.StateNeedsReconnect),
				conn("microsoft_calendar", connections.StateNeedsAdmin), conn("teams", healthy)},
			want:    []string{"calendar:needs_admin:admin:microsoft_calendar"},
			counted: true, admin: true},
		{name: "one working calendar is enough", role: directory.RoleMeetings, photo: photo,
			conns: []connections.Connection{conn("google_calendar", connections.StateRevoked),
				conn("microsoft_calendar", connections.StateRefreshing), conn("zoom", healthy)},
			want: []string{}},
		{name: "revoked asks the rep to connect again", role: directory.RoleAdmin,
			conns:   []connections.Connection{conn("salesforce", connections.StateRevoked)},
			want:    []string{"salesforce:revoked:rep:salesforce"},
			counted: true},
		{name: "the team connection serves no member", role: directory.RoleAdmin,
			conns:   []connections.Connection{{Kind: connections.KindSalesforceTeam, State: healthy}},
			want:    []string{"salesforce:missing:rep"},
			counted: true},
		{name: "pending members have no reasons", role: directory.RoleChat, status: directory.MembershipPending, want: []string{}},
		{name: "deactivated members have no reasons", role: directory.RoleChat, status: directory.MembershipDeactivated, want: []string{}},
		{name: "a custom policy for chat", policy: custom, role: directory.RoleChat,
			want: []string{"zoom:missing:rep"}, counted: true},
		{name: "a role the custom policy leaves out keeps the default", policy: custom, role: directory.RoleMeetings, photo: photo,
			conns: []connections.Connection{conn("google_calendar", healthy)},
			want:  []string{"conferencing:missing:rep~"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pol := tc.policy
			if pol == nil {
				pol = directory.DefaultPolicy()
			}
			st := tc.status
			if st == "" {
				st = directory.MembershipActive
			}
			m := directory.Membership{ID: "m1", Role: tc.role, Status: st, PhotoURL: tc.photo}
			got := Reasons(pol, m, tc.conns)
			if s := summary(got); !slices.Equal(s, tc.want) {
				t.Fatalf("reasons %v, want %v", s, tc.want)
			}
			if directory.Counted(got) != tc.counted || directory.AdminActs(got) != tc.admin {
				t.Fatalf("counted %t admin %t, want %t %t", directory.Counted(got), directory.AdminActs(got), tc.counted, tc.admin)
			}
			for _, r := range got {
				if r.Actor == directory.ActorOperator && !strings.Contains(r.Message, "the client id is unknown to Salesforce") {
					t.Errorf("operator reason %q lacks upkeep's sentence", r.Message)
				}
				if r.Message == "" {
					t.Errorf("reason %s has no message", r.Requirement)
				}
				if r.Kind != "" && r.ConnectionID == "" {
					t.Errorf("reason %s names kind %s without its connection", r.Requirement, r.Kind)
				}
			}
		})
	}
}

func TestParseRolePolicy(t *testing.T) {
	r, rp, err := directory.ParseRolePolicy("chat=salesforce, calendar ,photo,~conferencing")
	if err != nil || r != directory.RoleChat || !rp.Photo || len(rp.Connections) != 3 || !rp.Connections[2].Recommended ||
		!slices.Equal(rp.Connections[1].AnyOf, []string{"google_calendar", "microsoft_calendar"}) {
		t.Fatalf("got %s %+v %v", r, rp, err)
	}
	if s := rp.String(); s != "salesforce,calendar,~conferencing,photo" {
		t.Errorf("String() = %q", s)
	}
	if _, rp, err := directory.ParseRolePolicy("meetings="); err != nil || rp.String() != "nothing" {
		t.Errorf("empty policy: %+v %v", rp, err)
	}
	for _, bad := range []string{"owner=salesforce", "chat", "chat=fax", "chat=~photo", "chat=zoom,zoom", "chat=salesforce_team"} {
		if _, _, err := directory.ParseRolePolicy(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// A reconnect reason names the broken connection, then what else would meet the
// requirement; never "reconnect Google Calendar or Outlook calendar", which reads as if
// both were broken. The other kind of the same Microsoft grant is no alternative.
func TestReconnectMessageNamesTheBrokenKind(t *testing.T) {
	withWhy := func(c connections.Connection) connections.Connection {
		c.FailureReason = "the grant was revoked"
		return c
	}
	teamsToo := conn("microsoft_calendar", connections.StateNeedsReconnect, connections.ScopeMicrosoftCalendar, connections.ScopeMicrosoftTeams)
	for _, tc := range []struct {
		role  directory.Role
		conns []connections.Connection
		want  []string
	}{
		{directory.RoleMeetings, []connections.Connection{withWhy(conn("google_calendar", connections.StateNeedsReconnect))},
			[]string{"reconnect Google Calendar, or connect Outlook calendar instead (google_calendar: the grant was revoked)",
				"connect Zoom or Microsoft Teams"}},
		{directory.RoleAdmin, []connections.Connection{conn("salesforce", connections.StateNeedsReconnect)},
			[]string{"reconnect Salesforce (salesforce)"}},
		{directory.RoleAdmin, []connections.Connection{conn("salesforce", connections.StateRevoked)},
			[]string{"the Salesforce connection was revoked; connect Salesforce again"}},
		{directory.RoleMeetings, []connections.Connection{conn("zoom", connections.StateRevoked), conn("google_calendar", connections.StateHealthy)},
			[]string{"the Zoom connection was revoked; connect Zoom again, or connect Microsoft Teams instead"}},
		{directory.RoleMeetings, []connections.Connection{teamsToo},
			[]string{"reconnect Outlook calendar, or connect Google Calendar instead (microsoft_calendar)",
				"reconnect Outlook calendar, or connect Zoom instead (microsoft_calendar)"}},
	} {
		m := directory.Membership{ID: "m1", Role: tc.role, Status: directory.MembershipActive, PhotoURL: "https://img.example/p.png"}
		var got []string
		for _, r := range Reasons(directory.DefaultPolicy(), m, tc.conns) {
			got = append(got, r.Message)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s with %s: %q, want %q", tc.role, tc.conns[0].Kind, got, tc.want)
		}
	}
}
