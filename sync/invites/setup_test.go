package invites_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"tether/connectors/salesforce"
	"tether/connectors/sandbox"
	"tether/connectors/sandbox/sfdc"
	"tether/sync/directory"
	"tether/sync/invites"
	"tether/sync/store"
	"tether/sync/store/storetest"
)

// bundle is one test's world: a sandbox Salesforce org behind a real HTTP server, a
// store, a tether org, and the import service reading the org through the real
// connectors/salesforce adapter.
type bundle struct {
	t      *testing.T
	ctx    context.Context
	st     *store.Store
	svc    *invites.Service
	sb     *sandbox.Sandbox
	sfOrg  string
	org    directory.Org
	sender *recSender
	// queries counts Salesforce query calls (first pages and nextRecordsUrl follow-ups).
	queries atomic.Int64
	spec    sfdc.OrgSpec
	grant   sandbox.Tokens
	// team is the real token service's connection when opts.tokens is set.
	team *storetest.Team
}

type opts struct {
	users    []sfdc.UserSpec // appended after the team user
	profiles []sfdc.ProfileSpec
	seats    int
	share    float64
	batch    int
	sender   *recSender
	// wrap, if set, wraps the store the service writes through.
	wrap func(invites.Store) invites.Store
	// tokens reads Salesforce through the real token service over a sealed team
	// connection (b.team) instead of a fixed access token.
	tokens bool
}

func setup(t *testing.T, st *store.Store, o opts) *bundle {
	t.Helper()
	b := &bundle{t: t, ctx: context.Background(), st: st, sb: sandbox.New(sandbox.Options{})}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "/services/data/") && strings.Contains(r.URL.Path, "/query") {
			b.queries.Add(1)
		}
		b.sb.ServeHTTP(w, r)
	}))
	t.Cleanup(func() { b.sb.Close(); srv.Close() })

	b.spec = sfdc.GenerateOrg(7, 0)
	b.spec.Profiles = append(b.spec.Profiles, o.profiles...)
	b.spec.Users = append(b.spec.Users, o.users...)
	var err error
	if b.sfOrg, err = b.sb.Salesforce().AddOrg(b.spec); err != nil {
		t.Fatalf("seed Salesforce org: %v", err)
	}
	team := b.sb.Salesforce().Users(b.sfOrg)[0]
	grant, err := b.sb.IssueGrant(sandbox.Salesforce, team, nil)
	if err != nil {
		t.Fatalf("grant: %v", err)
	}
	b.org, err = st.CreateOrg(b.ctx, directory.Org{Name: "Acme", SeatLimit: o.seats})
	if err != nil {
		t.Fatal(err)
	}
	b.grant = grant
	auth := func(ctx context.Context, orgID string) (salesforce.TeamAuth, error) {
		return salesforce.TeamAuth{
			InstanceURL: srv.URL + "/salesforce",
			Token:       func(context.Context) (string, error) { return grant.AccessToken, nil },
		}, nil
	}
	if o.tokens {
		b.team = storetest.NewTeam(t, storetest.TeamParams{Store: st, OrgID: b.org.ID, SandboxURL: srv.URL,
			Grant: grant, SFUser: team, SFOrg: b.sfOrg, RedisDB: 12})
		auth = salesforce.TeamAuthFrom(b.team.Tokens)
	}
	dirs, err := salesforce.NewInviteDirectories(salesforce.InviteDirectoriesParams{
		Auth:      auth,
		BatchSize: o.batch,
		Usage:     st,
	})
	if err != nil {
		t.Fatal(err)
	}
	b.sender = o.sender
	if b.sender == nil {
		b.sender = &recSender{}
	}
	var ist invites.Store = store.Invites{Store: st}
	if o.wrap != nil {
		ist = o.wrap(ist)
	}
	b.svc, err = invites.New(invites.Config{
		Store: ist, Directories: dirs, Sender: b.sender,
		BudgetShare: o.share, PauseFor: 10 * time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sfID returns the Salesforce id of the user with username u.
func (b *bundle) sfID(username string) string {
	b.t.Helper()
	u, ok := b.sb.Salesforce().UserByUsername(username)
	if !ok {
		b.t.Fatalf("no sandbox user %s", username)
	}
	return u.ID
}

// run creates and runs an import, failing the test on error.
func (b *bundle) run(req invites.Request) directory.Import {
	b.t.Helper()
	imp := b.create(req)
	got, err := b.svc.Run(b.ctx, imp.OrgID, imp.ID)
	if err != nil {
		b.t.Fatalf("run import: %v", err)
	}
	return got
}

func (b *bundle) create(req invites.Request) directory.Import {
	b.t.Helper()
	if req.OrgID == "" {
		req.OrgID = b.org.ID
	}
	if req.Role == "" {
		req.Role = directory.RoleChat
	}
	imp, err := b.svc.Create(b.ctx, req)
	if err != nil {
		b.t.Fatalf("create import: %v", err)
	}
	return imp
}

// member makes email an active member of org.
func (b *bundle) member(org directory.Org, email string) directory.User {
	b.t.Helper()
	u, err := b.st.GetUserByEmail(b.ctx, email)
	if err != nil {
		if u, err = b.st.CreateUser(b.ctx, directory.User{Email: email, Name: email}); err != nil {
			b.t.Fatal(err)
		}
	}
	if _, err := b.st.CreateMembership(b.ctx, org.ID, directory.Membership{
		UserID: u.ID, Role: directory.RoleMeetings, Status: directory.MembershipActive,
	}); err != nil {
		b.t.Fatal(err)
	}
	return u
}

// invite gives org a pending invite for email made outside the import.
func (b *bundle) invite(org directory.Org, email string) {
	b.t.Helper()
	if _, err := b.st.CreateInvite(b.ctx, org.ID, directory.Invite{
		Email: email, Role: directory.RoleChat, TokenHash: "manual-" + email, ExpiresAt: time.Now().Add(time.Hour),
	}); err != nil {
		b.t.Fatal(err)
	}
}

// pendingInvites returns the org's pending invites by email.
func (b *bundle) pendingInvites(org directory.Org) map[string]directory.Invite {
	b.t.Helper()
	all, err := b.st.ListInvites(b.ctx, org.ID, store.InviteFilter{Status: directory.InvitePending, Limit: 10000})
	if err != nil {
		b.t.Fatal(err)
	}
	out := map[string]directory.Invite{}
	for _, i := range all {
		if _, dup := out[i.Email]; dup {
			b.t.Fatalf("two pending invites for %s", i.Email)
		}
		out[i.Email] = i
	}
	return out
}

// recSender records queued sends; fail makes the nth call (1-based) fail once.
type recSender struct {
	mu    sync.Mutex
	calls int
	ids   []string
	fail  int
	// onQueue runs on every call, before it records (used to change the world mid-import).
	onQueue func(call int)
}

func (s *recSender) QueueSends(_ context.Context, _ string, ids []string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if s.onQueue != nil {
		s.onQueue(s.calls)
	}
	if s.calls == s.fail {
		return errTransient
	}
	s.ids = append(s.ids, ids...)
	return nil
}

// distinct returns the recorded ids without repeats, sorted.
func (s *recSender) distinct() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := slices.Clone(s.ids)
	slices.Sort(out)
	return slices.Compact(out)
}

type transientError struct{}

func (transientError) Error() string { return "queue unavailable" }

var errTransient error = transientError{}

func active(b bool) *bool { return &b }

// user is a sandbox user spec in profile p.
func user(username, email, p string) sfdc.UserSpec {
	return sfdc.UserSpec{Username: username + "@acme.example.com", Email: email, LastName: username, Profile: p}
}
