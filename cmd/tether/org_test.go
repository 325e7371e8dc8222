package main

import (
	"context"
	"encoding/json"
	"maps"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"tether/config"
	"tether/sync/connections"
	"tether/sync/directory"
	"tether/sync/permissions"
	"tether/sync/store"
	"tether/worker/httpapi"
)

// TestOrgAndUserVerbs runs tether org create/list/show/set and tether users
// memberships/set-default-org through run, on both backends: a parent with a client org,
// the refusals a person reads (bad seats, unknown parent, a cycle, seats below those in
// use, a default org the user is not in), and what show prints of seats, the team
// connection, the last audit and pending imports.
func TestOrgAndUserVerbs(t *testing.T) {
	eachBackend(t, func(t *testing.T, v *verbTest) {
		ok, refused := v.ok, v.refused

		out := ok("org", "create", "--name", "Agency", "--seats", "10")
		parent := strings.SplitN(out, "\n", 2)[0]
		if !strings.Contains(out, `created org "Agency": 10 seats, Salesforce production (https://login.salesforce.com)`) {
			t.Fatalf("create output:\n%s", out)
		}
		out = ok("org", "create", "--name", "Client A", "--seats", "3", "--parent", parent, "--salesforce-login", "sandbox")
		client := strings.SplitN(out, "\n", 2)[0]
		if !strings.Contains(out, "Salesforce sandbox (https://test.salesforce.com), client of org "+parent) {
			t.Fatalf("create client output:\n%s", out)
		}
		if out := ok("org", "create", "--name", "Solo", "--seats", "1"); !strings.Contains(out, `created org "Solo": 1 seat, Salesforce`) {
			t.Errorf("create with one seat:\n%s", out)
		}
		refused("seats must be a whole number from 1 to", "org", "create", "--name", "X", "--seats", "0")
		refused(`no parent org with id "nope"`, "org", "create", "--name", "X", "--seats", "1", "--parent", "nope")
		refused("use production (login.salesforce.com) or sandbox", "org", "create", "--name", "X", "--seats", "1", "--salesforce-login", "staging")
		refused("tether org create: missing --name (usage: tether org create --name N", "org", "create", "--seats", "1")
		refused("an org needs a name", "org", "create", "--name", "  ", "--seats", "1")

		// Two seats used in the client (an active member, a pending invite), a queued
		// import and a report with a missing check; ann is also in the parent, which
		// has a healthy team connection.
		seedOrgState(t, v.st, parent, client)

		list := ok("org", "list")
		for _, re := range []string{
			`(?m)^` + parent + `\s+Agency\s+-\s+1\s+10\s+9\s+1\s+production`,
			`(?m)^` + client + `\s+Client A\s+` + parent + `\s+2\s+3\s+1\s+0\s+sandbox`,
		} {
			if !regexp.MustCompile(re).MatchString(list) {
				t.Errorf("org list does not match %s:\n%s", re, list)
			}
		}
		clients := ok("org", "list", "--parent", parent)
		if !regexp.MustCompile(`(?m)^`+client+`\s+Client A\s+2\s+3\s+1\s+0\s+sandbox`).MatchString(clients) ||
			strings.Contains(clients, "Agency") {
			t.Errorf("org list --parent:\n%s", clients)
		}
		if out := ok("org", "list", "--parent", client); !strings.Contains(out, "has no client orgs") {
			t.Errorf("a client's clients:\n%s", out)
		}
		refused(`no org with id "nope"`, "org", "list", "--parent", "nope")
		var ol httpapi.OrgListJSON
		if err := json.Unmarshal([]byte(ok("org", "list", "--parent", parent, "--json")), &ol); err != nil {
			t.Fatal(err)
		}
		if len(ol.Orgs) != 1 || ol.Orgs[0].ID != client || ol.Orgs[0].ParentID != parent || ol.Orgs[0].Seats.Used != 2 ||
			ol.Orgs[0].Seats.Limit != 3 || ol.Orgs[0].Clients == nil || *ol.Orgs[0].Clients != 0 || ol.Next != "" {
			t.Errorf("org list --parent --json: %+v", ol)
		}
		if out := ok("org", "list", "--parent", client, "--json"); !strings.Contains(out, `"orgs": []`) {
			t.Errorf("a client's clients in JSON:\n%s", out)
		}

		show := ok("org", "show", client)
		for _, want := range []string{
			`org ` + client + ` "Client A"`,
			"parent: " + parent + ` "Agency"`,
			"seats: 2 used of 3 (1 active member, 1 pending invite), 1 free",
			"salesforce login: sandbox (https://test.salesforce.com)",
			"team Salesforce connection: missing (tether org connect-salesforce " + client + " prints a link to connect it)",
			"salesforce session timeout: 2h0m0s, the configured default (TETHER_SALESFORCE_SESSION_TIMEOUT; learned when a Salesforce connection connects)",
			"last permission audit: missing at 2026-03-02T09:30:00Z",
			"missing: marketing_user",
			"pending imports: 1",
			"queued",
			"client orgs: none",
		} {
			if !strings.Contains(show, want) {
				t.Errorf("org show lacks %q:\n%s", want, show)
			}
		}
		show = ok("org", "show", parent)
		if !strings.Contains(show, "client orgs: 1") || !regexp.MustCompile(client+`\s+Client A\s+2\s+3\s+1`).MatchString(show) ||
			!strings.Contains(show, "last permission audit: none yet") || !strings.Contains(show, "pending imports: none") ||
			!strings.Contains(show, "team Salesforce connection: healthy, integration user 005000000000001AAA, Salesforce org 00D000000000001AAA, next refresh 2026-03-02T10:30:00Z\n") {
			t.Errorf("org show of the parent:\n%s", show)
		}
		refused(`no org with id "nope"`, "org", "show", "nope")
		// --json is the route's document: the same seats, connection and client orgs.
		var js httpapi.OrgOverviewJSON
		if err := json.Unmarshal([]byte(ok("org", "show", parent, "--json")), &js); err != nil {
			t.Fatal(err)
		}
		if js.ID != parent || js.Name != "Agency" || js.TeamConnection.State != "healthy" || js.TeamConnection.ProviderAccountID != "005000000000001AAA" ||
			len(js.Clients) != 1 || js.Clients[0].ID != client || js.Clients[0].Seats.Used != 2 || js.LastAudit != nil || len(js.PendingImports) != 0 {
			t.Errorf("org show --json of the parent: %+v", js)
		}
		if err := json.Unmarshal([]byte(ok("org", "show", client, "--json")), &js); err != nil {
			t.Fatal(err)
		}
		if js.Parent == nil || js.Parent.ID != parent || js.Seats.Used != 2 || js.Seats.Limit != 3 || js.TeamConnection.State != "missing" ||
			js.LastAudit == nil || len(js.PendingImports) != 1 || js.SalesforceLogin != directory.SalesforceSandbox {
			t.Errorf("org show --json of the client: %+v", js)
		}

		refused("uses 2 seats (1 active member, 1 pending invite), so its seats cannot go below 2 (asked 1)", "org", "set", client, "--seats", "1")
		if out := ok("org", "set", client, "--seats", "2", "--name", "Client A1"); !strings.Contains(out, `"Client A1": 2 seats, client of org `+parent) {
			t.Errorf("org set:\n%s", out)
		}
		refused("so it cannot be its parent", "org", "set", parent, "--parent", client)
		refused("cannot be its own parent", "org", "set", client, "--parent", client)
		refused("nothing to change", "org", "set", client)
		if out := ok("org", "set", client, "--no-parent"); !strings.Contains(out, "no parent") {
			t.Errorf("org set --no-parent:\n%s", out)
		}

		mem := ok("users", "memberships", "ANN@example.com")
		if !strings.Contains(mem, "<ann@example.com>: 2 orgs\n") || !regexp.MustCompile(parent+`\s+Agency\s+chat\s+active`).MatchString(mem) ||
			!regexp.MustCompile(client+`\s+Client A1\s+admin\s+active`).MatchString(mem) || strings.Contains(mem, "yes") {
			t.Errorf("users memberships:\n%s", mem)
		}
		var mj httpapi.MembershipsJSON
		if err := json.Unmarshal([]byte(ok("users", "memberships", "ANN@example.com", "--json")), &mj); err != nil {
			t.Fatal(err)
		}
		if mj.User.Email != "ann@example.com" || len(mj.Memberships) != 2 {
			t.Fatalf("users memberships --json: %+v", mj)
		}
		for _, m := range mj.Memberships {
			if want := map[string]directory.Role{parent: directory.RoleChat, client: directory.RoleAdmin}[m.OrgID]; m.Role != want ||
				m.Status != directory.MembershipActive || m.Default || m.MembershipID == "" {
				t.Errorf("users memberships --json: %+v, want role %q", m, want)
			}
		}
		other := v.org("Other", 1)
		refused("the default org must be one of their orgs", "users", "set-default-org", "ann@example.com", other)
		refused(`no user "nobody@example.com"`, "users", "memberships", "nobody@example.com")
		ok("users", "set-default-org", "ann@example.com", client)
		mem = ok("users", "memberships", "ann@example.com")
		if !regexp.MustCompile(client + `\s+Client A1\s+admin\s+active\s+yes`).MatchString(mem) {
			t.Errorf("default not marked:\n%s", mem)
		}
	})
}

