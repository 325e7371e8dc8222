package store_test

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"tether/sync/directory"
	"tether/sync/store"
)

func TestLookupEmails(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		member := b.member(t, b.orgA, "member@example.com", directory.RoleChat, directory.MembershipActive)
		deact := b.member(t, b.orgA, "gone@example.com", directory.RoleChat, directory.MembershipDeactivated)
		other := b.member(t, b.orgB, "other@example.com", directory.RoleChat, directory.MembershipActive)
		both := b.member(t, b.orgA, "both@example.com", directory.RoleChat, directory.MembershipActive)
		b.member(t, b.orgB, "both@example.com", directory.RoleChat, directory.MembershipActive)
		inv := b.invite(t, b.orgA, "invited@example.com")
		b.invite(t, b.orgB, "invited-elsewhere@example.com")
		loner := b.user(t, "loner@example.com")

		got, err := b.s.LookupEmails(b.ctx, b.orgA.ID, []string{
			"Member@example.com", "gone@example.com", "other@example.com", "both@example.com",
			"invited@example.com", "invited-elsewhere@example.com", "loner@example.com", "new@example.com",
			"member@example.com", "",
		}, b.now)
		must(t, err, "lookup")
		want := map[string]directory.EmailSituation{
			"member@example.com":            {Email: "member@example.com", UserID: member.UserID, MembershipID: member.ID, MembershipStatus: directory.MembershipActive},
			"gone@example.com":              {Email: "gone@example.com", UserID: deact.UserID, MembershipID: deact.ID, MembershipStatus: directory.MembershipDeactivated},
			"other@example.com":             {Email: "other@example.com", UserID: other.UserID, InOtherOrg: true},
			"both@example.com":              {Email: "both@example.com", UserID: both.UserID, MembershipID: both.ID, MembershipStatus: directory.MembershipActive, InOtherOrg: true},
			"invited@example.com":           {Email: "invited@example.com", PendingInviteID: inv.ID},
			"invited-elsewhere@example.com": {Email: "invited-elsewhere@example.com"},
			"loner@example.com":             {Email: "loner@example.com", UserID: loner.ID},
			"new@example.com":               {Email: "new@example.com"},
		}
		if len(got) != len(want) {
			t.Fatalf("got %d situations, want %d: %+v", len(got), len(want), got)
		}
		for e, w := range want {
			if got[e] != w {
				t.Errorf("%s: got %+v\n want %+v", e, got[e], w)
			}
		}
		empty, err := b.s.LookupEmails(b.ctx, b.orgA.ID, nil, b.now)
		if err != nil || len(empty) != 0 {
			t.Fatalf("empty lookup: %v %v", empty, err)
		}
	})
}

// page builds an import page of n new invites, plus a pending multi-account membership
// (and its invite) for each existing user in multi.
func page(b *bundle, org directory.Org, importID string, from, n int, multi []directory.User) store.ImportPage {
	var p store.ImportPage
	for i := from; i < from+n; i++ {
		email := fmt.Sprintf("rep%05d@example.com", i)
		p.Invites = append(p.Invites, directory.Invite{
			Email: email, Role: directory.RoleChat, Source: directory.SourceSalesforce, ImportID: importID,
			SalesforceUserID: fmt.Sprintf("005%015d", i), TokenHash: "tok-" + org.ID + "-" + email,
			ExpiresAt: b.now.Add(7 * 24 * time.Hour), CreatedAt: b.now,
		})
	}
	for _, u := range multi {
		p.Memberships = append(p.Memberships, directory.Membership{UserID: u.ID, Role: directory.RoleChat,
			Status: directory.MembershipPending, CreatedAt: b.now})
		p.Invites = append(p.Invites, directory.Invite{Email: u.Email, Role: directory.RoleChat,
			Source: directory.SourceSalesforce, ImportID: importID, TokenHash: "tok-" + org.ID + "-" + u.Email,
			ExpiresAt: b.now.Add(7 * 24 * time.Hour), CreatedAt: b.now})
	}
	return p
}

