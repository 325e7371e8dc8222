package store_test

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"tether/sync/directory"
	"tether/sync/invites"
	"tether/sync/store"
	"tether/sync/store/storetest"
)

// A renewal takes a seat under the org's lock like a new invite: five lapsed invites of a
// 3-seat org renewed at once leave exactly 3 seats taken, never 5.
func TestReserveInviteSeatCannotOversell(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		org := b.org(t, "Small", 3)
		var ids []string
		for i := range 5 {
			inv, err := b.s.CreateInvite(b.ctx, org.ID, directory.Invite{Email: fmt.Sprintf("p%d@small.example", i),
				Role: directory.RoleChat, TokenHash: fmt.Sprintf("small-%d", i), ExpiresAt: b.now.Add(-time.Hour), CreatedAt: b.now.Add(-8 * 24 * time.Hour)})
			must(t, err, "create lapsed invite %d", i)
			ids = append(ids, inv.ID)
		}
		// Two of them marked expired by the sweep, three still pending but lapsed.
		n, err := b.s.ExpireInvites(b.ctx, b.now.Add(-2*time.Hour))
		must(t, err, "sweep nothing yet")
		if n != 0 {
			t.Fatalf("swept %d invites that had not lapsed at the sweep time", n)
		}
		must(t, b.s.ExpireLapsedInvites(b.ctx, org.ID, ids[:2], b.now), "expire two")

		start := make(chan struct{})
		errs := make([]error, len(ids))
		var wg sync.WaitGroup
		for i, id := range ids {
			wg.Go(func() {
				<-start
				errs[i] = b.s.ReserveInviteSeat(b.ctx, org.ID, id, b.now.Add(7*24*time.Hour), b.now)
			})
		}
		close(start)
		wg.Wait()
		var ok, full int
		for i, err := range errs {
			switch {
			case err == nil:
				ok++
			case errors.Is(err, directory.ErrNoSeat):
				full++
			default:
				t.Fatalf("reserve %s: %v", ids[i], err)
			}
		}
		seats, err := b.s.CountSeats(b.ctx, org.ID, b.now)
		must(t, err, "count seats")
		if ok != 3 || full != 2 || seats.Used() != 3 {
			t.Fatalf("%d renewed, %d refused, %d seats used; want 3, 2, 3", ok, full, seats.Used())
		}
		// A renewed invite holds its seat: reserving again is a no-op, not a second seat.
		for i, err := range errs {
			if err == nil {
				must(t, b.s.ReserveInviteSeat(b.ctx, org.ID, ids[i], b.now.Add(time.Hour), b.now), "reserve again")
				inv, err := b.s.GetInvite(b.ctx, org.ID, ids[i])
				must(t, err, "get")
				if inv.Status != directory.InvitePending || !inv.ExpiresAt.Equal(b.now.Add(7*24*time.Hour)) {
					t.Fatalf("renewed invite: %s until %s", inv.Status, inv.ExpiresAt)
				}
			}
		}
		// Revoked invites are not renewed; org B cannot touch org A's.
		renewed := ids[slices.IndexFunc(errs, func(err error) bool { return err == nil })]
		must(t, b.s.RevokeInvite(b.ctx, org.ID, renewed, b.now), "revoke")
		wantErr(t, b.s.ReserveInviteSeat(b.ctx, org.ID, renewed, b.now.Add(time.Hour), b.now), directory.ErrConflict, "reserve revoked")
		wantErr(t, b.s.ReserveInviteSeat(b.ctx, b.orgB.ID, ids[1], b.now.Add(time.Hour), b.now), directory.ErrNotFound, "reserve from org B")
	})
}

