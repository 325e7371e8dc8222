package worker_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"tether/connectors/oauth"
	"tether/connectors/oauth/oauthtest"
	"tether/connectors/sandbox"
	"tether/connectors/sandbox/sandboxtest"
	"tether/connectors/sandbox/sfdc"
	"tether/jobs"
	"tether/sync/connections"
	"tether/sync/directory"
	"tether/sync/events"
	"tether/sync/members"
	"tether/sync/store"
	"tether/sync/store/storetest"
	"tether/sync/vault"
	"tether/worker"
	"tether/worker/httpapi"
	"tether/worker/redistest"
)

// deactivation is a member of an org with a Salesforce, Google, Zoom and Microsoft
// connection, each a live sandbox grant sealed in the store and a refresh scheduled by
// upkeep's own producer, and the Deactivator the worker runs.
type deactivation struct {
	st        *store.Store
	sb        *sandbox.Sandbox
	org       directory.Org
	m         directory.Membership
	grants    map[connections.Kind]sandbox.Tokens
	conns     map[connections.Kind]connections.Connection
	scheduled map[connections.Kind]*asynq.TaskInfo
	client    *asynq.Client
	inspector *asynq.Inspector
	deact     *members.Deactivator
	opt       asynq.RedisClientOpt
	sbURL     string // the sandbox's base URL: faults go through its admin HTTP API
}

// addFault sets f at the sandbox over its admin HTTP API (POST /admin/faults), as an
// operator or the fault suite would, and returns the fault's id.
func (d *deactivation) addFault(t *testing.T, f sandbox.Fault) string {
	t.Helper()
	body, _ := json.Marshal(f)
	res, err := http.Post(d.sbURL+"/admin/faults", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out struct {
		ID string `json:"id"`
	}
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil || res.StatusCode != http.StatusOK || out.ID == "" {
		t.Fatalf("POST /admin/faults %s: %s %v", body, res.Status, err)
	}
	return out.ID
}

// removeFault lifts the fault id over the admin HTTP API (DELETE /admin/faults/{id}).
func (d *deactivation) removeFault(t *testing.T, id string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodDelete, d.sbURL+"/admin/faults/"+id, nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("DELETE /admin/faults/%s: %s", id, res.Status)
	}
}

