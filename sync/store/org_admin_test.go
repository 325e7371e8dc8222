package store_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"tether/sync/directory"
	"tether/sync/store"
)

func TestOrgSalesforceLogin(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		if b.orgA.SalesforceLogin != directory.SalesforceProduction {
			t.Fatalf("default login %q, want production", b.orgA.SalesforceLogin)
		}
		sb, err := b.s.CreateOrg(b.ctx, directory.Org{Name: "Sandbox Co", SalesforceLogin: directory.SalesforceSandbox})
		must(t, err, "create sandbox org")
		got, err := b.s.GetOrg(b.ctx, sb.ID)
		must(t, err, "get sandbox org")
		if got.SalesforceLogin != directory.SalesforceSandbox {
			t.Fatalf("stored login %q", got.SalesforceLogin)
		}
		_, err = b.s.CreateOrg(b.ctx, directory.Org{Name: "Bad", SalesforceLogin: "staging"})
		wantErr(t, err, directory.ErrInvalid, "create org with an unknown login")
		prod := directory.SalesforceProduction
		o, err := b.s.ChangeOrg(b.ctx, sb.ID, directory.OrgChange{SalesforceLogin: &prod}, b.now)
		must(t, err, "change login")
		if again, _ := b.s.GetOrg(b.ctx, sb.ID); o.SalesforceLogin != prod || again.SalesforceLogin != prod {
			t.Fatalf("after change: returned %q, stored %q", o.SalesforceLogin, again.SalesforceLogin)
		}
	})
}

func TestListOrgs(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		c1, err := b.s.CreateOrg(b.ctx, directory.Org{Name: "Client 1", SeatLimit: 5, ParentOrgID: b.orgA.ID})
		must(t, err, "client 1")
		c2, err := b.s.CreateOrg(b.ctx, directory.Org{Name: "Client 2", ParentOrgID: b.orgA.ID})
		must(t, err, "client 2")
		b.member(t, c1, "ann@example.com", directory.RoleAdmin, directory.MembershipActive)
		b.member(t, c1, "bob@example.com", directory.RoleChat, directory.MembershipDeactivated)
		b.invite(t, c1, "cat@example.com")
		// An invite past its expiry holds no seat.
		_, err = b.s.CreateInvite(b.ctx, c1.ID, directory.Invite{Email: "old@example.com", Role: directory.RoleChat,
			TokenHash: "old", ExpiresAt: b.now.Add(-time.Minute), CreatedAt: b.now.Add(-time.Hour)})
		must(t, err, "expired invite")

		clients, err := b.s.ListOrgs(b.ctx, directory.OrgFilter{ParentID: b.orgA.ID}, b.now)
		must(t, err, "list A's clients")
		if len(clients) != 2 || clients[0].Org.ID != c1.ID || clients[1].Org.ID != c2.ID {
			t.Fatalf("A's clients: %+v", clients)
		}
		want := directory.Seats{Limit: 5, Active: 1, PendingInvites: 1}
		if clients[0].Seats != want || clients[0].Org.ParentOrgID != b.orgA.ID || clients[0].Org.Name != "Client 1" {
			t.Fatalf("client 1: %+v, want seats %+v", clients[0], want)
		}
		if clients[1].Seats != (directory.Seats{}) || clients[1].Seats.Available() != -1 {
			t.Fatalf("client 2 (no limit, nobody): %+v", clients[1])
		}

		all, err := b.s.ListOrgs(b.ctx, directory.OrgFilter{}, b.now)
		must(t, err, "list all")
		if len(all) != 4 {
			t.Fatalf("listed %d orgs, want 4", len(all))
		}
		for _, u := range all {
			wantClients := 0
			if u.Org.ID == b.orgA.ID {
				wantClients = 2
			}
			if u.Clients != wantClients {
				t.Errorf("org %s has %d clients listed, want %d", u.Org.Name, u.Clients, wantClients)
			}
		}
		page, err := b.s.ListOrgs(b.ctx, directory.OrgFilter{AfterID: all[1].Org.ID, Limit: 1}, b.now)
		must(t, err, "page")
		if len(page) != 1 || page[0].Org.ID != all[2].Org.ID {
			t.Fatalf("page after %s: %+v", all[1].Org.ID, page)
		}
		none, err := b.s.ListOrgs(b.ctx, directory.OrgFilter{ParentID: c1.ID}, b.now)
		must(t, err, "list a client's clients")
		if len(none) != 0 {
			t.Fatalf("client 1 has clients: %+v", none)
		}
	})
}