// A lapsed invite (pending, past expiry) no longer holds the (org, email) slot once an
// import page expires it, and the lookup reports it apart from a live one.
func TestLapsedInviteFreesTheEmailSlot(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		lapsed, err := b.s.CreateInvite(b.ctx, b.orgA.ID, directory.Invite{Email: "old@acme.example", Role: directory.RoleChat,
			TokenHash: "old", ExpiresAt: b.now.Add(-time.Minute), CreatedAt: b.now.Add(-time.Hour)})
		must(t, err, "create lapsed")
		live := b.invite(t, b.orgA, "live@acme.example")
		sit, err := b.s.LookupEmails(b.ctx, b.orgA.ID, []string{"old@acme.example", "live@acme.example"}, b.now)
		must(t, err, "lookup")
		if s := sit["old@acme.example"]; s.PendingInviteID != "" || s.LapsedInviteID != lapsed.ID {
			t.Fatalf("lapsed invite looked up as %+v", s)
		}
		if s := sit["live@acme.example"]; s.PendingInviteID != live.ID || s.LapsedInviteID != "" {
			t.Fatalf("live invite looked up as %+v", s)
		}
		// Org B's ids are not org A's: expiring them from org B changes nothing.
		must(t, b.s.ExpireLapsedInvites(b.ctx, b.orgB.ID, []string{lapsed.ID}, b.now), "expire from B")
		if got, _ := b.s.GetInvite(b.ctx, b.orgA.ID, lapsed.ID); got.Status != directory.InvitePending {
			t.Fatalf("org B expired org A's invite: %s", got.Status)
		}
		imp, err := b.s.CreateImport(b.ctx, b.orgA.ID, directory.Import{Role: directory.RoleChat, CreatedAt: b.now})
		must(t, err, "create import")
		inv := directory.Invite{ID: "new-old", Email: "old@acme.example", Role: directory.RoleChat, TokenHash: "new-old",
			ExpiresAt: b.now.Add(time.Hour), ImportID: imp.ID, CreatedAt: b.now}
		var got invites.PageResult
		err = store.Invites{Store: b.s}.WritePage(b.ctx, b.orgA.ID, b.now,
			func(directory.Seats) (invites.Page, error) {
				return invites.Page{Invites: []directory.Invite{inv}, Expire: []string{lapsed.ID, live.ID}}, nil
			},
			func(res invites.PageResult) (directory.Checkpoint, error) {
				got = res
				return directory.Checkpoint{Import: imp}, nil
			})
		must(t, err, "write page")
		if !slices.Equal(got.InviteIDs, []string{"new-old"}) {
			t.Fatalf("inserted %v, want the new invite", got.InviteIDs)
		}
		if old, _ := b.s.GetInvite(b.ctx, b.orgA.ID, lapsed.ID); old.Status != directory.InviteExpired {
			t.Fatalf("lapsed invite is %s", old.Status)
		}
		// A live invite in the list is not expired (it has not lapsed).
		if l, _ := b.s.GetInvite(b.ctx, b.orgA.ID, live.ID); l.Status != directory.InvitePending {
			t.Fatalf("live invite is %s", l.Status)
		}
	})
}

