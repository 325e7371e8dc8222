package store_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"tether/sync/directory"
	"tether/sync/store"
)

func TestInvites(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		g, err := b.s.GetOrCreateGroup(b.ctx, b.orgA.ID, "West", b.now)
		must(t, err, "group")
		inv, err := b.s.CreateInvite(b.ctx, b.orgA.ID, directory.Invite{
			Email: "Ann@Example.com", Role: directory.RoleMeetings, GroupID: g.ID, Source: directory.SourceSalesforce,
			SalesforceUserID: "005000000000001AAA", SalesforceUsername: "ann@example.com.uat", TokenHash: "h1",
			ExpiresAt: b.now.Add(time.Hour), CreatedAt: b.now,
		})
		must(t, err, "create invite")
		got, err := b.s.GetInvite(b.ctx, b.orgA.ID, inv.ID)
		must(t, err, "get invite")
		if got != inv {
			t.Fatalf("stored %+v\nread   %+v", inv, got)
		}
		byHash, err := b.s.GetInviteByTokenHash(b.ctx, "h1")
		must(t, err, "get by token hash")
		if byHash.ID != inv.ID {
			t.Fatalf("by hash got %s", byHash.ID)
		}
		_, err = b.s.GetInviteByTokenHash(b.ctx, "nope")
		wantErr(t, err, directory.ErrNotFound, "unknown token hash")

		// One pending invite per (org, email); other orgs and non-pending invites don't count.
		_, err = b.s.CreateInvite(b.ctx, b.orgA.ID, directory.Invite{Email: "ann@example.com", Role: directory.RoleChat,
			TokenHash: "h2", ExpiresAt: b.now.Add(time.Hour)})
		wantErr(t, err, directory.ErrDuplicate, "second pending invite for one email")
		_, err = b.s.CreateInvite(b.ctx, b.orgB.ID, directory.Invite{Email: "ann@example.com", Role: directory.RoleChat,
			TokenHash: "h1", ExpiresAt: b.now.Add(time.Hour)})
		wantErr(t, err, directory.ErrDuplicate, "reused token hash")
		_, err = b.s.CreateInvite(b.ctx, b.orgB.ID, directory.Invite{Email: "ann@example.com", Role: directory.RoleChat,
			TokenHash: "h3", ExpiresAt: b.now.Add(time.Hour)})
		must(t, err, "same email in another org")
		_, err = b.s.CreateInvite(b.ctx, b.orgB.ID, directory.Invite{Email: "x@example.com", Role: directory.RoleChat,
			GroupID: g.ID, TokenHash: "h4", ExpiresAt: b.now.Add(time.Hour)})
		wantErr(t, err, directory.ErrNotFound, "invite into org B with org A's group")
		_, err = b.s.CreateInvite(b.ctx, b.orgA.ID, directory.Invite{Email: "x@example.com", Role: directory.RoleChat})
		wantErr(t, err, directory.ErrInvalid, "invite without token hash or expiry")

		must(t, b.s.RevokeInvite(b.ctx, b.orgA.ID, inv.ID, b.now), "revoke")
		wantErr(t, b.s.RevokeInvite(b.ctx, b.orgA.ID, inv.ID, b.now), directory.ErrConflict, "revoke twice")
		again, err := b.s.CreateInvite(b.ctx, b.orgA.ID, directory.Invite{Email: "ann@example.com", Role: directory.RoleChat,
			TokenHash: "h5", ExpiresAt: b.now.Add(time.Hour)})
		must(t, err, "new invite once the old one is revoked")

		must(t, b.s.RenewInvite(b.ctx, b.orgA.ID, again.ID, "h6", b.now.Add(48*time.Hour), b.now), "renew")
		if r, _ := b.s.GetInviteByTokenHash(b.ctx, "h6"); r.ID != again.ID || !r.ExpiresAt.Equal(b.now.Add(48*time.Hour).Truncate(time.Microsecond)) {
			t.Fatalf("renewed invite %+v", r)
		}
		wantErr(t, b.s.RenewInvite(b.ctx, b.orgA.ID, inv.ID, "h7", b.now, b.now), directory.ErrConflict, "renew a revoked invite")

		list, err := b.s.ListInvites(b.ctx, b.orgA.ID, store.InviteFilter{Status: directory.InvitePending})
		must(t, err, "list pending")
		if len(list) != 1 || list[0].ID != again.ID {
			t.Fatalf("pending invites %+v", list)
		}
		list, err = b.s.ListInvites(b.ctx, b.orgA.ID, store.InviteFilter{Email: "ANN@example.com"})
		must(t, err, "list by email")
		if len(list) != 2 {
			t.Fatalf("invites for ann: %d", len(list))
		}
	})
}

