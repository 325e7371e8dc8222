package store_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"tether/sync/directory"
	"tether/sync/invites"
	"tether/sync/store"
)

// Bulk revoke of an import's invites, a page per statement: only pending invites of that
// import in that org become revoked, a run stopped after a page is finished by running
// again, and the emails still due are counted as stopped.
func TestRevokeImportInvites(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		A := b.orgA.ID
		imp, err := b.s.CreateImport(b.ctx, A, directory.Import{Role: directory.RoleChat, CreatedAt: b.now})
		must(t, err, "create import")
		other, err := b.s.CreateImport(b.ctx, A, directory.Import{Role: directory.RoleChat, CreatedAt: b.now})
		must(t, err, "create another import")
		impB, err := b.s.CreateImport(b.ctx, b.orgB.ID, directory.Import{Role: directory.RoleChat, CreatedAt: b.now})
		must(t, err, "create org B's import")
		n := 0
		mk := func(org, importID string, expires time.Time) directory.Invite {
			t.Helper()
			n++
			inv, err := b.s.CreateInvite(b.ctx, org, directory.Invite{Email: fmt.Sprintf("p%d@acme.example", n), Role: directory.RoleChat,
				TokenHash: fmt.Sprintf("revoke-%d", n), ExpiresAt: expires, ImportID: importID, CreatedAt: b.now})
			must(t, err, "create invite %d", n)
			return inv
		}
		week := b.now.Add(7 * 24 * time.Hour)

		// Pending invites of the import, their email in every state.
		var pending []directory.Invite
		for range 3 {
			pending = append(pending, mk(A, imp.ID, week)) // never attempted: due
		}
		sent := mk(A, imp.ID, week)
		_, err = b.s.MarkInviteSent(b.ctx, A, store.InviteSend{InviteID: sent.ID, AttemptID: "1", At: b.now})
		must(t, err, "sent")
		resend := mk(A, imp.ID, week)
		_, err = b.s.MarkInviteSent(b.ctx, A, store.InviteSend{InviteID: resend.ID, AttemptID: "1", At: b.now})
		must(t, err, "sent before the resend")
		must(t, b.s.RequestInviteSend(b.ctx, A, resend.ID, 2, b.now), "resend asked for: due")
		inFlight := mk(A, imp.ID, week)
		_, err = b.s.BeginInviteAttempt(b.ctx, A, directory.InviteAttempt{InviteID: inFlight.ID, Attempt: 1,
			TokenHash: "in-flight", ExpiresAt: week, At: b.now})
		must(t, err, "attempt in flight: may be out already")
		lapsed := mk(A, imp.ID, b.now.Add(-time.Minute)) // the sender never emails it
		failed := mk(A, imp.ID, week)
		must(t, b.s.MarkInviteSendFailed(b.ctx, A, failed.ID, "550 no such user", b.now), "failed for good")
		pending = append(pending, sent, resend, inFlight, lapsed, failed)

		// The import's invites that are no longer pending, never touched.
		accepted := mk(A, imp.ID, week)
		m, err := b.s.AcceptInvite(b.ctx, accepted.TokenHash, "Ann", b.now)
		must(t, err, "accept")
		revoked := mk(A, imp.ID, week)
		must(t, b.s.RevokeInvite(b.ctx, A, revoked.ID, b.now), "revoke one")
		expired := mk(A, imp.ID, b.now.Add(-time.Hour))
		must(t, b.s.ExpireLapsedInvites(b.ctx, A, []string{expired.ID}, b.now), "expire")
		// Rows that are not the import's, or not the org's.
		untouched := []directory.Invite{mk(A, other.ID, week), mk(A, "", week), mk(b.orgB.ID, impB.ID, week)}

		c, err := b.s.CountImportInvites(b.ctx, A, imp.ID, b.now)
		must(t, err, "count")
		if want := (directory.ImportInviteCounts{Pending: 8, Accepted: 1, Revoked: 1, Expired: 1, EmailsDue: 4}); c != want {
			t.Fatalf("counts %+v, want %+v", c, want)
		}
		seats, err := b.s.CountSeats(b.ctx, A, b.now)
		must(t, err, "seats before")

		// Org B reaches nothing of org A's import, nor A of B's.
		if c, err := b.s.CountImportInvites(b.ctx, b.orgB.ID, imp.ID, b.now); err != nil || c != (directory.ImportInviteCounts{}) {
			t.Fatalf("org B counts org A's import: %+v %v", c, err)
		}
		if p, err := b.s.RevokeImportInvites(b.ctx, b.orgB.ID, imp.ID, b.now, 0); err != nil || p.Revoked != 0 {
			t.Fatalf("org B revokes org A's import: %+v %v", p, err)
		}
		if p, err := b.s.RevokeImportInvites(b.ctx, A, impB.ID, b.now, 0); err != nil || p.Revoked != 0 {
			t.Fatalf("org A revokes org B's import: %+v %v", p, err)
		}

		// One page of 3, then a "crash"; the re-run revokes the rest a page at a time.
		first, err := b.s.RevokeImportInvites(b.ctx, A, imp.ID, b.now, 3)
		must(t, err, "first page")
		if first.Revoked != 3 {
			t.Fatalf("first page revoked %d, want 3", first.Revoked)
		}
		total := first
		var pages []int
		for {
			p, err := b.s.RevokeImportInvites(b.ctx, A, imp.ID, b.now, 3)
			must(t, err, "page after the crash")
			pages = append(pages, p.Revoked)
			total.Revoked += p.Revoked
			total.EmailsStopped += p.EmailsStopped
			if p.Revoked == 0 {
				break
			}
		}
		if fmt.Sprint(pages) != "[3 2 0]" || total != (directory.RevokedPage{Revoked: 8, EmailsStopped: 4}) {
			t.Fatalf("pages %v, total %+v; want [3 2 0] and 8 revoked, 4 emails stopped", pages, total)
		}
		for _, inv := range pending {
			got, err := b.s.GetInvite(b.ctx, A, inv.ID)
			must(t, err, "get %s", inv.Email)
			if got.Status != directory.InviteRevoked || !got.UpdatedAt.Equal(b.now) {
				t.Errorf("pending invite %s is %s (updated %s), want revoked at %s", inv.Email, got.Status, got.UpdatedAt, b.now)
			}
		}
		for inv, want := range map[directory.Invite]directory.InviteStatus{accepted: directory.InviteAccepted, expired: directory.InviteExpired} {
			if got, _ := b.s.GetInvite(b.ctx, A, inv.ID); got.Status != want {
				t.Errorf("invite %s is %s, want it left %s", inv.Email, got.Status, want)
			}
		}
		if got, _ := b.s.GetMembership(b.ctx, A, m.ID); got.Status != directory.MembershipActive {
			t.Errorf("the accepted invite's member is %s", got.Status)
		}
		for _, inv := range untouched {
			if got, _ := b.s.GetInvite(b.ctx, inv.OrgID, inv.ID); got.Status != directory.InvitePending {
				t.Errorf("invite %s of org %s, import %q, is %s: not the import's, it stays pending", inv.Email, inv.OrgID, inv.ImportID, got.Status)
			}
		}
		c, err = b.s.CountImportInvites(b.ctx, A, imp.ID, b.now)
		must(t, err, "count after")
		if want := (directory.ImportInviteCounts{Accepted: 1, Revoked: 9, Expired: 1}); c != want {
			t.Fatalf("counts after %+v, want %+v", c, want)
		}
		// Their seats are free, as after a single revoke (the lapsed one held none).
		after, err := b.s.CountSeats(b.ctx, A, b.now)
		must(t, err, "seats after")
		if freed := seats.Used() - after.Used(); freed != 7 {
			t.Fatalf("%d seats freed, want 7 (8 revoked, one of them lapsed)", freed)
		}
	})
}