func TestCheckpointSeenAndSkipped(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		imp, err := b.s.CreateImport(b.ctx, b.orgA.ID, directory.Import{Role: directory.RoleChat, CreatedAt: b.now})
		must(t, err, "create import")
		seen, err := b.s.ImportSeen(b.ctx, b.orgA.ID, imp.ID)
		must(t, err, "seen of a new import")
		if len(seen) != 0 {
			t.Fatalf("new import has seen %v", seen)
		}
		page1 := []directory.SkippedRow{{Seq: 1, Email: "bad@", Reason: "skipped_invalid_email"},
			{Seq: 3, SalesforceUserID: "005000000000001AAA", Email: "a@x.example", Name: "A", Reason: "duplicate_in_import"}}
		imp.Progress.Done = 4
		must(t, b.s.SaveCheckpoint(b.ctx, b.orgA.ID, directory.Checkpoint{Import: imp, Skipped: page1, Seen: []uint64{1, 1 << 63}}, b.now), "page 1")
		// A re-run of the page after a crash adds nothing twice.
		must(t, b.s.SaveCheckpoint(b.ctx, b.orgA.ID, directory.Checkpoint{Import: imp, Skipped: page1, Seen: []uint64{1, 1 << 63}}, b.now), "page 1 again")
		// A name as Salesforce may send it: quotes, a backslash, a tab, non-ASCII, markup.
		page2 := []directory.SkippedRow{{Seq: 5, Email: "m@x.example", Name: "Zoë \"Q\" O'Brien \\\t<b>&", Reason: "already_member"}}
		imp.Progress.Done = 6
		must(t, b.s.SaveCheckpoint(b.ctx, b.orgA.ID, directory.Checkpoint{Import: imp, Skipped: page2, Seen: []uint64{42}}, b.now), "page 2")
		must(t, b.s.UpdateImport(b.ctx, b.orgA.ID, imp, b.now), "a status write keeps the set")

		seen, err = b.s.ImportSeen(b.ctx, b.orgA.ID, imp.ID)
		must(t, err, "seen")
		if !slices.Equal(seen, []uint64{1, 1 << 63, 42}) {
			t.Fatalf("seen %v", seen)
		}
		all, err := b.s.ListSkipped(b.ctx, b.orgA.ID, imp.ID, -1, 0)
		must(t, err, "list skipped")
		if want := append(slices.Clone(page1), page2...); !slices.Equal(all, want) {
			t.Fatalf("skipped %+v, want %+v", all, want)
		}
		after, err := b.s.ListSkipped(b.ctx, b.orgA.ID, imp.ID, 1, 1)
		must(t, err, "page of skipped")
		if len(after) != 1 || after[0].Seq != 3 {
			t.Fatalf("after seq 1, limit 1: %+v", after)
		}
		// Org B sees nothing of org A's import.
		if rows, err := b.s.ListSkipped(b.ctx, b.orgB.ID, imp.ID, -1, 0); err != nil || len(rows) != 0 {
			t.Fatalf("org B lists %d skipped rows of org A's import (%v)", len(rows), err)
		}
		_, err = b.s.ImportSeen(b.ctx, b.orgB.ID, imp.ID)
		wantErr(t, err, directory.ErrNotFound, "seen from org B")
		wantErr(t, b.s.SaveCheckpoint(b.ctx, b.orgB.ID, directory.Checkpoint{Import: imp, Skipped: page2}, b.now), directory.ErrNotFound, "checkpoint from org B")
	})
}

func TestCancelImport(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		imp, err := b.s.CreateImport(b.ctx, b.orgA.ID, directory.Import{Role: directory.RoleChat, CreatedAt: b.now})
		must(t, err, "create import")
		_, err = b.s.CancelImport(b.ctx, b.orgB.ID, imp.ID, b.now)
		wantErr(t, err, directory.ErrNotFound, "cancel from org B")

		imp.Status = directory.ImportRunning
		must(t, b.s.UpdateImport(b.ctx, b.orgA.ID, imp, b.now), "running")
		got, err := b.s.CancelImport(b.ctx, b.orgA.ID, imp.ID, b.now.Add(time.Minute))
		must(t, err, "cancel")
		if got.Status != directory.ImportCancelled || !got.FinishedAt.Equal(b.now.Add(time.Minute)) {
			t.Fatalf("cancelled import: %s finished %s", got.Status, got.FinishedAt)
		}
		// The run's next write is refused and changes nothing, with or without a page.
		imp.Progress.Done = 10
		wantErr(t, b.s.UpdateImport(b.ctx, b.orgA.ID, imp, b.now), directory.ErrImportCancelled, "update after cancel")
		wantErr(t, b.s.SaveCheckpoint(b.ctx, b.orgA.ID, directory.Checkpoint{Import: imp,
			Skipped: []directory.SkippedRow{{Seq: 0, Reason: "already_member"}}}, b.now), directory.ErrImportCancelled, "checkpoint after cancel")
		if rows, _ := b.s.ListSkipped(b.ctx, b.orgA.ID, imp.ID, -1, 0); len(rows) != 0 {
			t.Fatalf("a refused checkpoint stored %d skipped rows", len(rows))
		}
		again, _ := b.s.GetImport(b.ctx, b.orgA.ID, imp.ID)
		if again.Status != directory.ImportCancelled || again.Progress.Done != 0 {
			t.Fatalf("after refused writes: %s, %d done", again.Status, again.Progress.Done)
		}
		_, err = b.s.CancelImport(b.ctx, b.orgA.ID, imp.ID, b.now)
		wantErr(t, err, directory.ErrConflict, "cancel twice")
	})
}