func TestExpireInvites(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		old := b.invite(t, b.orgA, "old@example.com") // expires b.now+7d
		fresh, err := b.s.CreateInvite(b.ctx, b.orgB.ID, directory.Invite{Email: "new@example.com", Role: directory.RoleChat,
			TokenHash: "fresh", ExpiresAt: b.now.Add(30 * 24 * time.Hour)})
		must(t, err, "fresh invite")
		// An expired-by-time invite stops holding a seat before the sweep runs.
		seats, err := b.s.CountSeats(b.ctx, b.orgA.ID, b.now.Add(8*24*time.Hour))
		must(t, err, "seats")
		if seats.PendingInvites != 0 {
			t.Fatalf("expired invite holds a seat: %+v", seats)
		}
		n, err := b.s.ExpireInvites(b.ctx, b.now.Add(8*24*time.Hour))
		must(t, err, "expire")
		if n != 1 {
			t.Fatalf("expired %d invites, want 1", n)
		}
		if g, _ := b.s.GetInvite(b.ctx, b.orgA.ID, old.ID); g.Status != directory.InviteExpired {
			t.Fatalf("old invite is %s", g.Status)
		}
		if g, _ := b.s.GetInvite(b.ctx, b.orgB.ID, fresh.ID); g.Status != directory.InvitePending {
			t.Fatalf("fresh invite is %s", g.Status)
		}
	})
}

func TestMarkInviteSent(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		inv := b.invite(t, b.orgA, "ann@example.com")
		for i, tc := range []struct {
			attempt   string
			resend    bool
			wantFirst bool
			wantSent  int
			wantRes   int
		}{
			{"task-1", false, true, 1, 0},
			{"task-1", false, false, 1, 0}, // a re-run of the same attempt counts once
			{"task-2", true, true, 2, 1},
			{"task-1", false, false, 2, 1}, // an old attempt re-run after a newer one: still once
			{"task-2", true, false, 2, 1},
		} {
			at := b.now.Add(time.Duration(i) * time.Minute)
			first, err := b.s.MarkInviteSent(b.ctx, b.orgA.ID, store.InviteSend{InviteID: inv.ID, AttemptID: tc.attempt, At: at, Resend: tc.resend})
			must(t, err, "mark sent %d", i)
			got, _ := b.s.GetInvite(b.ctx, b.orgA.ID, inv.ID)
			if first != tc.wantFirst || got.SentCount != tc.wantSent || got.ResendCount != tc.wantRes {
				t.Fatalf("step %d (%s): first=%v sent=%d resent=%d, want %v %d %d",
					i, tc.attempt, first, got.SentCount, got.ResendCount, tc.wantFirst, tc.wantSent, tc.wantRes)
			}
			if tc.wantFirst && (got.LastSendAttemptID != tc.attempt || !got.LastSentAt.Equal(at.Truncate(time.Microsecond))) {
				t.Fatalf("step %d: last send %s at %s", i, got.LastSendAttemptID, got.LastSentAt)
			}
		}
		_, err := b.s.MarkInviteSent(b.ctx, b.orgA.ID, store.InviteSend{InviteID: store.NewID(), AttemptID: "x", At: b.now})
		wantErr(t, err, directory.ErrNotFound, "mark a missing invite sent")
		_, err = b.s.MarkInviteSent(b.ctx, b.orgA.ID, store.InviteSend{InviteID: inv.ID, At: b.now})
		wantErr(t, err, directory.ErrInvalid, "mark sent without attempt id")
	})
}