func TestChangeOrgSeats(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		b.member(t, b.orgA, "ann@example.com", directory.RoleAdmin, directory.MembershipActive)
		b.invite(t, b.orgA, "bob@example.com")
		seats := func(n int) directory.OrgChange { return directory.OrgChange{SeatLimit: &n} }

		_, err := b.s.ChangeOrg(b.ctx, b.orgA.ID, seats(1), b.now)
		var inUse *directory.SeatsInUseError
		if !errors.As(err, &inUse) || inUse.Seats.Used() != 2 || inUse.Limit != 1 || inUse.OrgID != b.orgA.ID {
			t.Fatalf("lowering below 2 used: %v (%+v)", err, inUse)
		}
		if o, _ := b.s.GetOrg(b.ctx, b.orgA.ID); o.SeatLimit != 10 {
			t.Fatalf("refused change stored limit %d", o.SeatLimit)
		}
		name := "Acme Inc"
		o, err := b.s.ChangeOrg(b.ctx, b.orgA.ID, directory.OrgChange{SeatLimit: seats(2).SeatLimit, Name: &name}, b.now)
		must(t, err, "limit equal to seats used")
		got, _ := b.s.GetOrg(b.ctx, b.orgA.ID)
		if o.SeatLimit != 2 || got.SeatLimit != 2 || got.Name != name {
			t.Fatalf("after change: returned %+v, stored %+v", o, got)
		}
		// Once the invite has expired it holds no seat, so 1 is enough.
		_, err = b.s.ChangeOrg(b.ctx, b.orgA.ID, seats(1), b.now.Add(8*24*time.Hour))
		must(t, err, "lowering after the invite expired")
		_, err = b.s.ChangeOrg(b.ctx, b.orgA.ID, seats(-1), b.now)
		wantErr(t, err, directory.ErrInvalid, "negative limit")
		_, err = b.s.ChangeOrg(b.ctx, store.NewID(), seats(5), b.now)
		wantErr(t, err, directory.ErrNotFound, "unknown org")
	})
}

func TestChangeOrgParent(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		// A <- c1 <- c2 (c2 is a client of c1, which is a client of A).
		c1, err := b.s.CreateOrg(b.ctx, directory.Org{Name: "c1", ParentOrgID: b.orgA.ID})
		must(t, err, "c1")
		c2, err := b.s.CreateOrg(b.ctx, directory.Org{Name: "c2", ParentOrgID: c1.ID})
		must(t, err, "c2")
		parent := func(id string) directory.OrgChange { return directory.OrgChange{ParentOrgID: &id} }

		for _, tc := range []struct {
			name, org, parent string
		}{
			{"own parent", b.orgA.ID, b.orgA.ID},
			{"direct client as parent", b.orgA.ID, c1.ID},
			{"client of a client as parent", b.orgA.ID, c2.ID},
			{"client's client under itself", c1.ID, c2.ID},
		} {
			_, err := b.s.ChangeOrg(b.ctx, tc.org, parent(tc.parent), b.now)
			var cycle *directory.ParentCycleError
			if !errors.As(err, &cycle) || cycle.OrgID != tc.org || cycle.ParentID != tc.parent {
				t.Errorf("%s: got %v, want a ParentCycleError", tc.name, err)
			}
		}
		if o, _ := b.s.GetOrg(b.ctx, b.orgA.ID); o.ParentOrgID != "" {
			t.Fatalf("a refused cycle stored parent %q", o.ParentOrgID)
		}
		_, err = b.s.ChangeOrg(b.ctx, c2.ID, parent(store.NewID()), b.now)
		wantErr(t, err, directory.ErrNotFound, "unknown parent")

		o, err := b.s.ChangeOrg(b.ctx, c2.ID, parent(b.orgB.ID), b.now)
		must(t, err, "move c2 under B")
		if o.ParentOrgID != b.orgB.ID {
			t.Fatalf("returned parent %q", o.ParentOrgID)
		}
		// With c2 gone from under c1, c1 may now become c2's... parent's parent: B under c1.
		_, err = b.s.ChangeOrg(b.ctx, b.orgB.ID, parent(c1.ID), b.now)
		must(t, err, "B under c1")
		o, err = b.s.ChangeOrg(b.ctx, c1.ID, parent(""), b.now)
		must(t, err, "remove c1's parent")
		if got, _ := b.s.GetOrg(b.ctx, c1.ID); o.ParentOrgID != "" || got.ParentOrgID != "" {
			t.Fatalf("parent not removed: %q / %q", o.ParentOrgID, got.ParentOrgID)
		}
	})
}

