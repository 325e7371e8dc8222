package worker_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"tether/connectors/email"
	"tether/connectors/email/mailsink"
	"tether/connectors/oauth"
	"tether/connectors/oauth/oauthtest"
	"tether/connectors/sandbox"
	"tether/connectors/sandbox/sandboxtest"
	"tether/connectors/sandbox/sfdc"
	"tether/jobs"
	"tether/sync/connect"
	"tether/sync/connections"
	"tether/sync/directory"
	"tether/sync/members"
	"tether/sync/reminders"
	"tether/sync/store"
	"tether/sync/store/storetest"
	"tether/sync/vault"
	"tether/worker"
	"tether/worker/httpapi"
	"tether/worker/redisconnect"
	"tether/worker/redislock"
	"tether/worker/redisstash"
	"tether/worker/redistest"
)

// sandboxReminders is a rep whose connections are real: made through tether's connect
// pages and the sandbox's consent, refreshed by the upkeep and its observer chain as
// `tether worker` builds them (members' recompute, then the reminders' trigger), with
// reminders:notify run by a live worker on real Redis and delivered to an SMTP sink.
// The org's policy requires Salesforce, a calendar and conferencing, so three providers
// are three things the rep must fix.
type sandboxReminders struct {
	st        *store.Store
	sbURL     string
	tether    string
	sink      *mailsink.Sink
	links     *connect.Links
	client    *asynq.Client
	org       directory.Org
	rep       directory.Membership
	repEmail  string
	sfLogin   string
	worker    *worker.Worker
	svc       *reminders.Service
	inspector *asynq.Inspector
}

// the three kinds the rep connects, with who signs in at the sandbox's consent.
var sandboxKinds = []connections.Kind{connections.KindSalesforce, connections.KindGoogleCalendar, connections.KindZoom}

var sandboxLink = regexp.MustCompile(`http://127\.0\.0\.1:\d+/connect/[^\s"<>]+`)

