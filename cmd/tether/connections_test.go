package main

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"tether/connectors/sandbox"
	"tether/connectors/sandbox/sfdc"
	"tether/sync/connections"
	"tether/sync/store"
	"tether/worker/httpapi"
	"tether/worker/redistest"
)

// tether connections list|refresh|verify against a team connection over the sandbox: the
// list shows the health, refresh runs now through upkeep (one provider call), and the
// errors name the command or route that helps.
func TestConnectionsVerbs(t *testing.T) {
	ctx := context.Background()
	opt, _ := redistest.Client(t, 11)
	sb := sandbox.New(sandbox.Options{})
	srv := httptest.NewServer(sb)
	t.Cleanup(func() { sb.Close(); srv.Close() })
	if err := sb.LoadScenario(sandbox.Scenario{Salesforce: &sfdc.Scenario{Orgs: []sfdc.OrgSpec{sfdc.GenerateOrg(3, 1)}}}); err != nil {
		t.Fatal(err)
	}
	sfOrg := sb.Salesforce().OrgIDs()[0]
	sfUser := sb.Salesforce().Users(sfOrg)[0]
	grant, err := sb.IssueGrant(sandbox.Salesforce, sfUser, nil)
	if err != nil {
		t.Fatal(err)
	}
	dbURL := "sqlite:" + filepath.Join(t.TempDir(), "tether.db")
	env := map[string]string{
		"TETHER_DATABASE_URL":             dbURL,
		"TETHER_REDIS_URL":                redistest.URL(opt),
		"TETHER_ENCRYPTION_KEYS":          testKeys,
		"TETHER_LINK_SECRET":              testLinkSecret,
		"TETHER_METRICS_ADDR":             "off",
		"TETHER_LOG_LEVEL":                "warn",
		"TETHER_SALESFORCE_LOGIN_URL":     srv.URL + "/salesforce",
		"TETHER_SALESFORCE_CLIENT_ID":     sandbox.DefaultSalesforceClientID,
		"TETHER_SALESFORCE_CLIENT_SECRET": sandbox.DefaultSalesforceClientSecret,
	}
	if r := runTether(t, ctx, env, "migrate", "up"); r.err != nil {
		t.Fatalf("migrate up: %v\n%s", r.err, r.stderr)
	}
	orgID := seedTeamOrg(t, dbURL, srv.URL+"/salesforce", sfOrg, sfUser, grant)

	r := runTether(t, ctx, env, "connections", "list", orgID)
	if r.err != nil || !strings.Contains(r.stdout, "salesforce_team") || !strings.Contains(r.stdout, "healthy") {
		t.Fatalf("list: %v\n%s%s", r.err, r.stdout, r.stderr)
	}
	id := strings.Fields(strings.Split(r.stdout, "\n")[1])[0]

	r = runTether(t, ctx, env, "connections", "refresh", orgID, id)
	if r.err != nil || !strings.Contains(r.stdout, "refresh ok; provider called: true") || !strings.Contains(r.stdout, "healthy") {
		t.Fatalf("refresh: %v\n%s%s", r.err, r.stdout, r.stderr)
	}
	if n := sb.Counters().Endpoint(sandbox.Salesforce, "token").Calls; n != 1 {
		t.Fatalf("%d token calls, want 1", n)
	}
	if strings.Contains(r.stdout, grant.AccessToken) || strings.Contains(r.stdout, grant.RefreshToken) {
		t.Fatal("the output holds a token")
	}

	// A key ring whose k1 is another key (generated again in a new shell) cannot open the
	// tokens: the error says so and that trying again will not help.
	env["TETHER_ENCRYPTION_KEYS"] = "k1:ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8="
	r = runTether(t, ctx, env, "connections", "refresh", orgID, id)
	if r.err == nil || !strings.Contains(r.err.Error(), `(key id "k1")`) || !strings.Contains(r.err.Error(), "trying again will not help") ||
		strings.Contains(r.err.Error(), "try again,") {
		t.Fatalf("refresh under another k1: %v", r.err)
	}
	env["TETHER_ENCRYPTION_KEYS"] = testKeys

	// A failed provider call prints its outcome and exits non-zero, like permissions show:
	// 4 when upkeep retries it by itself, 3 when a person must act.
	if _, err := sb.Faults().Add(sandbox.Fault{Provider: sandbox.Salesforce, Endpoint: "token", Kind: sandbox.FaultStatus, Status: 500, Count: 1}); err != nil {
		t.Fatal(err)
	}
	r = runTether(t, ctx, env, "connections", "refresh", orgID, id)
	if code := exitCode(r.err); code != exitConnectionRetried || !strings.Contains(r.stdout, "refresh failed (transient)") {
		t.Fatalf("refresh on a provider 500: exit %d (%v), want %d\n%s", code, r.err, exitConnectionRetried, r.stdout)
	}
	if err := sb.RevokeGrant(grant.GrantID); err != nil {
		t.Fatal(err)
	}
	r = runTether(t, ctx, env, "connections", "refresh", orgID, id)
	// The team connection has no rep: an admin reconnects it, with the verb named.
	if code := exitCode(r.err); code != exitConnectionNeedsAction || !strings.Contains(r.stdout, "refresh failed (needs_reconnect)") ||
		!strings.Contains(r.err.Error(), "the admin must act") || !strings.Contains(r.err.Error(), "tether org connect-salesforce "+orgID) ||
		!strings.Contains(r.stdout, "never (an admin must reconnect it)") {
		t.Fatalf("refresh of a revoked grant: exit %d (%v), want %d\n%s", code, r.err, exitConnectionNeedsAction, r.stdout)
	}
	r = runTether(t, ctx, env, "connections", "verify", orgID, id)
	if code := exitCode(r.err); code != exitConnectionNeedsAction || !strings.Contains(r.stdout, "verify skipped: the connection needs reconnecting") ||
		!strings.Contains(r.err.Error(), "an admin of the org must connect it again") {
		t.Fatalf("verify of a connection needing reconnecting: exit %d (%v), want %d\n%s", code, r.err, exitConnectionNeedsAction, r.stdout)
	}

	r = runTether(t, ctx, env, "connections", "refresh", orgID, "nope")
	if r.err == nil || !strings.Contains(r.err.Error(), "tether connections list "+orgID) {
		t.Fatalf("refresh of an unknown connection: %v", r.err)
	}
	// --member takes an email as the member verbs do; an unknown member is an error, not
	// "no connections".
	r = runTether(t, ctx, env, "connections", "list", orgID, "--member", "Admin@acme.test")
	if r.err != nil || !strings.Contains(r.stdout, "has no connections for member Admin@acme.test") {
		t.Fatalf("list of a member by email: %v\n%s", r.err, r.stdout)
	}
	// In JSON no connections is an empty list, not the sentence.
	r = runTether(t, ctx, env, "connections", "list", orgID, "--member", "Admin@acme.test", "--json")
	if r.err != nil || !strings.Contains(r.stdout, `"connections": []`) {
		t.Fatalf("list --json of a member without connections: %v\n%s", r.err, r.stdout)
	}
	// A member's connection is listed under the member's email, not only an id.
	st, err := store.Open(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	admin, err := st.GetUserByEmail(ctx, "admin@acme.test")
	if err != nil {
		t.Fatal(err)
	}
	am, err := st.GetMembershipByUser(ctx, orgID, admin.ID)
	if err != nil {
		t.Fatal(err)
	}
	zoom, err := st.CreateConnection(ctx, orgID, connections.Connection{MembershipID: am.ID, Kind: connections.KindZoom, State: connections.StateMissing})
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	r = runTether(t, ctx, env, "connections", "list", orgID)
	if r.err != nil || !regexp.MustCompile(zoom.ID+`\s+zoom\s+admin@acme\.test\s+missing`).MatchString(r.stdout) ||
		!regexp.MustCompile(`salesforce_team\s+\(org\)`).MatchString(r.stdout) {
		t.Fatalf("list with a member's connection: %v\n%s", r.err, r.stdout)
	}
	// --json is the route's document: the team connection's failure as stored, the
	// member's connection under its email.
	r = runTether(t, ctx, env, "connections", "list", orgID, "--json")
	var js httpapi.ConnectionListJSON
	if r.err != nil || json.Unmarshal([]byte(r.stdout), &js) != nil || js.OrgID != orgID || len(js.Connections) != 2 {
		t.Fatalf("list --json: %v\n%s", r.err, r.stdout)
	}
	for _, c := range js.Connections {
		switch c.ID {
		case id:
			if c.Kind != connections.KindSalesforceTeam || c.State != connections.StateNeedsReconnect || c.Code != "invalid_grant" || c.Actor != "admin" || c.MemberEmail != "" {
				t.Errorf("team connection in JSON: %+v", c)
			}
		case zoom.ID:
			if c.Kind != connections.KindZoom || c.MemberEmail != "admin@acme.test" || c.MembershipID != am.ID {
				t.Errorf("member's connection in JSON: %+v", c)
			}
		default:
			t.Errorf("unknown connection in JSON: %+v", c)
		}
	}
	if strings.Contains(r.stdout, grant.AccessToken) || strings.Contains(r.stdout, grant.RefreshToken) {
		t.Fatal("the JSON holds a token")
	}
	r = runTether(t, ctx, env, "connections", "list", orgID, "--member", "nobody@acme.test")
	if r.err == nil || !strings.Contains(r.err.Error(), `has no member "nobody@acme.test"`) {
		t.Fatalf("list of an unknown member: %v\n%s", r.err, r.stdout)
	}
	r = runTether(t, ctx, env, "connections", "refresh", "no-such-org", id)
	if r.err == nil || !strings.Contains(r.err.Error(), "org no-such-org does not exist") {
		t.Fatalf("refresh in an unknown org: %v", r.err)
	}
	r = runTether(t, ctx, env, "connections", "list", "no-such-org")
	if r.err == nil || !strings.Contains(r.err.Error(), "tether org list") {
		t.Fatalf("list of an unknown org: %v", r.err)
	}
	delete(env, "TETHER_REDIS_URL")
	r = runTether(t, ctx, env, "connections", "verify", orgID, id)
	if r.err == nil || !strings.Contains(r.err.Error(), "POST /v1/orgs/{org}/connections/{id}/verify") {
		t.Fatalf("verify without Redis: %v", r.err)
	}
}

// A member's connection revoked by their deactivation is not the rep's to reconnect: the
// refresh's refusal says why nothing refreshes it.
func TestUpkeepExitRevokedByDeactivation(t *testing.T) {
	res := connections.Result{Skipped: "the connection was revoked by its member's deactivation (its tokens are deleted); nothing to refresh until it is connected again from a connect link", Connection: connections.Connection{
		ID: "c1", OrgID: "o1", MembershipID: "m1", Kind: connections.KindGoogleCalendar, State: connections.StateRevoked}}
	err := upkeepExit(connections.OpRefresh, "c1", res)
	if code := exitCode(err); code != exitConnectionNeedsAction || strings.Contains(err.Error(), "the rep must connect it again") ||
		!strings.Contains(err.Error(), "member was deactivated") || !strings.Contains(err.Error(), "tether members connect-link o1 m1 google_calendar") {
		t.Fatalf("exit %d: %v", code, err)
	}
	res.Connection.State = connections.StateNeedsReconnect
	if err := upkeepExit(connections.OpRefresh, "c1", res); err == nil || !strings.Contains(err.Error(), "the rep must connect it again") {
		t.Fatalf("needs_reconnect: %v", err)
	}
}