func TestPendingImports(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		var ids []string
		for i, st := range []directory.ImportStatus{directory.ImportQueued, directory.ImportDone, directory.ImportRunning,
			directory.ImportFailed, directory.ImportPaused} {
			imp, err := b.s.CreateImport(b.ctx, b.orgA.ID, directory.Import{Role: directory.RoleChat, Status: st,
				CreatedAt: b.now.Add(time.Duration(i) * time.Minute)})
			must(t, err, "import %s", st)
			if st != directory.ImportDone && st != directory.ImportFailed {
				ids = append(ids, imp.ID)
			}
		}
		got, err := b.s.PendingImports(b.ctx, b.orgA.ID)
		must(t, err, "pending imports")
		if len(got) != len(ids) {
			t.Fatalf("got %d pending imports, want %d", len(got), len(ids))
		}
		for i := range got {
			if got[i].ID != ids[i] {
				t.Fatalf("pending imports out of order or wrong: %s at %d, want %s", got[i].ID, i, ids[i])
			}
		}
	})
}

func TestUserMembershipsAndDefaultOrg(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		// Names sort Acme, Globex, Zeta; ann is in all three with different roles.
		zeta := b.org(t, "Zeta", 1)
		mZ := b.member(t, zeta, "ann@example.com", directory.RoleMeetings, directory.MembershipDeactivated)
		mA := b.member(t, b.orgA, "ann@example.com", directory.RoleAdmin, directory.MembershipActive)
		mB := b.member(t, b.orgB, "ann@example.com", directory.RoleChat, directory.MembershipPending)
		b.member(t, b.orgB, "bob@example.com", directory.RoleChat, directory.MembershipActive)

		must(t, b.s.SetFavouriteOrg(b.ctx, b.orgB.ID, mA.UserID), "default org B")
		ms, err := b.s.ListUserMemberships(b.ctx, mA.UserID)
		must(t, err, "list")
		type row struct {
			org, name string
			role      directory.Role
			status    directory.MembershipStatus
			def       bool
			id        string
		}
		var gotRows []row
		for _, m := range ms {
			gotRows = append(gotRows, row{m.Membership.OrgID, m.OrgName, m.Membership.Role, m.Membership.Status, m.Default, m.Membership.ID})
		}
		want := []row{
			{b.orgA.ID, "Acme", directory.RoleAdmin, directory.MembershipActive, false, mA.ID},
			{b.orgB.ID, "Globex", directory.RoleChat, directory.MembershipPending, true, mB.ID},
			{zeta.ID, "Zeta", directory.RoleMeetings, directory.MembershipDeactivated, false, mZ.ID},
		}
		if len(gotRows) != len(want) {
			t.Fatalf("got %+v\nwant %+v", gotRows, want)
		}
		for i := range want {
			if gotRows[i] != want[i] {
				t.Fatalf("row %d: got %+v, want %+v", i, gotRows[i], want[i])
			}
		}
		// A deactivated membership cannot be the default.
		wantErr(t, b.s.SetFavouriteOrg(b.ctx, zeta.ID, mA.UserID), directory.ErrNotFound, "default org where deactivated")
		if u, _ := b.s.GetUser(b.ctx, mA.UserID); u.FavouriteOrgID != b.orgB.ID {
			t.Fatalf("refused default changed it to %q", u.FavouriteOrgID)
		}
		none, err := b.s.ListUserMemberships(b.ctx, store.NewID())
		must(t, err, "unknown user")
		if len(none) != 0 {
			t.Fatalf("unknown user has %d memberships", len(none))
		}
	})
}