func newDeactivation(t *testing.T, st *store.Store) *deactivation {
	t.Helper()
	ctx := t.Context()
	opt, _ := redistest.Client(t, 13)
	sb, sbURL := sandboxtest.Serve(t, sandbox.Options{})
	if err := sb.LoadScenario(sandbox.Scenario{Salesforce: &sfdc.Scenario{Orgs: []sfdc.OrgSpec{sfdc.GenerateOrg(5, 1)}}}); err != nil {
		t.Fatal(err)
	}
	sfOrg := sb.Salesforce().OrgIDs()[0]
	sfUser := sb.Salesforce().ActiveStandardUsers(sfOrg)[0].ID
	keys, _, err := vault.GenerateKeyring("k1")
	if err != nil {
		t.Fatal(err)
	}
	base := sbURL
	oc, err := oauth.New(oauth.Config{})
	if err != nil {
		t.Fatal(err)
	}
	revoker := oauthtest.Connector(oc, base)

	org, err := st.CreateOrg(ctx, directory.Org{Name: "Acme", SeatLimit: 5})
	if err != nil {
		t.Fatal(err)
	}
	u, _ := st.CreateUser(ctx, directory.User{Email: "rep@acme.example"})
	m, err := st.CreateMembership(ctx, org.ID, directory.Membership{UserID: u.ID, Role: directory.RoleChat})
	if err != nil {
		t.Fatal(err)
	}
	due := time.Now().Add(time.Hour).Truncate(time.Second)
	grants := map[connections.Kind]sandbox.Tokens{}
	conns := map[connections.Kind]connections.Connection{}
	for kind, p := range map[connections.Kind]sandbox.Provider{connections.KindSalesforce: sandbox.Salesforce,
		connections.KindGoogleCalendar: sandbox.Google, connections.KindZoom: sandbox.Zoom, connections.KindMicrosoftCalendar: sandbox.Microsoft} {
		subject := ""
		if p == sandbox.Salesforce {
			subject = sfUser
		}
		g, err := sb.IssueGrant(p, subject, nil)
		if err != nil {
			t.Fatal(err)
		}
		grants[kind] = g
		c := connections.Connection{ID: store.NewID(), MembershipID: m.ID, Kind: kind, State: connections.StateHealthy, NextRefreshAt: due}
		if kind == connections.KindSalesforce {
			c.LoginURL = base + "/salesforce"
		}
		if c.AccessTokenEnc, err = keys.SealToken(vault.NewToken(g.AccessToken), c.ID); err != nil {
			t.Fatal(err)
		}
		if c.RefreshTokenEnc, err = keys.SealToken(vault.NewToken(g.RefreshToken), c.ID); err != nil {
			t.Fatal(err)
		}
		if conns[kind], err = st.CreateConnection(ctx, org.ID, c); err != nil {
			t.Fatal(err)
		}
	}

	client, inspector := asynq.NewClient(opt), asynq.NewInspector(opt)
	t.Cleanup(func() { _ = client.Close(); _ = inspector.Close() })
	// Each connection's scheduled refresh, queued by upkeep's own producer.
	scheduled := map[connections.Kind]*asynq.TaskInfo{}
	for kind, c := range conns {
		task, err := jobs.NewConnectionTask(connections.OpRefresh, connections.DueOf(c), c.NextRefreshAt)
		if err != nil {
			t.Fatal(err)
		}
		if scheduled[kind], err = client.EnqueueContext(ctx, task); err != nil {
			t.Fatal(err)
		}
	}
	deact, err := members.NewDeactivator(members.DeactivatorConfig{Store: st, Revoker: revoker, Keys: keys,
		Tasks: worker.ConnectionTaskCanceller{Inspector: inspector}})
	if err != nil {
		t.Fatal(err)
	}
	return &deactivation{st: st, sb: sb, org: org, m: m, grants: grants, conns: conns, scheduled: scheduled,
		client: client, inspector: inspector, deact: deact, opt: opt, sbURL: base}
}