// pageCounter is the real store with RevokeImportInvites counted, and failing from the
// failAt-th call on (0: never), as a process dying between two pages would stop.
type pageCounter struct {
	store.Invites
	calls, failAt int
}

func (p *pageCounter) RevokeImportInvites(ctx context.Context, orgID, importID string, at time.Time, limit int) (directory.RevokedPage, error) {
	p.calls++
	if p.failAt > 0 && p.calls >= p.failAt {
		return directory.RevokedPage{}, errors.New("connection lost")
	}
	return p.Invites.RevokeImportInvites(ctx, orgID, importID, at, limit)
}

// invites.Admin.RevokeImport over an import of 10,001 invites: one store statement per
// page of 500 (21 with the last, empty one), a run that dies after 4 pages is finished by
// the next, and org B's import of the same size is untouched.
func TestRevokeImportAtScale(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		const size = 10_001
		big := func(org directory.Org) directory.Import {
			imp, err := b.s.CreateImport(b.ctx, org.ID, directory.Import{Role: directory.RoleChat, CreatedAt: b.now})
			must(t, err, "create import")
			for from := 0; from < size; from += 2000 {
				var p store.ImportPage
				for i := from; i < min(from+2000, size); i++ {
					p.Invites = append(p.Invites, directory.Invite{Email: fmt.Sprintf("u%05d@%s.example", i, org.Name), Role: directory.RoleChat,
						TokenHash: fmt.Sprintf("%s-%d", org.ID, i), ExpiresAt: b.now.Add(time.Hour), ImportID: imp.ID, CreatedAt: b.now})
				}
				_, err := b.s.InsertImportPage(b.ctx, org.ID, p)
				must(t, err, "insert invites from %d", from)
			}
			_, err = b.s.CancelImport(b.ctx, org.ID, imp.ID, b.now)
			must(t, err, "cancel")
			return imp
		}
		impA, impB := big(b.orgA), big(b.orgB)

		st := &pageCounter{Invites: store.Invites{Store: b.s}, failAt: 5}
		admin := invites.Admin{Store: st, Now: func() time.Time { return b.now }}
		_, err := admin.RevokeImport(b.ctx, b.orgA.ID, impA.ID, false)
		if err == nil || !strings.Contains(err.Error(), "2000 revoked so far; run it again") {
			t.Fatalf("a run dying at its fifth page: %v", err)
		}
		st.calls, st.failAt = 0, 0
		res, err := admin.RevokeImport(b.ctx, b.orgA.ID, impA.ID, false)
		must(t, err, "run again")
		if want := (invites.BulkRevoke{ImportID: impA.ID, Revoked: size - 2000, EmailsStopped: size - 2000, AlreadyRevoked: 2000}); res != want {
			t.Fatalf("re-run: %+v, want %+v", res, want)
		}
		if st.calls != 18 {
			t.Fatalf("re-run took %d revoke statements for %d invites, want 18 (pages of %d and an empty one)", st.calls, size-2000, invites.RevokePage)
		}
		st.calls = 0
		res, err = admin.RevokeImport(b.ctx, b.orgA.ID, impA.ID, false)
		must(t, err, "third run")
		if res.Revoked != 0 || res.AlreadyRevoked != size || st.calls != 1 {
			t.Fatalf("third run: %+v in %d statements", res, st.calls)
		}
		c, err := b.s.CountImportInvites(b.ctx, b.orgB.ID, impB.ID, b.now)
		must(t, err, "count org B's")
		if c.Pending != size {
			t.Fatalf("org B's import: %+v, want all %d pending", c, size)
		}
	})
}