func setupSandboxReminders(t *testing.T, st *store.Store) *sandboxReminders {
	t.Helper()
	ctx := t.Context()
	sb, sbURL := sandboxtest.Serve(t, sandbox.Options{})
	sfOrg, err := sb.Salesforce().AddOrg(sfdc.GenerateOrg(5, 1))
	if err != nil {
		t.Fatal(err)
	}
	sfRep := sb.Salesforce().ActiveStandardUsers(sfOrg)[0]
	keys, _, err := vault.GenerateKeyring("k1")
	if err != nil {
		t.Fatal(err)
	}
	opt, rdb := redistest.Client(t, 14)
	client, inspector := asynq.NewClient(opt), asynq.NewInspector(opt)
	t.Cleanup(func() { _ = client.Close(); _ = inspector.Close() })
	sink, mailer := reminderSink(t)

	policy := directory.DefaultPolicy()
	chat := policy[directory.RoleChat]
	chat.Connections = slices.Clone(chat.Connections)
	for i := range chat.Connections {
		chat.Connections[i].Recommended = false // conferencing too: three required providers
	}
	policy[directory.RoleChat] = chat
	org, err := st.CreateOrg(ctx, directory.Org{Name: "Acme", Policy: policy})
	if err != nil {
		t.Fatal(err)
	}
	newMember := func(mail string, role directory.Role, sfUser string) directory.Membership {
		u, err := st.CreateUser(ctx, directory.User{Email: mail, Name: mail})
		if err != nil {
			t.Fatal(err)
		}
		m, err := st.CreateMembership(ctx, org.ID, directory.Membership{UserID: u.ID, Role: role, Status: directory.MembershipActive,
			SalesforceUserID: sfUser, PhotoURL: "https://img.example/" + mail + ".png"})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	newMember("boss@acme.example", directory.RoleAdmin, "")
	// The rep's email is the sandbox's default Google and Zoom account.
	rep := newMember("ada@example.com", directory.RoleChat, sfRep.ID)
	// No quiet hours (the wall clock's hour must not matter); a grace the worker's 1 s batch
	// fits in, so breaks seen together make one email.
	if err := st.SetReminderSettings(ctx, org.ID, reminders.Settings{Grace: 2 * time.Second, QuietStart: 1, QuietEnd: 1}, time.Now()); err != nil {
		t.Fatal(err)
	}

	// tether's connect pages, as tether serve mounts them.
	var handler http.Handler
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { handler.ServeHTTP(w, r) }))
	t.Cleanup(srv.Close)
	links, err := connect.NewLinks(connect.LinksParams{Store: st, Secret: []byte(strings.Repeat("s", 48)), BaseURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	ms, err := members.New(members.Config{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	// The observer chain of cmd/tether's app.observer.
	obs := reminders.Observers{ms, &reminders.Trigger{Store: st, Queue: jobs.ReminderQueue{Client: client}}}
	connectOC, err := oauth.New(oauth.Config{})
	if err != nil {
		t.Fatal(err)
	}
	flow, err := connect.NewFlow(connect.FlowParams{Observer: obs, Links: links, Store: st,
		Sessions: redisconnect.New(rdb, "tether:connect:"), Providers: oauthtest.Connector(connectOC, sbURL), Vault: keys,
		SalesforceLoginURL: func(directory.Org) string { return sbURL + "/salesforce" }})
	if err != nil {
		t.Fatal(err)
	}
	server, err := httpapi.New(httpapi.Params{Gatherer: prometheus.NewRegistry(), ConnectLinks: links,
		Connect: httpapi.NewConnect(httpapi.ConnectParams{Flow: flow, Logger: zerolog.Nop()})})
	if err != nil {
		t.Fatal(err)
	}
	handler = server

	// The upkeep as cmd/tether's app.upkeep builds it.
	oc, err := oauth.New(oauth.Config{Providers: oauthtest.Providers(sbURL), Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	tokens, err := connections.NewTokens(connections.TokensParams{Store: st, Keys: keys,
		Refresher: oauth.ConnectionRefresher{Client: oc, Providers: map[connections.Kind]string{connections.KindSalesforce: "salesforce",
			connections.KindGoogleCalendar: "google", connections.KindZoom: "zoom"}},
		Locker: redislock.New(rdb, "tether:lock:"), Stash: redisstash.New(rdb, "tether:stash:"),
		Scheduler: jobs.ConnectionQueue{Client: client}, Observer: obs})
	if err != nil {
		t.Fatal(err)
	}
	up, err := connections.NewUpkeep(connections.UpkeepParams{Tokens: tokens, Due: st, List: st, Scheduler: jobs.ConnectionQueue{Client: client}})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := reminders.New(reminders.Config{Store: st, Mailer: email.ReminderMailer(mailer, ""), Links: links,
		Queue: jobs.ReminderQueue{Client: client}})
	if err != nil {
		t.Fatal(err)
	}
	w, err := worker.New(worker.Params{Redis: opt, Logger: zerolog.Nop(), Registerer: prometheus.NewRegistry(),
		Concurrency: 4, TaskCheckInterval: 50 * time.Millisecond, DelayedTaskCheckInterval: 100 * time.Millisecond,
		ReminderBatch: time.Second, ReminderMaxDelay: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := worker.Register(w, complete(t, worker.Services{Reminders: svc, Connections: up})); err != nil {
		t.Fatal(err)
	}
	b := &sandboxReminders{st: st, sbURL: sbURL, tether: srv.URL, sink: sink, links: links, client: client, org: org, rep: rep,
		repEmail: "ada@example.com", sfLogin: sfRep.Username, worker: w, svc: svc, inspector: inspector}
	// The rep connects all three through the connect pages, then the worker starts: the
	// notifies the first connects queued (the rep still lacked the others) find nothing to
	// send, as the rep had fixed it by then.
	for _, k := range sandboxKinds {
		b.connect(t, b.link(t, k), k)
	}
	t.Cleanup(start(t, w))
	return b
}

// link issues the rep's connect link of kind, as the API does.
func (b *sandboxReminders) link(t *testing.T, kind connections.Kind) string {
	t.Helper()
	l, err := b.links.Issue(t.Context(), connect.IssueRequest{OrgID: b.org.ID, MembershipID: b.rep.ID, Kind: kind})
	if err != nil {
		t.Fatal(err)
	}
	return l.URL
}

// connect follows a connect link through the sandbox's consent as the rep and checks the
// connection is healthy.
func (b *sandboxReminders) connect(t *testing.T, link string, kind connections.Kind) {
	t.Helper()
	login := b.repEmail
	if kind == connections.KindSalesforce {
		login = b.sfLogin
	}
	status, page, _ := sandboxtest.Follow(t, sandboxtest.Browser(t), b.sbURL, link, sandboxtest.Consent{Login: login})
	if status != http.StatusOK || !strings.Contains(page, "connected") {
		t.Fatalf("connect %s: %d %s", kind, status, page)
	}
	if c := b.conn(t, kind); c.State != connections.StateHealthy {
		t.Fatalf("%s after connecting: %s", kind, c.State)
	}
}

func (b *sandboxReminders) conn(t *testing.T, kind connections.Kind) connections.Connection {
	t.Helper()
	c, err := b.st.FindConnection(t.Context(), b.org.ID, b.rep.ID, kind)
	if err != nil {
		t.Fatalf("%s connection: %v", kind, err)
	}
	return c
}

// admin posts to the sandbox's admin HTTP API, as an operator or the fault suite does.
func (b *sandboxReminders) admin(t *testing.T, path string, body any) {
	t.Helper()
	raw, _ := json.Marshal(body)
	res, err := http.Post(b.sbURL+path, "application/json", bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("POST %s: %s", path, res.Status)
	}
}

// grant is the sandbox's live grant behind the rep's connection of kind, read over GET
// /admin/grants.
func (b *sandboxReminders) grant(t *testing.T, kind connections.Kind) sandbox.GrantInfo {
	t.Helper()
	res, err := http.Get(b.sbURL + "/admin/grants")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var gs []sandbox.GrantInfo
	if err := json.NewDecoder(res.Body).Decode(&gs); err != nil {
		t.Fatal(err)
	}
	account := b.conn(t, kind).ProviderAccountID
	for _, g := range gs {
		if g.Live && g.Provider == sandbox.Provider(kind.Provider()) && g.Subject == account {
			return g
		}
	}
	t.Fatalf("the sandbox has no live %s grant of %s", kind, account)
	return sandbox.GrantInfo{}
}

// refresh queues an operator's refresh of the rep's connection of kind on the live
// worker (POST /v1/orgs/{org}/connections/{id}/refresh queues the same task) and waits
// until it ran.
func (b *sandboxReminders) refresh(t *testing.T, kind connections.Kind) {
	t.Helper()
	c := b.conn(t, kind)
	task, err := jobs.NewForcedConnectionTask(connections.OpRefresh, b.org.ID, c.ID, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	info, err := b.client.EnqueueContext(t.Context(), task)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		got, err := b.inspector.GetTaskInfo(info.Queue, info.ID)
		if err == nil && got.State == asynq.TaskStateCompleted {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("refresh of %s not done in 20 s: %+v %v", kind, got, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// mailTo waits until n messages reached addr, then a little more (a duplicate would
// arrive within it), and returns what addr got.
func (b *sandboxReminders) mailTo(t *testing.T, addr string, n int, settle time.Duration) []mailsink.Received {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	for len(to(b.sink.Messages(), addr)) < n {
		if _, err := b.sink.Wait(ctx, len(b.sink.Messages())+1); err != nil {
			t.Fatalf("%d of %d emails to %s: %v", len(to(b.sink.Messages(), addr)), n, addr, err)
		}
	}
	time.Sleep(settle)
	return to(b.sink.Messages(), addr)
}

// TestRemindersSandboxThreeBreaksOneDigestThenFixed: the rep's Salesforce, Google
// Calendar and Zoom grants revoked at the sandbox (its admin API), each found
// needs_reconnect by the upkeep the worker runs; within the grace they make ONE email
// naming all three, one link each, the admins get nothing; each link followed through the
// sandbox's consent reconnects its connection; then one "all set" note and nothing is
// next. On both stores.
func TestRemindersSandboxThreeBreaksOneDigestThenFixed(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		b := setupSandboxReminders(t, st)
		if n := len(b.sink.Messages()); n != 0 {
			t.Fatalf("%d emails before anything broke", n)
		}
		for _, k := range sandboxKinds {
			b.admin(t, "/admin/grants/"+b.grant(t, k).ID+"/revoke", nil)
		}
		for _, k := range sandboxKinds {
			b.refresh(t, k)
			if c := b.conn(t, k); c.State != connections.StateNeedsReconnect {
				t.Fatalf("%s after its grant was revoked: %s (%s)", k, c.State, c.FailureReason)
			}
		}
		msgs := b.mailTo(t, b.repEmail, 1, 3*time.Second)
		if len(msgs) != 1 {
			t.Fatalf("%d emails to the rep for three breaks within the grace, want one digest", len(msgs))
		}
		if adm := to(b.sink.Messages(), "boss@acme.example"); len(adm) != 0 {
			t.Fatalf("the admins were told of what the rep can fix: %q", adm[0].Subject)
		}
		mail := msgs[0]
		links := sandboxLink.FindAllString(mail.Text, -1)
		if len(links) != 3 {
			t.Fatalf("the digest carries %d connect links, want 3:\n%s", len(links), mail.Text)
		}
		for _, k := range sandboxKinds {
			if !strings.Contains(mail.Text, string(k)) {
				t.Fatalf("the digest does not name %s:\n%s", k, mail.Text)
			}
		}

		// One link per broken connection: each names its kind, and following it fixes that one.
		var kinds []connections.Kind
		for _, l := range links {
			pv, err := b.links.Verify(l[strings.Index(l, "/connect/")+len("/connect/"):])
			if err != nil {
				t.Fatal(err)
			}
			kinds = append(kinds, pv.Kind)
		}
		slices.Sort(kinds)
		if want := slices.Sorted(slices.Values(sandboxKinds)); !slices.Equal(kinds, want) {
			t.Fatalf("the digest's links connect %v, want one each of %v", kinds, want)
		}
		for i, l := range links {
			pv, _ := b.links.Verify(l[strings.Index(l, "/connect/")+len("/connect/"):])
			b.connect(t, l, pv.Kind)
			if i < len(links)-1 && len(to(b.sink.Messages(), b.repEmail)) != 1 {
				t.Fatalf("an email came while %d of 3 were still broken", len(links)-1-i)
			}
		}
		all := b.mailTo(t, b.repEmail, 2, 3*time.Second)
		if len(all) != 2 || !strings.Contains(all[1].Subject, "all set") {
			subjects := []string{}
			for _, m := range all {
				subjects = append(subjects, m.Subject)
			}
			t.Fatalf("the rep's emails after the fix: %q, want the digest then the all-set note", subjects)
		}
		var v reminders.View
		deadline := time.Now().Add(10 * time.Second)
		for {
			var err error
			if v, err = b.svc.View(t.Context(), b.org.ID, b.rep.ID); err != nil {
				t.Fatal(err)
			}
			if len(v.Sent) > 0 && v.Sent[0].Status == reminders.StatusSent || time.Now().After(deadline) {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if len(v.Sent) != 2 || v.Sent[0].Kind != reminders.KindAllSet || v.Sent[0].Status != reminders.StatusSent ||
			!v.Next.IsZero() || v.Why != "fixed: all set" {
			t.Fatalf("after the fix: %d sent, last %+v, next %s, why %q; want the all-set note and nothing next", len(v.Sent), v.Last, v.Next, v.Why)
		}
	})
}

// TestRemindersSandboxDisabledAccountGoesToAdmins: the rep's Zoom account disabled at the
// sandbox (its admin API): the upkeep finds it needs_admin, the admins are told at once,
// the rep gets nothing. On both stores.
func TestRemindersSandboxDisabledAccountGoesToAdmins(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		b := setupSandboxReminders(t, st)
		g := b.grant(t, connections.KindZoom)
		b.admin(t, "/admin/users/zoom/"+g.Subject+"/active", map[string]bool{"active": false})
		b.refresh(t, connections.KindZoom)
		if c := b.conn(t, connections.KindZoom); c.State != connections.StateNeedsAdmin {
			t.Fatalf("zoom of a disabled account: %s (%s)", c.State, c.FailureReason)
		}
		adm := b.mailTo(t, "boss@acme.example", 1, 3*time.Second)
		if len(adm) != 1 || !strings.Contains(adm[0].Text, b.repEmail) {
			t.Fatalf("%d emails to the admin, want one alert naming the rep", len(adm))
		}
		if rep := to(b.sink.Messages(), b.repEmail); len(rep) != 0 {
			t.Fatalf("the rep was asked to fix what only an admin can: %q", rep[0].Subject)
		}
		v, err := b.svc.View(t.Context(), b.org.ID, b.rep.ID)
		if err != nil || !v.Next.IsZero() || !strings.HasPrefix(v.Why, "only an admin can fix it") {
			t.Fatalf("view %+v %v", v, err)
		}
	})
}