// TestDeactivateMemberAgainstSandbox: POST .../members/{member}/deactivate queues
// members:deactivate; a real worker revokes the member's Salesforce and Zoom grants at the
// sandbox (counted there) while Google's revoke endpoint is down (a fault set and lifted
// over the sandbox's admin HTTP API), drops the Microsoft tokens (no revoke endpoint),
// deletes the scheduled upkeep tasks, frees the seat; the retry, once Google is back,
// revokes Google too. On both stores.
func TestDeactivateMemberAgainstSandbox(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		d := newDeactivation(t, st)
		ctx, sb, org, m, grants, conns, scheduled := t.Context(), d.sb, d.org, d.m, d.grants, d.conns, d.scheduled
		client, inspector, deact, opt := d.client, d.inspector, d.deact, d.opt
		seats, _ := st.CountSeats(ctx, org.ID, time.Now())

		w, err := worker.New(worker.Params{Redis: opt, Logger: zerolog.Nop(), Registerer: prometheus.NewRegistry(),
			Concurrency: 2, TaskCheckInterval: 50 * time.Millisecond, DelayedTaskCheckInterval: 100 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		if err := worker.Register(w, complete(t, worker.Services{Deactivator: deact})); err != nil {
			t.Fatal(err)
		}
		ms, err := members.New(members.Config{Store: st})
		if err != nil {
			t.Fatal(err)
		}
		api, err := httpapi.New(httpapi.Params{Logger: zerolog.Nop(), Gatherer: prometheus.NewRegistry(), AdminUser: "admin", AdminPassword: "pw",
			Members: ms, Deactivations: worker.DeactivationQueue{Client: client, Inspector: inspector}})
		if err != nil {
			t.Fatal(err)
		}
		apiSrv := httptest.NewServer(api)
		t.Cleanup(apiSrv.Close)

		// Google's revoke endpoint is down.
		fault := d.addFault(t, sandbox.Fault{Provider: sandbox.Google, Endpoint: "revoke", Kind: sandbox.FaultStatus, Status: 503})

		req, _ := http.NewRequestWithContext(ctx, "POST", apiSrv.URL+"/v1/orgs/"+org.ID+"/members/rep@acme.example/deactivate", nil)
		req.SetBasicAuth("admin", "pw")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		var queued httpapi.DeactivationJSON
		if err := json.Unmarshal(body, &queued); err != nil || res.StatusCode != http.StatusAccepted || queued.Status != "queued" ||
			queued.TaskID != jobs.TaskIDMembersDeactivate(org.ID, m.ID) {
			t.Fatalf("deactivate: %d %s", res.StatusCode, body)
		}
		start(t, w)

		// The first run: everything but Google done; the task waits to retry.
		var info *asynq.TaskInfo
		waitUntil(t, "the first run to fail on Google", func() bool {
			info, err = inspector.GetTaskInfo(jobs.QueueCritical, queued.TaskID)
			return err == nil && info.State == asynq.TaskStateRetry
		})
		if !strings.HasPrefix(info.LastErr, "the deactivation failed on attempt 1 of ") ||
			!strings.Contains(info.LastErr, ": revoking tether's access failed at Google; tether retries it") ||
			strings.Contains(info.LastErr, "google_calendar") || strings.Contains(info.LastErr, grants[connections.KindGoogleCalendar].RefreshToken) {
			t.Errorf("last error %q", info.LastErr)
		}
		got, _ := st.GetMembership(ctx, org.ID, m.ID)
		after, _ := st.CountSeats(ctx, org.ID, time.Now())
		if got.Status != directory.MembershipDeactivated || after.Active != seats.Active-1 {
			t.Fatalf("membership %s, active seats %d -> %d", got.Status, seats.Active, after.Active)
		}
		cs := sb.Counters()
		for _, p := range []sandbox.Provider{sandbox.Salesforce, sandbox.Zoom} {
			if ep := cs.Endpoint(p, "revoke"); ep.OK != 1 {
				t.Errorf("%s revoke counters %+v, want 1 ok", p, ep)
			}
		}
		if ep := cs.Endpoint(sandbox.Google, "revoke"); ep.Server < 1 || ep.OK != 0 {
			t.Errorf("google revoke counters %+v, want 5xx only", ep)
		}
		for kind, c := range conns {
			now, err := st.GetConnection(ctx, org.ID, c.ID)
			if err != nil {
				t.Fatal(err)
			}
			kept := kind == connections.KindGoogleCalendar
			if now.State != connections.StateRevoked || !now.NextRefreshAt.IsZero() || (len(now.RefreshTokenEnc) > 0) != kept {
				t.Errorf("%s after the first run: state %s, next %v, tokens kept %t (want %t)", kind, now.State, now.NextRefreshAt, len(now.RefreshTokenEnc) > 0, kept)
			}
			if _, err := inspector.GetTaskInfo(scheduled[kind].Queue, scheduled[kind].ID); !errors.Is(err, asynq.ErrTaskNotFound) {
				t.Errorf("%s's scheduled refresh still there: %v", kind, err)
			}
		}
		for kind, want := range map[connections.Kind]bool{connections.KindSalesforce: false, connections.KindZoom: false, connections.KindGoogleCalendar: true} {
			if gi, _ := sb.LookupGrant(grants[kind].GrantID); gi.Live != want {
				t.Errorf("%s grant live %t, want %t (%s)", kind, gi.Live, want, gi.Ended)
			}
		}

		// A second request while it waits is the same task.
		if id, already, err := (worker.DeactivationQueue{Client: client, Inspector: inspector}).Queue(ctx, org.ID, m.ID); err != nil || !already || id != queued.TaskID {
			t.Errorf("second request: %s %t %v", id, already, err)
		}

		// Google is back; the retry (run now rather than after its backoff) revokes it.
		d.removeFault(t, fault)
		if err := inspector.RunTask(jobs.QueueCritical, queued.TaskID); err != nil {
			t.Fatal(err)
		}
		waitUntil(t, "the retry to complete", func() bool {
			info, err = inspector.GetTaskInfo(jobs.QueueCritical, queued.TaskID)
			return err == nil && info.State == asynq.TaskStateCompleted
		})
		if ep := sb.Counters().Endpoint(sandbox.Google, "revoke"); ep.OK != 1 {
			t.Errorf("google revoke after the retry: %+v", ep)
		}
		if gi, _ := sb.LookupGrant(grants[connections.KindGoogleCalendar].GrantID); gi.Live {
			t.Errorf("google grant still live")
		}
		gc, _ := st.GetConnection(ctx, org.ID, conns[connections.KindGoogleCalendar].ID)
		if len(gc.RefreshTokenEnc) > 0 || len(gc.AccessTokenEnc) > 0 {
			t.Errorf("google tokens kept after the revoke")
		}
		// The retry's result is the whole deactivation's: what the first attempt closed too.
		if r := string(info.Result); !strings.Contains(r, "revoked=google_calendar ") || !strings.Contains(r, " closed_earlier=") ||
			!strings.Contains(r, "salesforce") || !strings.Contains(r, "zoom") || !strings.Contains(r, "microsoft_calendar") {
			t.Errorf("retry result %q, want google_calendar revoked and the rest closed earlier", r)
		}
		// The first run deactivated and revoked Salesforce and Zoom (dropping Microsoft's
		// tokens); the retry revoked Google: two events, nothing else.
		evs, err := st.ListEvents(ctx, org.ID, 10)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, e := range evs {
			if e.Kind == "member.deactivated" && e.Subject == m.ID {
				n++
			}
		}
		if n != 2 {
			t.Errorf("member.deactivated events: %d, want 2 (%+v)", n, evs)
		}

		// Running it again changes nothing and calls no provider.
		before := sb.Counters()
		res2, err := deact.Deactivate(ctx, org.ID, m.ID, time.Time{})
		if err != nil || res2.Deactivated || len(res2.Revoked)+len(res2.Dropped)+len(res2.Failed) != 0 || len(res2.Earlier) != len(conns) {
			t.Errorf("re-run: %+v %v", res2, err)
		}
		// A re-run through the queue (asking again after it finished) says nothing was left.
		again, _, err := (worker.DeactivationQueue{Client: client, Inspector: inspector}).Queue(ctx, org.ID, m.ID)
		if err != nil {
			t.Fatal(err)
		}
		waitUntil(t, "the re-run to complete", func() bool {
			info, err = inspector.GetTaskInfo(jobs.QueueCritical, again)
			return err == nil && info.State == asynq.TaskStateCompleted
		})
		if r := string(info.Result); !strings.HasPrefix(r, "nothing left to do: the member was already deactivated") {
			t.Errorf("re-run result %q", r)
		}
		for _, p := range []sandbox.Provider{sandbox.Salesforce, sandbox.Google, sandbox.Zoom} {
			if a, b := sb.Counters().Endpoint(p, "revoke").Calls, before.Endpoint(p, "revoke").Calls; a != b {
				t.Errorf("re-run called %s revoke (%d -> %d)", p, b, a)
			}
		}

		// Invited again, the member joins and connects anew; a late retry of the old
		// deactivation (asked before the Join) leaves them and the new connection alone,
		// while one asked after the Join deactivates them.
		asked := time.Now().Add(-time.Minute)
		if _, err := st.CreateInvite(ctx, org.ID, directory.Invite{Email: "rep@acme.example", Role: directory.RoleChat,
			TokenHash: "h-back", ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		if _, err := st.AcceptInvite(ctx, "h-back", "", time.Now()); err != nil {
			t.Fatal(err)
		}
		back, err := st.ListConnections(ctx, org.ID, m.ID)
		if err != nil || len(back) == 0 {
			t.Fatalf("connections after the Join: %v %v", back, err)
		}
		fresh := back[0]
		fresh.State, fresh.AccessTokenEnc, fresh.RefreshTokenEnc = connections.StateHealthy, []byte("sealed-a"), []byte("sealed-r")
		if _, err := st.UpdateConnection(ctx, org.ID, fresh, time.Now()); err != nil {
			t.Fatal(err)
		}
		before = sb.Counters()
		late, err := deact.Deactivate(ctx, org.ID, m.ID, asked)
		got, _ = st.GetMembership(ctx, org.ID, m.ID)
		kept, _ := st.GetConnection(ctx, org.ID, fresh.ID)
		if err != nil || late.Superseded.IsZero() || got.Status != directory.MembershipActive || kept.State != connections.StateHealthy ||
			len(kept.RefreshTokenEnc) == 0 {
			t.Errorf("a late retry of the old deactivation: %+v %v; member %s, connection %s", late, err, got.Status, kept.State)
		}
		for _, p := range []sandbox.Provider{sandbox.Salesforce, sandbox.Google, sandbox.Zoom} {
			if a, b := sb.Counters().Endpoint(p, "revoke").Calls, before.Endpoint(p, "revoke").Calls; a != b {
				t.Errorf("the superseded deactivation called %s revoke (%d -> %d)", p, b, a)
			}
		}
		evs, err = st.ListEvents(ctx, org.ID, 100)
		if err != nil || !slices.ContainsFunc(evs, func(e events.Event) bool { return e.Kind == "member.deactivation_superseded" && e.Subject == m.ID }) {
			t.Errorf("no member.deactivation_superseded event: %v", err)
		}
		if res, err := deact.Deactivate(ctx, org.ID, m.ID, time.Now()); err != nil || !res.Deactivated || !res.Superseded.IsZero() {
			t.Errorf("a deactivation asked after the Join: %+v %v", res, err)
		}
	})
}

// TestSupersededDeactivationEndsWhatItLeft: a member deactivated while Salesforce's and
// Google's revoke endpoints are down joins again and reconnects Zoom. A late retry of the
// old deactivation leaves the member and the Zoom connection they use alone, but still
// revokes the Google grant it left once Google is back (its tokens deleted); while
// Salesforce stays down it keeps retrying, and its give-up drops the Salesforce tokens
// without touching Zoom's. On both stores.
func TestSupersededDeactivationEndsWhatItLeft(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		d := newDeactivation(t, st)
		ctx, org, m := t.Context(), d.org, d.m
		d.addFault(t, sandbox.Fault{Provider: sandbox.Salesforce, Endpoint: "revoke", Kind: sandbox.FaultStatus, Status: 503})
		google := d.addFault(t, sandbox.Fault{Provider: sandbox.Google, Endpoint: "revoke", Kind: sandbox.FaultStatus, Status: 503})
		asked := time.Now()
		var re *members.RevokeError
		if _, err := d.deact.Deactivate(ctx, org.ID, m.ID, asked); !errors.As(err, &re) || len(re.Failed) != 2 || re.Superseded {
			t.Fatalf("first attempt: %v, want Salesforce's and Google's revokes failed", err)
		}

		// Invited again, the member joins and reconnects Zoom.
		if _, err := st.CreateInvite(ctx, org.ID, directory.Invite{Email: "rep@acme.example", Role: directory.RoleChat,
			TokenHash: "h-back", ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		// A second later: the guard compares whole seconds.
		if _, err := st.AcceptInvite(ctx, "h-back", "", asked.Add(2*time.Second)); err != nil {
			t.Fatal(err)
		}
		zoom, err := st.GetConnection(ctx, org.ID, d.conns[connections.KindZoom].ID)
		if err != nil {
			t.Fatal(err)
		}
		zoom.State, zoom.AccessTokenEnc, zoom.RefreshTokenEnc = connections.StateHealthy, []byte("sealed-a"), []byte("sealed-r")
		if _, err := st.UpdateConnection(ctx, org.ID, zoom, time.Now()); err != nil {
			t.Fatal(err)
		}
		tokensOf := func(kind connections.Kind) (connections.Connection, bool) {
			t.Helper()
			c, err := st.GetConnection(ctx, org.ID, d.conns[kind].ID)
			if err != nil {
				t.Fatal(err)
			}
			return c, len(c.AccessTokenEnc)+len(c.RefreshTokenEnc)+len(c.PendingTokenEnc) > 0
		}
		zoomKept := func(when string) {
			t.Helper()
			if c, has := tokensOf(connections.KindZoom); c.State != connections.StateHealthy || !has {
				t.Errorf("%s: the Zoom connection the member uses now is %s, tokens %t", when, c.State, has)
			}
			if got, _ := st.GetMembership(ctx, org.ID, m.ID); got.Status != directory.MembershipActive {
				t.Errorf("%s: member %s", when, got.Status)
			}
		}

		// Both still down: the late retry revokes nothing, keeps the tokens and retries.
		res, err := d.deact.Deactivate(ctx, org.ID, m.ID, asked)
		if !errors.As(err, &re) || !re.Superseded || len(re.Failed) != 2 || res.Superseded.IsZero() || res.Deactivated ||
			!strings.Contains(err.Error(), "joined again") {
			t.Errorf("late retry with both down: %+v %v", res, err)
		}
		for _, kind := range []connections.Kind{connections.KindSalesforce, connections.KindGoogleCalendar} {
			if c, has := tokensOf(kind); c.State != connections.StateRevoked || !has {
				t.Errorf("%s while its revoke fails: %s, tokens %t (want revoked, kept for the retry)", kind, c.State, has)
			}
		}
		zoomKept("late retry with both down")

		// Google is back: its leftover grant is revoked at Google and its tokens deleted.
		d.removeFault(t, google)
		zoomRevokes := d.sb.Counters().Endpoint(sandbox.Zoom, "revoke").Calls
		res, err = d.deact.Deactivate(ctx, org.ID, m.ID, asked)
		if !errors.As(err, &re) || !re.Superseded || len(re.Failed) != 1 || re.Failed[connections.KindSalesforce] == "" ||
			!slices.Equal(res.Revoked, []connections.Kind{connections.KindGoogleCalendar}) {
			t.Errorf("late retry with Google back: %+v %v", res, err)
		}
		if gi, _ := d.sb.LookupGrant(d.grants[connections.KindGoogleCalendar].GrantID); gi.Live {
			t.Errorf("the Google grant the deactivation left is still live")
		}
		if _, has := tokensOf(connections.KindGoogleCalendar); has {
			t.Errorf("the Google tokens are kept after their revoke")
		}
		if n := d.sb.Counters().Endpoint(sandbox.Zoom, "revoke").Calls; n != zoomRevokes {
			t.Errorf("the late retry revoked the Zoom grant the member uses now (%d -> %d calls)", zoomRevokes, n)
		}
		zoomKept("late retry with Google back")
		evs, err := st.ListEvents(ctx, org.ID, 100)
		if err != nil || !slices.ContainsFunc(evs, func(e events.Event) bool {
			return e.Kind == "member.deactivation_superseded" && fmt.Sprint(e.Detail["left_over_revoked"]) == "[google_calendar]"
		}) {
			t.Errorf("no member.deactivation_superseded event naming the Google grant revoked: %v", err)
		}

		// Salesforce stays down until the task gives up: its tokens are dropped, Zoom's kept.
		if err := d.deact.Abandon(ctx, org.ID, m.ID, "the deactivation gave up"); err != nil {
			t.Fatal(err)
		}
		if c, has := tokensOf(connections.KindSalesforce); c.State != connections.StateRevoked || has {
			t.Errorf("Salesforce after the give-up: %s, tokens %t", c.State, has)
		}
		zoomKept("the give-up")
		evs, _ = st.ListEvents(ctx, org.ID, 100)
		if !slices.ContainsFunc(evs, func(e events.Event) bool {
			return e.Kind == "member.revoke_abandoned" && fmt.Sprint(e.Detail["still_live_at_provider"]) == "[salesforce]"
		}) {
			t.Errorf("no member.revoke_abandoned event naming only Salesforce: %+v", evs)
		}
	})
}

// TestDeactivationGivesUpButDeletesTokens: when Zoom's revoke endpoint stays down until
// the task's last retry, the worker archives the task and the give-up deletes the tokens
// left anyway, with a member.revoke_abandoned event naming the grant still live at Zoom.
func TestDeactivationGivesUpButDeletesTokens(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		d := newDeactivation(t, st)
		ctx := t.Context()
		d.addFault(t, sandbox.Fault{Provider: sandbox.Zoom, Endpoint: "revoke", Kind: sandbox.FaultStatus, Status: 503})
		w, err := worker.New(worker.Params{Redis: d.opt, Logger: zerolog.Nop(), Registerer: prometheus.NewRegistry(),
			Concurrency: 2, TaskCheckInterval: 50 * time.Millisecond, DelayedTaskCheckInterval: 100 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		if err := worker.Register(w, complete(t, worker.Services{Deactivator: d.deact})); err != nil {
			t.Fatal(err)
		}
		task, err := jobs.NewMembersDeactivateTask(d.org.ID, d.m.ID, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		// The producer's 12 retries take half a day; this task has its last attempt now.
		info, err := d.client.EnqueueContext(ctx, task, asynq.MaxRetry(0))
		if err != nil {
			t.Fatal(err)
		}
		start(t, w)
		var zoomEvent map[string]any
		waitUntil(t, "the give-up's event", func() bool {
			evs, err := st.ListEvents(ctx, d.org.ID, 10)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range evs {
				if e.Kind == "member.revoke_abandoned" {
					zoomEvent = e.Detail
					return true
				}
			}
			return false
		})
		// The hook writes the event before Asynq archives the task: wait for both.
		var ti *asynq.TaskInfo
		waitUntil(t, "the task to be archived", func() bool {
			ti, err = d.inspector.GetTaskInfo(info.Queue, info.ID)
			return err == nil && ti.State == asynq.TaskStateArchived
		})
		if fmt.Sprint(zoomEvent["still_live_at_provider"]) != "[zoom]" || !strings.Contains(fmt.Sprint(zoomEvent["reason"]), "the deactivation gave up after 1 attempt: revoking tether's access failed at Zoom") {
			t.Errorf("abandon event %+v", zoomEvent)
		}
		for kind, c := range d.conns {
			now, _ := st.GetConnection(ctx, d.org.ID, c.ID)
			if now.State != connections.StateRevoked || len(now.AccessTokenEnc)+len(now.RefreshTokenEnc)+len(now.PendingTokenEnc) != 0 {
				t.Errorf("%s after the give-up: %s, tokens left", kind, now.State)
			}
		}
		if gi, _ := d.sb.LookupGrant(d.grants[connections.KindZoom].GrantID); !gi.Live {
			t.Errorf("the zoom grant should still be live at the provider (its revoke never got through)")
		}
		if gi, _ := d.sb.LookupGrant(d.grants[connections.KindSalesforce].GrantID); gi.Live {
			t.Errorf("the salesforce grant should be revoked")
		}
	})
}
