package httpapi_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"tether/connectors/sandbox"
	"tether/connectors/sandbox/sandboxtest"
	"tether/connectors/sandbox/sfdc"
	"tether/sync/connections"
	"tether/sync/directory"
	"tether/sync/members"
	"tether/sync/orgs"
	"tether/sync/store"
	"tether/sync/store/storetest"
	"tether/worker/httpapi"
)

const dbConnections = 12

// The operator's connection routes on both stores, over the sandbox: the list shows the
// health and never a token; refresh runs now through upkeep; an unknown connection is a
// 404 naming the list route; a provider's asked delay is a 429 with Retry-After and no
// provider call.
func TestConnectionsAPI(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ctx := t.Context()
		sf := sandboxtest.NewSalesforceOrg(t, sfdc.GenerateOrg(3, 0))
		org, err := st.CreateOrg(ctx, directory.Org{Name: "Acme", SeatLimit: 5})
		if err != nil {
			t.Fatal(err)
		}
		team := storetest.NewTeam(t, storetest.TeamParams{Store: st, OrgID: org.ID, SandboxURL: sf.URL, Grant: sf.Grant,
			SFUser: sf.UserID, SFOrg: sf.OrgID, RedisDB: dbConnections})
		up, err := connections.NewUpkeep(connections.UpkeepParams{Tokens: team.Tokens, List: st})
		if err != nil {
			t.Fatal(err)
		}
		ms, err := members.New(members.Config{Store: st})
		if err != nil {
			t.Fatal(err)
		}
		os, err := orgs.New(orgs.Config{Store: st, Members: ms})
		if err != nil {
			t.Fatal(err)
		}
		server, err := httpapi.New(httpapi.Params{Logger: zerolog.Nop(), Gatherer: prometheus.NewRegistry(),
			AdminUser: "admin", AdminPassword: "pw", Connections: up, Members: ms, Orgs: os})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(server)
		t.Cleanup(srv.Close)
		b := &orgBundle{st: st, url: srv.URL}

		var list struct {
			Connections []httpapi.ConnectionJSON `json:"connections"`
		}
		res := b.call(t, http.MethodGet, "/v1/orgs/"+org.ID+"/connections", "", &list)
		if res.StatusCode != http.StatusOK || len(list.Connections) != 1 || list.Connections[0].ID != team.ConnectionID ||
			list.Connections[0].State != connections.StateHealthy || list.Connections[0].Kind != connections.KindSalesforceTeam ||
			list.Connections[0].MemberEmail != "" {
			t.Fatalf("list: %d %+v", res.StatusCode, list)
		}

		// ?member= takes a membership id or an email, as the member routes do; an unknown
		// member or org is a 404, never an empty list that reads as "no connections".
		u, err := st.CreateUser(ctx, directory.User{Email: "rep@acme.example"})
		if err != nil {
			t.Fatal(err)
		}
		m, err := st.CreateMembership(ctx, org.ID, directory.Membership{UserID: u.ID, Role: directory.RoleChat, Status: directory.MembershipActive})
		if err != nil {
			t.Fatal(err)
		}
		zoom, err := st.CreateConnection(ctx, org.ID, connections.Connection{MembershipID: m.ID, Kind: connections.KindZoom,
			State: connections.StateHealthy, AccessTokenEnc: []byte("sealed-access"), RefreshTokenEnc: []byte("sealed-refresh"),
			FailureSubCode: "user_disabled"})
		if err != nil {
			t.Fatal(err)
		}
		// The provider's sub-code is sub_code, as in the members' reasons.
		if raw := b.raw(t, http.MethodGet, "/v1/orgs/"+org.ID+"/connections?member="+m.ID, ""); !strings.Contains(raw, `"sub_code":"user_disabled"`) || strings.Contains(raw, `"subcode"`) {
			t.Fatalf("sub-code field: %s", raw)
		}
		for _, ref := range []string{m.ID, "Rep@acme.example"} {
			list.Connections = nil
			res := b.call(t, http.MethodGet, "/v1/orgs/"+org.ID+"/connections?member="+url.QueryEscape(ref), "", &list)
			if res.StatusCode != http.StatusOK || len(list.Connections) != 1 || list.Connections[0].ID != zoom.ID ||
				list.Connections[0].MemberEmail != "rep@acme.example" {
				t.Fatalf("list of member %s: %d %+v", ref, res.StatusCode, list)
			}
		}
		b.wantError(t, http.MethodGet, "/v1/orgs/"+org.ID+"/connections?member=nobody@acme.example", "", http.StatusNotFound, "member_not_found")
		b.wantError(t, http.MethodGet, "/v1/orgs/nope/connections", "", http.StatusNotFound, "org_not_found")

		var done httpapi.UpkeepResultJSON
		path := "/v1/orgs/" + org.ID + "/connections/" + team.ConnectionID + "/refresh"
		res = b.call(t, http.MethodPost, path, "", &done)
		calls := sf.Sandbox.Counters().Endpoint(sandbox.Salesforce, "token").Calls
		if res.StatusCode != http.StatusOK || !done.ProviderCalled || done.Connection.State != connections.StateHealthy ||
			done.Connection.NextRefreshAt == nil || done.Connection.LastRefreshedAt == nil || calls != 1 {
			t.Fatalf("refresh: %d %+v, %d token calls", res.StatusCode, done, calls)
		}
		if e := b.wantError(t, http.MethodPost, "/v1/orgs/"+org.ID+"/connections/nope/refresh", "", http.StatusNotFound, "not_found"); !strings.Contains(e.Message, "/connections") {
			t.Errorf("404 message %q does not name the list route", e.Message)
		}
		// An unknown org is org_not_found, as on the list route, not a missing connection.
		b.wantError(t, http.MethodPost, "/v1/orgs/nope/connections/"+team.ConnectionID+"/refresh", "", http.StatusNotFound, "org_not_found")
		b.wantError(t, http.MethodPost, "/v1/orgs/nope/connections/nope/refresh", "", http.StatusNotFound, "org_not_found")

		// Salesforce's token rate limit (a 400 without Retry-After): backoff, stored as
		// the next attempt; the next request waits without calling.
		sf.Sandbox.Faults().MustAdd(sandbox.Fault{Provider: sandbox.Salesforce, Endpoint: "token", Kind: sandbox.FaultStatus, Status: 429, Count: 1})
		b.call(t, http.MethodPost, path, "", &done)
		if done.Connection.State != connections.StateDegraded || done.Connection.Class != string(connections.FailRateLimited) || done.Connection.NextAttemptAt == nil {
			t.Fatalf("after the rate limit: %+v", done.Connection)
		}
		res = b.call(t, http.MethodPost, path, "", nil)
		if secs, _ := strconv.Atoi(res.Header.Get("Retry-After")); res.StatusCode != http.StatusTooManyRequests || secs < 1 {
			t.Fatalf("refresh during the asked delay: %d, Retry-After %q", res.StatusCode, res.Header.Get("Retry-After"))
		}
		if got := sf.Sandbox.Counters().Endpoint(sandbox.Salesforce, "token").Calls; got != 2 {
			t.Fatalf("%d token calls, want 2 (none during the asked delay)", got)
		}

		// No token in any answer.
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/v1/orgs/"+org.ID+"/connections", nil)
		req.SetBasicAuth("admin", "pw")
		raw, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body bytes.Buffer
		_, _ = body.ReadFrom(raw.Body)
		raw.Body.Close()
		if strings.Contains(body.String(), sf.Grant.AccessToken) || strings.Contains(body.String(), sf.Grant.RefreshToken) {
			t.Fatal("the list answer holds a token")
		}
	})
}