func TestInsertImportPageIdempotent(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		imp, err := b.s.CreateImport(b.ctx, b.orgA.ID, directory.Import{Role: directory.RoleChat, CreatedAt: b.now})
		must(t, err, "import")
		other := b.member(t, b.orgB, "multi@example.com", directory.RoleAdmin, directory.MembershipActive)
		multi, _ := b.s.GetUser(b.ctx, other.UserID)
		newcomer := directory.User{Email: "Fresh@Example.com", CreatedAt: b.now}

		p := page(b, b.orgA, imp.ID, 0, 2500, []directory.User{multi})
		p.Users = []directory.User{newcomer}
		first, err := b.s.InsertImportPage(b.ctx, b.orgA.ID, p)
		must(t, err, "first run")
		if len(first.InviteIDs) != 2501 || len(first.MembershipIDs) != 1 || len(first.UserIDs) != 1 {
			t.Fatalf("first run inserted %d invites, %d memberships, %d users", len(first.InviteIDs), len(first.MembershipIDs), len(first.UserIDs))
		}

		// A crash re-run builds the page again (new ids, same emails): nothing is added.
		p = page(b, b.orgA, imp.ID, 0, 2500, []directory.User{multi})
		p.Users = []directory.User{{Email: "fresh@example.com", CreatedAt: b.now}}
		second, err := b.s.InsertImportPage(b.ctx, b.orgA.ID, p)
		must(t, err, "second run")
		if len(second.InviteIDs)+len(second.MembershipIDs)+len(second.UserIDs) != 0 {
			t.Fatalf("re-run inserted %+v", second)
		}
		invites, err := b.s.ListInvites(b.ctx, b.orgA.ID, store.InviteFilter{ImportID: imp.ID, Limit: 10000})
		must(t, err, "list")
		if len(invites) != 2501 {
			t.Fatalf("%d invites after two runs, want 2501", len(invites))
		}
		ids := make([]string, len(invites))
		for i, inv := range invites {
			ids[i] = inv.ID
			if inv.OrgID != b.orgA.ID {
				t.Fatalf("invite in org %s", inv.OrgID)
			}
		}
		slices.Sort(first.InviteIDs)
		if !slices.Equal(ids, first.InviteIDs) {
			t.Fatal("stored invites are not those the first run reported")
		}
		m, err := b.s.GetMembership(b.ctx, b.orgA.ID, first.MembershipIDs[0])
		must(t, err, "multi-account membership")
		if m.UserID != multi.ID || m.Status != directory.MembershipPending || m.OrgID != b.orgA.ID {
			t.Fatalf("multi-account membership %+v", m)
		}
		seats, err := b.s.CountSeats(b.ctx, b.orgA.ID, b.now)
		must(t, err, "seats")
		if seats.PendingInvites != 2501 || seats.Active != 0 {
			t.Fatalf("seats %+v", seats)
		}

		// Rows pointing at another org's import are refused as a whole page.
		_, err = b.s.InsertImportPage(b.ctx, b.orgB.ID, page(b, b.orgB, imp.ID, 0, 1, nil))
		wantErr(t, err, directory.ErrNotFound, "page with org A's import id into org B")
	})
}

// TestSeatsUnderConcurrency runs several "lock seats, insert what fits" transactions at
// once: the org's limit is never exceeded.
func TestSeatsUnderConcurrency(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		org := b.org(t, "Small", 25)
		b.member(t, org, "boss@example.com", directory.RoleAdmin, directory.MembershipActive)
		var wg sync.WaitGroup
		for w := range 6 {
			wg.Go(func() {
				err := b.s.InTx(b.ctx, func(tx *store.Queries) error {
					seats, err := tx.LockOrgSeats(b.ctx, org.ID, b.now)
					if err != nil {
						return err
					}
					p := page(b, org, "", w*10, 10, nil)
					p.Invites = p.Invites[:min(len(p.Invites), seats.Available())]
					_, err = tx.InsertImportPage(b.ctx, org.ID, p)
					return err
				})
				if err != nil {
					t.Errorf("worker %d: %v", w, err)
				}
			})
		}
		wg.Wait()
		seats, err := b.s.CountSeats(b.ctx, org.ID, b.now)
		must(t, err, "seats")
		if seats.Used() != 25 || seats.Available() != 0 || seats.Active != 1 {
			t.Fatalf("seats %+v, want exactly the limit of 25 used", seats)
		}
		_, err = b.s.LockOrgSeats(b.ctx, store.NewID(), b.now)
		wantErr(t, err, directory.ErrNotFound, "lock a missing org")
	})
}
