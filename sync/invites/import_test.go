package invites_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"tether/connectors/sandbox/sfdc"
	"tether/sync/directory"
	"tether/sync/invites"
	"tether/sync/store"
	"tether/sync/store/storetest"
)

// reasonUsers covers every per-person reason of a selection by profile.
func reasonUsers() []sfdc.UserSpec {
	std := sfdc.ProfileStandardUser
	return []sfdc.UserSpec{
		user("alice", "alice@acme.com", std),
		user("bob", "Bob@Acme.com", std),
		user("bob2", "bob@acme.com", std), // same email, other case: once
		user("carol", "carol@acme.com", std),
		user("dave", "dave@acme.com", std),
		user("erin", "erin@other.com", std),
		user("frank", "", std),
		user("gina", "gina@@acme.com", std),
		user("hal", "hal@acme.com.invalid", std),
		{Username: "henry@acme.example.com", Email: "henry@acme.com", LastName: "henry", Profile: std, IsActive: active(false)},
		user("ivy", "ivy@acme.com", sfdc.ProfileCustomerCommunity),
		user("sam", "sam@acme.com", sfdc.ProfileSalesUser),
	}
}

func TestImportByProfileCountsEveryReason(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		b := setup(t, st, opts{users: reasonUsers()})
		other, err := st.CreateOrg(b.ctx, directory.Org{Name: "Other"})
		if err != nil {
			t.Fatal(err)
		}
		b.member(b.org, "carol@acme.com")
		b.invite(b.org, "dave@acme.com")
		erin := b.member(other, "erin@other.com")

		imp := b.run(invites.Request{Profiles: []string{"standard user"}, Role: directory.RoleChat, Group: "EMEA"})

		want := directory.ImportCounts{
			// Inactive henry is filtered in SOQL: never fetched, never counted.
			Found: 9, Invited: 2, DuplicateInImport: 1, AlreadyMember: 1, AlreadyInvited: 1,
			AddedMultiAccount: 1, SkippedNoEmail: 1, SkippedInvalidEmail: 2,
		}
		if imp.Counts != want {
			t.Errorf("counts\n got %+v\nwant %+v", imp.Counts, want)
		}
		if imp.Status != directory.ImportDone || imp.Progress.Done != 9 || imp.Progress.Total != 9 {
			t.Errorf("status %s progress %+v", imp.Status, imp.Progress)
		}
		pending := b.pendingInvites(b.org)
		for _, e := range []string{"alice@acme.com", "bob@acme.com", "erin@other.com"} {
			inv, ok := pending[e]
			if !ok {
				t.Fatalf("no pending invite for %s", e)
			}
			if inv.Role != directory.RoleChat || inv.GroupID != imp.GroupID || imp.GroupID == "" ||
				inv.Source != directory.SourceSalesforce || inv.ImportID != imp.ID || inv.SalesforceUserID == "" {
				t.Errorf("invite %s: %+v", e, inv)
			}
		}
		if len(pending) != 4 { // three new + dave's existing one
			t.Errorf("%d pending invites, want 4", len(pending))
		}
		// Erin: one login, now pending in this org with the import's role.
		m, err := st.GetMembershipByUser(b.ctx, b.org.ID, erin.ID)
		if err != nil {
			t.Fatalf("erin has no membership in the importing org: %v", err)
		}
		if m.Status != directory.MembershipPending || m.Role != directory.RoleChat || !slices.Contains(m.GroupIDs, imp.GroupID) {
			t.Errorf("erin's membership %+v", m)
		}
		// One send per new invite, nothing for the skipped.
		var ids []string
		for _, e := range []string{"alice@acme.com", "bob@acme.com", "erin@other.com"} {
			ids = append(ids, pending[e].ID)
		}
		slices.Sort(ids)
		if got := b.sender.distinct(); !slices.Equal(got, ids) || len(b.sender.ids) != 3 {
			t.Errorf("sends %v, want %v once each", b.sender.ids, ids)
		}
	})
}