func TestListImportsPage(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		var want []string
		for i := range 5 {
			imp, err := b.s.CreateImport(b.ctx, b.orgA.ID, directory.Import{Role: directory.RoleChat, CreatedAt: b.now.Add(time.Duration(i/2) * time.Second)})
			must(t, err, "create import %d", i)
			want = append(want, imp.ID)
		}
		_, err := b.s.CreateImport(b.ctx, b.orgB.ID, directory.Import{Role: directory.RoleChat, CreatedAt: b.now.Add(time.Hour)})
		must(t, err, "org B's import")
		var got []string
		before := ""
		for {
			page, err := b.s.ListImportsPage(b.ctx, b.orgA.ID, before, 2)
			must(t, err, "page before %q", before)
			for _, p := range page {
				if p.OrgID != b.orgA.ID {
					t.Fatalf("org B's import %s listed in org A", p.ID)
				}
				got = append(got, p.ID)
			}
			if len(page) < 2 {
				break
			}
			before = page[len(page)-1].ID
		}
		all, err := b.s.ListImports(b.ctx, b.orgA.ID, 0)
		must(t, err, "list all")
		var allIDs []string
		for _, p := range all {
			allIDs = append(allIDs, p.ID)
		}
		if sorted := slices.Sorted(slices.Values(got)); !slices.Equal(sorted, want) || !slices.Equal(got, allIDs) {
			t.Fatalf("paged %v, all at once %v", got, allIDs)
		}
		for i := 1; i < len(all); i++ {
			if all[i].CreatedAt.After(all[i-1].CreatedAt) {
				t.Fatalf("not newest first: %v", allIDs)
			}
		}
		_, err = b.s.ListImportsPage(b.ctx, b.orgB.ID, got[0], 2)
		wantErr(t, err, directory.ErrNotFound, "org B pages from org A's import")
	})
}

// TestImportSeenMigration: migration 00019 moves an import's seen set from the text column
// to a row per page and back, without losing or reordering a hash.
func TestImportSeenMigration(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		t.Parallel()
		ctx := t.Context()
		now := time.Now()
		org, err := s.CreateOrg(ctx, directory.Org{Name: "Seen"})
		must(t, err, "create org")
		imp, err := s.CreateImport(ctx, org.ID, directory.Import{Role: directory.RoleChat, CreatedAt: now})
		must(t, err, "create import")
		want := []uint64{1, 1 << 63, 0xdeadbeef, 42}
		imp.Progress.Done = 2
		must(t, s.SaveCheckpoint(ctx, org.ID, directory.Checkpoint{Import: imp, Seen: want[:2]}, now), "page 1")
		imp.Progress.Done = 4
		must(t, s.SaveCheckpoint(ctx, org.ID, directory.Checkpoint{Import: imp, Seen: want[2:]}, now), "page 2")

		must(t, store.MigrateTo(s, 18), "down to 00018")
		var hex string
		must(t, s.DB().QueryRowContext(ctx, `SELECT seen FROM imports WHERE id = $1`, imp.ID).Scan(&hex), "read the column")
		if w := "0000000000000001800000000000000000000000deadbeef000000000000002a"; hex != w {
			t.Fatalf("down: seen column %q, want %q", hex, w)
		}
		must(t, store.MigrateTo(s, 19), "up to 00019")
		got, err := s.ImportSeen(ctx, org.ID, imp.ID)
		must(t, err, "seen after the round trip")
		if !slices.Equal(got, want) {
			t.Fatalf("after down and up: %x, want %x", got, want)
		}
		// A later page still appends after the migrated ones.
		imp.Progress.Done = 5
		must(t, s.SaveCheckpoint(ctx, org.ID, directory.Checkpoint{Import: imp, Seen: []uint64{7}}, now), "page 3")
		got, err = s.ImportSeen(ctx, org.ID, imp.ID)
		must(t, err, "seen")
		if !slices.Equal(got, append(slices.Clone(want), 7)) {
			t.Fatalf("after page 3: %x", got)
		}
	})
}