// outageConnections is upkeep whose Redis lock cannot be reached: the refresh and the
// verification fail with the driver's chain, as the real lock's do.
type outageConnections struct{ httpapi.Connections }

var errRedisDown = fmt.Errorf("lock connection c1 for refresh: redislock: acquire connection:c1: %w",
	&net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connect: connection refused")})

func (outageConnections) Refresh(context.Context, string, string, bool) (connections.Result, error) {
	return connections.Result{}, errRedisDown
}

func (outageConnections) Verify(context.Context, string, string, bool) (connections.Result, error) {
	return connections.Result{}, errRedisDown
}

// A refresh or verify that Redis or the database fails is a 503 saying what to do; the
// driver's chain stays in the server's log.
func TestConnectionUpkeepOutageKeepsTheChainInTheLog(t *testing.T) {
	var log bytes.Buffer
	b := connectionsOnly(t, zerolog.New(&log), outageConnections{})
	for _, op := range []string{"refresh", "verify"} {
		e := b.wantError(t, http.MethodPost, "/v1/orgs/o1/connections/c1/"+op, "", http.StatusServiceUnavailable, "not_done")
		if strings.Contains(e.Message, "dial tcp") || strings.Contains(e.Message, "redislock") || !strings.Contains(e.Message, "Redis or the database") ||
			!strings.Contains(e.Message, "c1") {
			t.Errorf("%s: message %q", op, e.Message)
		}
	}
	if !strings.Contains(log.String(), "connection refused") {
		t.Errorf("the log lacks the error: %s", log.String())
	}
}

// learningConnections is upkeep whose verification found the member's zone.
type learningConnections struct{ httpapi.Connections }

func (learningConnections) Verify(_ context.Context, orgID, id string, _ bool) (connections.Result, error) {
	return connections.Result{Op: connections.OpVerify, Called: true, TimeZoneLearnt: "Asia/Tokyo",
		Connection: connections.Connection{ID: id, OrgID: orgID, MembershipID: "m1", Kind: connections.KindZoom, State: connections.StateHealthy}}, nil
}

// The verify route says which zone it recorded as the member's, as the verb prints it.
func TestVerifyRouteNamesTheLearntZone(t *testing.T) {
	b := connectionsOnly(t, zerolog.Nop(), learningConnections{})
	var done httpapi.UpkeepResultJSON
	if res := b.call(t, http.MethodPost, "/v1/orgs/o1/connections/c1/verify", "", &done); res.StatusCode != http.StatusOK ||
		done.TimeZoneLearnt != "Asia/Tokyo" || done.Connection.ID != "c1" || !done.ProviderCalled {
		t.Fatalf("verify: %d %+v", res.StatusCode, done)
	}
}

// connectionsOnly serves the admin API with c as its only service.
func connectionsOnly(t *testing.T, log zerolog.Logger, c httpapi.Connections) *orgBundle {
	t.Helper()
	server, err := httpapi.New(httpapi.Params{Logger: log, Gatherer: prometheus.NewRegistry(),
		AdminUser: "admin", AdminPassword: "pw", Connections: c})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(server)
	t.Cleanup(srv.Close)
	return &orgBundle{url: srv.URL}
}