func TestImportByUserIDsCountsInactiveNonStandardAndNotFound(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		b := setup(t, st, opts{users: reasonUsers()})
		ids := []string{b.sfID("henry@acme.example.com"), b.sfID("ivy@acme.example.com"),
			strings.ToLower(b.sfID("alice@acme.example.com")), // 18-char ids are case-insensitive
			b.sfID("sam@acme.example.com")[:15],               // and 15-char ones accepted
			"005000000000999AAA"}                              // valid, but no such user
		imp := b.run(invites.Request{UserIDs: ids, Role: directory.RoleAdmin})
		want := directory.ImportCounts{Found: 4, Invited: 2, SkippedInactive: 1, SkippedNotStandard: 1, NotFound: 1}
		if imp.Counts != want {
			t.Errorf("counts\n got %+v\nwant %+v", imp.Counts, want)
		}
		if len(imp.Refused) != 1 || imp.Refused[0].Reason != invites.ReasonNotFound || imp.Refused[0].SalesforceUserID != "005000000000999AAA" {
			t.Errorf("refused %+v", imp.Refused)
		}
		if p := b.pendingInvites(b.org); p["alice@acme.com"].Role != directory.RoleAdmin || p["sam@acme.com"].ID == "" {
			t.Errorf("invites %+v", p)
		}
	})
}

// TestImportMergedUserIDsAreCounted: a repeated user id, and one user's 15- and
// 18-character ids, are read once (found 2 of 4 ids given), and the import keeps how many
// ids were given, so "found 2" can be explained; without repeats it records nothing.
func TestImportMergedUserIDsAreCounted(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		b := setup(t, st, opts{users: reasonUsers()})
		alice, sam := b.sfID("alice@acme.example.com"), b.sfID("sam@acme.example.com")
		imp := b.run(invites.Request{UserIDs: []string{alice, sam, alice, sam[:15]}})
		if imp.Counts.Found != 2 || imp.Selection.UserIDsGiven != 4 || len(imp.Selection.UserIDs) != 2 {
			t.Fatalf("found %d, selection %+v: want found 2, 4 ids given, 2 distinct", imp.Counts.Found, imp.Selection)
		}
		if once := b.create(invites.Request{UserIDs: []string{alice, sam}}); once.Selection.UserIDsGiven != 0 {
			t.Fatalf("no repeats, yet %d ids given recorded", once.Selection.UserIDsGiven)
		}
	})
}

func TestImportHostileProfileNames(t *testing.T) {
	t.Parallel()
	hostile := `O'Brien\' OR Name != '`
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		b := setup(t, st, opts{
			profiles: []sfdc.ProfileSpec{{Name: hostile, Permissions: sfdc.PermissionsSpec{User: []string{"ApiEnabled"}}}},
			users:    append(reasonUsers(), user("judy", "judy@acme.com", hostile)),
		})
		imp := b.run(invites.Request{Profiles: []string{hostile}})
		if imp.Counts.Found != 1 || imp.Counts.Invited != 1 {
			t.Fatalf("hostile profile name reached %+v, want exactly judy", imp.Counts)
		}
		if _, ok := b.pendingInvites(b.org)["judy@acme.com"]; !ok {
			t.Error("judy not invited")
		}
		// A name crafted to widen the query matches nothing: the import fails and says
		// which profiles exist.
		bad := b.create(invites.Request{Profiles: []string{`x' OR Name != '`}})
		got, err := b.svc.Run(b.ctx, b.org.ID, bad.ID)
		var up *invites.UnknownProfilesError
		if !errors.As(err, &up) || !slices.Contains(up.Known, sfdc.ProfileStandardUser) || !slices.Contains(up.Known, hostile) {
			t.Fatalf("run: %v", err)
		}
		if got.Status != directory.ImportFailed || len(got.Errors) != 1 || !strings.Contains(got.Errors[0], "Standard User") {
			t.Errorf("failed import %s %q", got.Status, got.Errors)
		}
	})
}