// seedOrgState writes what no org verb creates: members, an invite, an import, a report.
func seedOrgState(t *testing.T, st *store.Store, parent, client string) {
	t.Helper()
	ctx := context.Background()
	at := time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC)
	ann, err := st.CreateUser(ctx, directory.User{Email: "ann@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	for org, role := range map[string]directory.Role{client: directory.RoleAdmin, parent: directory.RoleChat} {
		if _, err := st.CreateMembership(ctx, org, directory.Membership{UserID: ann.ID, Role: role}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.CreateInvite(ctx, client, directory.Invite{Email: "bob@example.com", Role: directory.RoleChat,
		TokenHash: "h", ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateImport(ctx, client, directory.Import{Role: directory.RoleChat}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateConnection(ctx, parent, connections.Connection{Kind: connections.KindSalesforceTeam,
		State: connections.StateHealthy, ProviderAccountID: "005000000000001AAA", ProviderOrgID: "00D000000000001AAA",
		AccessTokenEnc: []byte("sealed"), NextRefreshAt: at.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.SavePermissionReport(ctx, client, permissions.Report{CreatedAt: at, Checks: []permissions.Check{
		{Name: "connection", Required: true, Result: permissions.ResultOK},
		{Name: "marketing_user", Required: true, Result: permissions.ResultMissing},
	}}); err != nil {
		t.Fatal(err)
	}
}

// verbTest is a CLI verb test on one backend: a migrated database that
// TETHER_DATABASE_URL names (with any other env given), the store open on it, and the
// ways to run verbs a test needs.
type verbTest struct {
	t     *testing.T
	ctx   context.Context
	env   map[string]string
	dbURL string
	st    *store.Store
}

// eachBackend runs fn on SQLite and on PostgreSQL, each a fresh migrated database.
func eachBackend(t *testing.T, fn func(t *testing.T, v *verbTest)) {
	backends := map[string]string{
		"sqlite":   "sqlite:" + filepath.Join(t.TempDir(), "tether.db"),
		"postgres": freshPostgres(t),
	}
	for name, dbURL := range backends {
		t.Run(name, func(t *testing.T) { fn(t, newVerbTest(t, dbURL, nil)) })
	}
}

// newVerbTest migrates dbURL with `tether migrate up` and opens the store on it (closed
// when t ends); env adds variables to TETHER_DATABASE_URL.
func newVerbTest(t *testing.T, dbURL string, env map[string]string) *verbTest {
	t.Helper()
	v := &verbTest{t: t, ctx: context.Background(), env: map[string]string{"TETHER_DATABASE_URL": dbURL}, dbURL: dbURL}
	maps.Copy(v.env, env)
	v.ok("migrate", "up")
	st, err := store.Open(v.ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	v.st = st
	return v
}

// run runs `tether args...` in-process.
func (v *verbTest) run(args ...string) result {
	v.t.Helper()
	return runTether(v.t, v.ctx, v.env, args...)
}

// ok runs the verb and returns its output; an error fails the test.
func (v *verbTest) ok(args ...string) string {
	v.t.Helper()
	r := v.run(args...)
	if r.err != nil {
		v.t.Fatalf("tether %s: %v\n%s%s", strings.Join(args, " "), r.err, r.stdout, r.stderr)
	}
	return r.stdout
}

// refused runs the verb and expects an error containing want.
func (v *verbTest) refused(want string, args ...string) {
	v.t.Helper()
	r := v.run(args...)
	if r.err == nil || !strings.Contains(r.err.Error(), want) {
		v.t.Errorf("tether %s: got %v (%s), want an error containing %q", strings.Join(args, " "), r.err, r.stdout, want)
	}
}

// org creates an org with `tether org create` and returns its id.
func (v *verbTest) org(name string, seats int) string {
	v.t.Helper()
	return strings.SplitN(v.ok("org", "create", "--name", name, "--seats", strconv.Itoa(seats)), "\n", 2)[0]
}

// member adds a user with email to the store and makes them a member of org.
func (v *verbTest) member(org, email string, role directory.Role, status directory.MembershipStatus) directory.Membership {
	v.t.Helper()
	u, err := v.st.CreateUser(v.ctx, directory.User{Email: email})
	if err != nil {
		v.t.Fatal(err)
	}
	m, err := v.st.CreateMembership(v.ctx, org, directory.Membership{UserID: u.ID, Role: role, Status: status})
	if err != nil {
		v.t.Fatal(err)
	}
	return m
}

// TestOrgLoginURLIsTheConnectFlows: with the login hosts pointed at an emulator, org
// create and org show print the host the connect flow starts OAuth at, not the real
// Salesforce's.
func TestOrgLoginURLIsTheConnectFlows(t *testing.T) {
	env := map[string]string{
		"TETHER_SALESFORCE_LOGIN_URL":         "http://127.0.0.1:18090/salesforce",
		"TETHER_SALESFORCE_SANDBOX_LOGIN_URL": "http://127.0.0.1:18090/salesforce-sandbox",
	}
	v := newVerbTest(t, "sqlite:"+filepath.Join(t.TempDir(), "tether.db"), env)
	cfg, err := config.Load(func(k string) string { return v.env[k] }, nil)
	if err != nil {
		t.Fatal(err)
	}
	flowLogin := salesforceLogin(cfg)

	for _, login := range []directory.SalesforceLogin{directory.SalesforceProduction, directory.SalesforceSandbox} {
		out := v.ok("org", "create", "--name", "Org "+string(login), "--seats", "2", "--salesforce-login", string(login))
		id := strings.SplitN(out, "\n", 2)[0]
		o, err := v.st.GetOrg(v.ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		want := flowLogin(o)
		if !strings.HasPrefix(want, "http://127.0.0.1:18090/") {
			t.Fatalf("the connect flow starts %s orgs at %s, not the configured emulator", login, want)
		}
		if !strings.Contains(out, "Salesforce "+string(login)+" ("+want+")") {
			t.Errorf("org create of a %s org prints another login URL than the connect flow's %s:\n%s", login, want, out)
		}
		if show := v.ok("org", "show", id); !strings.Contains(show, "salesforce login: "+string(login)+" ("+want+")\n") {
			t.Errorf("org show of a %s org prints another login URL than the connect flow's %s:\n%s", login, want, show)
		}
	}
}