// Lowering a seat limit and an import's "lock seats, then insert" race: whichever runs
// first, the other sees its result, so the seats used never pass the limit.
func TestChangeOrgSeatsRacesAnImport(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		b.member(t, b.orgA, "ann@example.com", directory.RoleAdmin, directory.MembershipActive)
		for i := range 10 {
			ten := 10
			_, err := b.s.ChangeOrg(b.ctx, b.orgA.ID, directory.OrgChange{SeatLimit: &ten}, b.now)
			must(t, err, "reset limit")
			used, err := b.s.CountSeats(b.ctx, b.orgA.ID, b.now)
			must(t, err, "count")
			target := used.Used() // lowering to exactly the seats in use is allowed
			start := make(chan struct{})
			errs := make(chan error, 2)
			go func() {
				<-start
				errs <- b.s.InTx(b.ctx, func(tx *store.Queries) error {
					seats, err := tx.LockOrgSeats(b.ctx, b.orgA.ID, b.now)
					if err != nil || seats.Available() == 0 {
						return err
					}
					_, err = tx.InsertImportPage(b.ctx, b.orgA.ID, store.ImportPage{Invites: []directory.Invite{{
						Email: fmt.Sprintf("race%d@example.com", i), Role: directory.RoleChat,
						TokenHash: fmt.Sprintf("race-%d", i), ExpiresAt: b.now.Add(time.Hour)}}})
					return err
				})
			}()
			go func() {
				<-start
				_, err := b.s.ChangeOrg(b.ctx, b.orgA.ID, directory.OrgChange{SeatLimit: &target}, b.now)
				var inUse *directory.SeatsInUseError
				if errors.As(err, &inUse) {
					err = nil // the import won: refusing is right
				}
				errs <- err
			}()
			close(start)
			for range 2 {
				must(t, <-errs, "round %d", i)
			}
			after, err := b.s.CountSeats(b.ctx, b.orgA.ID, b.now)
			must(t, err, "count after")
			if after.Used() > after.Limit {
				t.Fatalf("round %d: %d seats used over a limit of %d", i, after.Used(), after.Limit)
			}
		}
	})
}

// Two orgs each made the other's parent at the same moment: at most one change wins, and
// no cycle is stored.
func TestChangeOrgParentsRace(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		for i := range 10 {
			none := ""
			for _, id := range []string{b.orgA.ID, b.orgB.ID} {
				_, err := b.s.ChangeOrg(b.ctx, id, directory.OrgChange{ParentOrgID: &none}, b.now)
				must(t, err, "reset parent")
			}
			start := make(chan struct{})
			errs := make(chan error, 2)
			for _, pair := range [][2]string{{b.orgA.ID, b.orgB.ID}, {b.orgB.ID, b.orgA.ID}} {
				go func() {
					<-start
					p := pair[1]
					_, err := b.s.ChangeOrg(b.ctx, pair[0], directory.OrgChange{ParentOrgID: &p}, b.now)
					errs <- err
				}()
			}
			close(start)
			won := 0
			for range 2 {
				if <-errs == nil {
					won++
				}
			}
			a, _ := b.s.GetOrg(b.ctx, b.orgA.ID)
			bb, _ := b.s.GetOrg(b.ctx, b.orgB.ID)
			if won > 1 || (a.ParentOrgID == bb.ID && bb.ParentOrgID == a.ID) {
				t.Fatalf("round %d: %d changes won; A's parent %q, B's parent %q", i, won, a.ParentOrgID, bb.ParentOrgID)
			}
		}
	})
}