func TestImportSeatLimitRefusesAndListsTheRest(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		var us []sfdc.UserSpec
		for _, n := range []string{"a1", "a2", "a3", "a4", "a5", "a6"} {
			us = append(us, user(n, n+"@acme.com", sfdc.ProfileSalesUser))
		}
		b := setup(t, st, opts{users: us, seats: 4})
		b.member(b.org, "boss@acme.com")  // 1 active
		b.invite(b.org, "later@acme.com") // 1 pending: 2 of 4 used
		imp := b.run(invites.Request{Profiles: []string{sfdc.ProfileSalesUser}})
		if imp.Counts.Invited != 2 || imp.Counts.OverSeatLimit != 4 {
			t.Fatalf("counts %+v", imp.Counts)
		}
		if len(imp.Refused) != 4 || imp.Refused[0].Reason != invites.ReasonOverSeatLimit || imp.Refused[0].Email == "" {
			t.Errorf("refused %+v", imp.Refused)
		}
		if len(imp.Errors) != 1 || !strings.HasPrefix(imp.Errors[0], "4 seats missing") {
			t.Errorf("errors %q", imp.Errors)
		}
		seats, err := st.CountSeats(b.ctx, b.org.ID, b.sb.Now())
		if err != nil || seats.Used() != 4 {
			t.Errorf("seats %+v %v", seats, err)
		}
	})
}

// Two imports at once cannot oversell: seats are decided under the org's lock.
// seatBarrier holds each import's first page inside the seat-locked section until the
// other import has reached its own WritePage and either joins it there or stays
// blocked for grace. With the seat lock the other stays blocked (the first holds the
// lock); without it both read the same free seats at once, every run, and overfill.
type seatBarrier struct {
	invites.Store
	mu      sync.Mutex
	entered int           // WritePage calls begun
	both    chan struct{} // closed once two WritePage calls have begun
	inside  chan struct{} // one token per plan reached
	grace   time.Duration
	planned map[string]bool
}

func newSeatBarrier(s invites.Store) *seatBarrier {
	return &seatBarrier{Store: s, both: make(chan struct{}), inside: make(chan struct{}, 2),
		grace: 500 * time.Millisecond, planned: map[string]bool{}}
}

func (sb *seatBarrier) WritePage(ctx context.Context, orgID string, at time.Time,
	plan func(directory.Seats) (invites.Page, error), finish func(invites.PageResult) (directory.Checkpoint, error)) error {
	sb.mu.Lock()
	first := sb.entered < 2
	if first {
		if sb.entered++; sb.entered == 2 {
			close(sb.both)
		}
	}
	sb.mu.Unlock()
	if !first {
		return sb.Store.WritePage(ctx, orgID, at, plan, finish)
	}
	return sb.Store.WritePage(ctx, orgID, at, func(seats directory.Seats) (invites.Page, error) {
		sb.inside <- struct{}{}
		<-sb.both // the other import is in WritePage too: under the lock, blocked on it
		select {
		case <-time.After(sb.grace):
		case <-sb.waitOther():
		}
		return plan(seats)
	}, finish)
}

// waitOther is closed when both imports are inside the locked section at once.
func (sb *seatBarrier) waitOther() <-chan struct{} {
	ch := make(chan struct{})
	go func() {
		for len(sb.inside) < 2 {
			time.Sleep(time.Millisecond)
		}
		close(ch)
	}()
	return ch
}