func TestAcceptInvite(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		g, err := b.s.GetOrCreateGroup(b.ctx, b.orgA.ID, "West", b.now)
		must(t, err, "group")
		newInvite := func(org directory.Org, email, hash string, role directory.Role, group string) directory.Invite {
			inv, err := b.s.CreateInvite(b.ctx, org.ID, directory.Invite{Email: email, Role: role, GroupID: group,
				TokenHash: hash, ExpiresAt: b.now.Add(time.Hour), SalesforceUserID: "005000000000009AAA"})
			must(t, err, "invite %s", email)
			return inv
		}

		// A new person: user created, membership active, invite accepted.
		inv := newInvite(b.orgA, "new@example.com", "t-new", directory.RoleChat, g.ID)
		m, err := b.s.AcceptInvite(b.ctx, "t-new", "New Person", b.now)
		must(t, err, "accept")
		u, err := b.s.GetUserByEmail(b.ctx, "new@example.com")
		must(t, err, "user created")
		if m.UserID != u.ID || m.OrgID != b.orgA.ID || m.Status != directory.MembershipActive || m.Role != directory.RoleChat ||
			!slices.Equal(m.GroupIDs, []string{g.ID}) || m.SalesforceUserID != "005000000000009AAA" {
			t.Fatalf("membership %+v", m)
		}
		if u.Name != "New Person" || u.FavouriteOrgID != b.orgA.ID {
			t.Fatalf("user %+v", u)
		}
		if got, _ := b.s.GetInvite(b.ctx, b.orgA.ID, inv.ID); got.Status != directory.InviteAccepted || !got.AcceptedAt.Equal(b.now.Truncate(time.Microsecond)) {
			t.Fatalf("invite after accept %+v", got)
		}
		_, err = b.s.AcceptInvite(b.ctx, "t-new", "", b.now)
		wantErr(t, err, directory.ErrConflict, "accept twice")

		// A multi-account user with a pending membership: activated with the invite's role.
		ann := b.member(t, b.orgB, "ann@example.com", directory.RoleAdmin, directory.MembershipActive)
		pend, err := b.s.CreateMembership(b.ctx, b.orgA.ID, directory.Membership{UserID: ann.UserID, Role: directory.RoleChat, Status: directory.MembershipPending})
		must(t, err, "pending membership")
		newInvite(b.orgA, "ann@example.com", "t-ann", directory.RoleMeetings, "")
		m, err = b.s.AcceptInvite(b.ctx, "t-ann", "", b.now)
		must(t, err, "accept multi-account")
		if m.ID != pend.ID || m.Status != directory.MembershipActive || m.Role != directory.RoleMeetings {
			t.Fatalf("multi-account membership %+v", m)
		}
		if got, _ := b.s.GetMembership(b.ctx, b.orgB.ID, ann.ID); got.Role != directory.RoleAdmin || got.Status != directory.MembershipActive {
			t.Fatalf("membership in the other org changed: %+v", got)
		}

		// A deactivated member invited again: the same membership, active again with the
		// invite's role, no longer marked deactivated.
		gone := b.member(t, b.orgA, "gone@example.com", directory.RoleChat, directory.MembershipActive)
		changed, err := b.s.DeactivateMembership(b.ctx, b.orgA.ID, gone.ID, b.now.Add(-time.Hour))
		must(t, err, "deactivate")
		if !changed {
			t.Fatal("deactivate changed nothing")
		}
		newInvite(b.orgA, "gone@example.com", "t-gone", directory.RoleMeetings, "")
		m, err = b.s.AcceptInvite(b.ctx, "t-gone", "", b.now)
		must(t, err, "accept re-invite")
		if got, _ := b.s.GetMembership(b.ctx, b.orgA.ID, gone.ID); m.ID != gone.ID || got.Status != directory.MembershipActive ||
			got.Role != directory.RoleMeetings || !got.DeactivatedAt.IsZero() {
			t.Fatalf("re-invited member after the Join: %+v (returned %+v)", got, m)
		}

		// Expired.
		newInvite(b.orgA, "late@example.com", "t-late", directory.RoleChat, "")
		_, err = b.s.AcceptInvite(b.ctx, "t-late", "", b.now.Add(time.Hour))
		wantErr(t, err, directory.ErrExpired, "accept at expiry")
		_, err = b.s.AcceptInvite(b.ctx, "t-unknown", "", b.now)
		wantErr(t, err, directory.ErrNotFound, "accept unknown token")
	})
}

// TestAcceptInviteAtomic shows accept is one transaction: when a step fails after the
// user insert, nothing of it remains.
func TestAcceptInviteAtomic(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		inv := b.invite(t, b.orgA, "solo@example.com")
		boom := errors.New("boom")
		err := b.s.InTx(b.ctx, func(tx *store.Queries) error {
			if _, err := tx.AcceptInvite(b.ctx, inv.TokenHash, "", b.now); err != nil {
				return err
			}
			return boom
		})
		wantErr(t, err, boom, "failing transaction")
		_, err = b.s.GetUserByEmail(b.ctx, "solo@example.com")
		wantErr(t, err, directory.ErrNotFound, "user after rollback")
		if got, _ := b.s.GetInvite(b.ctx, b.orgA.ID, inv.ID); got.Status != directory.InvitePending {
			t.Fatalf("invite after rollback is %s", got.Status)
		}
		// Two people racing on one link: exactly one wins.
		var wg sync.WaitGroup
		errs := make([]error, 4)
		for i := range errs {
			wg.Go(func() { _, errs[i] = b.s.AcceptInvite(context.Background(), inv.TokenHash, "", b.now) })
		}
		wg.Wait()
		ok := 0
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case !errors.Is(err, directory.ErrConflict):
				t.Errorf("racing accept: %v", err)
			}
		}
		if ok != 1 {
			t.Fatalf("%d accepts succeeded, want 1 (%v)", ok, errs)
		}
	})
}

// An import page's invite keeps its Salesforce Username (Join's login hint) as
// CreateInvite's does.
func TestImportPageInviteKeepsSalesforceUsername(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		res, err := b.s.InsertImportPage(b.ctx, b.orgA.ID, store.ImportPage{Invites: []directory.Invite{
			{Email: "bo@example.com", Role: directory.RoleChat, TokenHash: "t-bo", ExpiresAt: b.now.Add(time.Hour),
				Source: directory.SourceSalesforce, SalesforceUserID: "005000000000003AAA", SalesforceUsername: "bo.7@acme.example.com"},
			{Email: "cy@example.com", Role: directory.RoleChat, TokenHash: "t-cy", ExpiresAt: b.now.Add(time.Hour)},
		}})
		must(t, err, "import page")
		for i, want := range []string{"bo.7@acme.example.com", ""} {
			if got, err := b.s.GetInvite(b.ctx, b.orgA.ID, res.InviteIDs[i]); err != nil || got.SalesforceUsername != want {
				t.Fatalf("invite %d: username %q, %v; want %q", i, got.SalesforceUsername, err, want)
			}
		}
	})
}