// An org's Salesforce session timeout: unknown at first; the check is claimed by one
// caller per period (the once-a-day bound across workers); a learned value round-trips
// through GetOrg, ListOrgs and a change of the org's other fields.
func TestOrgSalesforceSession(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		if s := b.orgA.SalesforceSession; s.Timeout != 0 || !s.LearnedAt.IsZero() || !s.CheckedAt.IsZero() {
			t.Fatalf("new org's session %+v, want unknown", s)
		}
		now := b.now.UTC().Truncate(time.Microsecond)
		won, err := b.s.ClaimSalesforceSessionCheck(b.ctx, b.orgA.ID, now, 24*time.Hour)
		must(t, err, "first claim")
		again, err := b.s.ClaimSalesforceSessionCheck(b.ctx, b.orgA.ID, now.Add(23*time.Hour), 24*time.Hour)
		must(t, err, "claim within the day")
		if !won || again {
			t.Fatalf("claims: first %t, within the day %t; want true, false", won, again)
		}
		forced, err := b.s.ClaimSalesforceSessionCheck(b.ctx, b.orgA.ID, now.Add(time.Minute), 0)
		must(t, err, "forced claim")
		later, err := b.s.ClaimSalesforceSessionCheck(b.ctx, b.orgA.ID, now.Add(24*time.Hour+time.Minute), 24*time.Hour)
		must(t, err, "claim a day after the forced one")
		if !forced || !later {
			t.Fatalf("claims: forced %t, a day later %t; want both", forced, later)
		}
		_, err = b.s.ClaimSalesforceSessionCheck(b.ctx, "no-such-org", now, 0)
		wantErr(t, err, directory.ErrNotFound, "claim for an unknown org")

		must(t, b.s.SetSalesforceSession(b.ctx, b.orgA.ID, 30*time.Minute, now), "set 30m")
		wantErr(t, b.s.SetSalesforceSession(b.ctx, b.orgA.ID, 0, now), directory.ErrInvalid, "set 0")
		wantErr(t, b.s.SetSalesforceSession(b.ctx, "no-such-org", time.Hour, now), directory.ErrNotFound, "set for an unknown org")
		want := directory.SalesforceSession{Timeout: 30 * time.Minute, LearnedAt: now, CheckedAt: now.Add(24*time.Hour + time.Minute)}
		got, err := b.s.GetOrg(b.ctx, b.orgA.ID)
		must(t, err, "get org")
		if !sameSession(got.SalesforceSession, want) {
			t.Fatalf("GetOrg: %+v, want %+v", got.SalesforceSession, want)
		}
		all, err := b.s.ListOrgs(b.ctx, directory.OrgFilter{}, b.now)
		must(t, err, "list orgs")
		found := false
		for _, u := range all {
			if u.Org.ID == b.orgA.ID {
				found = sameSession(u.Org.SalesforceSession, want)
			}
		}
		if !found {
			t.Fatalf("ListOrgs does not show %+v: %+v", want, all)
		}
		name := "Renamed"
		_, err = b.s.ChangeOrg(b.ctx, b.orgA.ID, directory.OrgChange{Name: &name}, b.now)
		must(t, err, "rename")
		if got, _ := b.s.GetOrg(b.ctx, b.orgA.ID); !sameSession(got.SalesforceSession, want) {
			t.Fatalf("after a rename: %+v, want %+v", got.SalesforceSession, want)
		}
	})
}

func sameSession(a, b directory.SalesforceSession) bool {
	return a.Timeout == b.Timeout && a.LearnedAt.Equal(b.LearnedAt) && a.CheckedAt.Equal(b.CheckedAt)
}