// Invariant: seats are checked and taken under the org's seat lock, so two imports
// running at once never invite past the limit together. A barrier inside the locked
// section makes the race certain when the lock is missing.
func TestConcurrentImportsShareTheSeatLimit(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		var barrier *seatBarrier
		var us []sfdc.UserSpec
		for i := range 30 {
			p := sfdc.ProfileSalesUser
			if i%2 == 1 {
				p = sfdc.ProfileMarketingUser
			}
			n := "u" + string(rune('a'+i/10)) + string(rune('a'+i%10))
			us = append(us, user(n, n+"@acme.com", p))
		}
		o := opts{users: us, seats: 20}
		// PostgreSQL's seat lock is a row lock the barrier can race; SQLite has one
		// writer, and two transactions held open at once there end in SQLITE_BUSY
		// rather than in an overfill, so the barrier would test SQLite's locking.
		if strings.HasSuffix(t.Name(), "/postgres") {
			o.wrap = func(s invites.Store) invites.Store {
				barrier = newSeatBarrier(s)
				return barrier
			}
		}
		b := setup(t, st, o)
		i1 := b.create(invites.Request{Profiles: []string{sfdc.ProfileSalesUser}})
		i2 := b.create(invites.Request{Profiles: []string{sfdc.ProfileMarketingUser}})
		errs := make(chan error, 2)
		res := make(chan directory.Import, 2)
		for _, imp := range []directory.Import{i1, i2} {
			go func() {
				got, err := b.svc.Run(b.ctx, b.org.ID, imp.ID)
				errs <- err
				res <- got
			}()
		}
		total := 0
		for range 2 {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
			c := (<-res).Counts
			total += c.Invited
			if c.Invited+c.OverSeatLimit != 15 {
				t.Errorf("counts %+v", c)
			}
		}
		if barrier != nil && len(barrier.inside) != 2 {
			t.Fatalf("%d imports passed the barrier, want both", len(barrier.inside))
		}
		seats, err := st.CountSeats(b.ctx, b.org.ID, b.sb.Now())
		if err != nil || seats.Used() != 20 || total != 20 {
			t.Errorf("seats %+v invited %d, want exactly the limit 20 (%v)", seats, total, err)
		}
	})
}

func TestDryRunWritesNothingAndCountsTheSame(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		b := setup(t, st, opts{users: reasonUsers(), seats: 3})
		b.member(b.org, "carol@acme.com")
		b.invite(b.org, "dave@acme.com")
		dry := b.run(invites.Request{Profiles: []string{sfdc.ProfileStandardUser}, Group: "New", DryRun: true})
		if len(b.pendingInvites(b.org)) != 1 || len(b.sender.ids) != 0 {
			t.Fatalf("dry run wrote invites or queued sends")
		}
		if gs, _ := st.ListGroups(b.ctx, b.org.ID); len(gs) != 0 {
			t.Errorf("dry run created groups %+v", gs)
		}
		real := b.run(invites.Request{Profiles: []string{sfdc.ProfileStandardUser}, Group: "New"})
		if dry.Counts != real.Counts || dry.Counts.OverSeatLimit != 2 || !dry.DryRun {
			t.Errorf("dry %+v\nreal %+v", dry.Counts, real.Counts)
		}
		if !slices.Equal(dry.Errors, real.Errors) || len(dry.Refused) != len(real.Refused) {
			t.Errorf("dry errors %q refused %d; real %q %d", dry.Errors, len(dry.Refused), real.Errors, len(real.Refused))
		}
	})
}

func TestEmailListRoute(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		b := setup(t, st, opts{})
		b.member(b.org, "c@x.com")
		list := invites.SplitEmails("a@x.com, b@y.com\nbad@@x.com c@x.com;A@X.COM\r\n")
		imp := b.run(invites.Request{Emails: list, Role: directory.RoleMeetings})
		want := directory.ImportCounts{Found: 5, Invited: 2, SkippedInvalidEmail: 1, AlreadyMember: 1, DuplicateInImport: 1}
		if imp.Counts != want {
			t.Errorf("counts %+v want %+v", imp.Counts, want)
		}
		p := b.pendingInvites(b.org)
		if p["a@x.com"].Source != directory.SourceEmail || p["b@y.com"].Role != directory.RoleMeetings {
			t.Errorf("invites %+v", p)
		}
		if b.queries.Load() != 0 {
			t.Error("the email route called Salesforce")
		}
	})
}

// A deactivated member is invited again (the way back: the Join reactivates the
// membership), an active one is not; a deactivated member of this org who is also in
// another org is invited, not added as a multi-account member.
func TestImportInvitesDeactivatedMembersAgain(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		b := setup(t, st, opts{})
		other, err := st.CreateOrg(b.ctx, directory.Org{Name: "Other"})
		if err != nil {
			t.Fatal(err)
		}
		b.member(b.org, "stays@x.com")
		for _, e := range []string{"left@x.com", "both@x.com"} {
			u := b.member(b.org, e)
			m, err := st.GetMembershipByUser(b.ctx, b.org.ID, u.ID)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := st.DeactivateMembership(b.ctx, b.org.ID, m.ID, time.Now()); err != nil {
				t.Fatal(err)
			}
		}
		b.member(other, "both@x.com")
		imp := b.run(invites.Request{Emails: invites.SplitEmails("stays@x.com left@x.com both@x.com"), Role: directory.RoleChat})
		if want := (directory.ImportCounts{Found: 3, Invited: 2, AlreadyMember: 1}); imp.Counts != want {
			t.Errorf("counts %+v want %+v", imp.Counts, want)
		}
		p := b.pendingInvites(b.org)
		if _, ok := p["stays@x.com"]; ok || p["left@x.com"].Role != directory.RoleChat || p["both@x.com"].Role != directory.RoleChat {
			t.Errorf("invites %+v", p)
		}
	})
}

func TestCreateValidates(t *testing.T) {
	t.Parallel()
	st := storetest.SQLite(t)
	b := setup(t, st, opts{})
	cases := []struct {
		name string
		req  invites.Request
		code string
	}{
		{"no role", invites.Request{OrgID: b.org.ID, Profiles: []string{"x"}}, invites.CodeInvalidRole},
		{"bad role", invites.Request{OrgID: b.org.ID, Profiles: []string{"x"}, Role: "owner"}, invites.CodeInvalidRole},
		{"empty", invites.Request{OrgID: b.org.ID, Role: "chat", Profiles: []string{" "}}, invites.CodeEmptySelection},
		{"mixed", invites.Request{OrgID: b.org.ID, Role: "chat", Profiles: []string{"x"}, Emails: []string{"a@b.c"}}, invites.CodeMixedSelection},
		{"bad ids", invites.Request{OrgID: b.org.ID, Role: "chat", UserIDs: []string{"005' OR Id != '", "00e000000000001AAA", "005000000000001"}}, invites.CodeInvalidID},
		{"no org", invites.Request{OrgID: "nope", Role: "chat", Profiles: []string{"x"}}, invites.CodeOrgNotFound},
	}
	for _, c := range cases {
		_, err := b.svc.Create(b.ctx, c.req)
		var e *invites.Error
		if !errors.As(err, &e) || e.Code != c.code {
			t.Errorf("%s: %v, want code %s", c.name, err, c.code)
		}
		if c.code == invites.CodeInvalidID && !slices.Equal(e.Values, []string{"005' OR Id != '", "00e000000000001AAA"}) {
			t.Errorf("bad ids listed %q", e.Values)
		}
	}
}

// The import's 401 goes through the real token service: the access token the sandbox
// expired is refreshed once through the token endpoint, the new one is stored, and the
// import completes. A refresh the service did not persist, or a second refresh, fails
// here.
func TestImportRefreshesAnExpiredTeamTokenThroughTheTokenService(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		b := setup(t, st, opts{users: reasonUsers(), seats: 10, tokens: true})
		if err := b.sb.ExpireAccessTokens(b.grant.GrantID); err != nil {
			t.Fatal(err)
		}
		imp := b.run(invites.Request{Profiles: []string{sfdc.ProfileStandardUser}})
		if imp.Status != directory.ImportDone || imp.Counts.Invited == 0 {
			t.Fatalf("import over an expired access token: status %s, counts %+v, errors %q", imp.Status, imp.Counts, imp.Errors)
		}
		if g := b.sb.Counters().Grants[b.grant.GrantID]; g.Refreshes != 1 {
			t.Fatalf("the token endpoint saw %d refreshes, want 1", g.Refreshes)
		}
		if stored := b.team.AccessToken(t, st, b.org.ID); stored == b.grant.AccessToken {
			t.Fatal("the refreshed access token was not stored")
		}
	})
}
