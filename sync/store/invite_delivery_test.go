package store_test

import (
	"testing"
	"time"

	"tether/sync/directory"
)

func TestRecordInviteDelivery(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		inv := b.invite(t, b.orgA, "ann@example.com")
		exp := b.now.Add(7 * 24 * time.Hour).Truncate(time.Microsecond)
		d := directory.InviteDelivery{InviteID: inv.ID, AttemptID: "1", TokenHash: "h1", ExpiresAt: exp, At: b.now}

		first, err := b.s.RecordInviteDelivery(b.ctx, b.orgA.ID, d)
		must(t, err, "record attempt 1")
		if !first {
			t.Fatal("first record of attempt 1 reported as a repeat")
		}
		got, err := b.s.GetInviteByTokenHash(b.ctx, "h1")
		must(t, err, "get by new hash")
		if got.ID != inv.ID || got.SentCount != 1 || got.ResendCount != 0 || got.LastSendAttemptID != "1" || !got.ExpiresAt.Equal(exp) {
			t.Fatalf("after attempt 1: %+v", got)
		}
		_, err = b.s.GetInviteByTokenHash(b.ctx, inv.TokenHash)
		wantErr(t, err, directory.ErrNotFound, "old hash after delivery")

		// A repeat of attempt 1 (a re-run after a crash) with another hash changes nothing.
		d2 := d
		d2.TokenHash = "h1-again"
		first, err = b.s.RecordInviteDelivery(b.ctx, b.orgA.ID, d2)
		must(t, err, "repeat attempt 1")
		if first {
			t.Fatal("repeat of attempt 1 reported as first")
		}
		if _, err := b.s.GetInviteByTokenHash(b.ctx, "h1"); err != nil {
			t.Fatalf("repeat replaced the hash: %v", err)
		}

		// A resend counts as one more send and one resend.
		first, err = b.s.RecordInviteDelivery(b.ctx, b.orgA.ID, directory.InviteDelivery{InviteID: inv.ID, AttemptID: "2",
			Resend: true, TokenHash: "h2", ExpiresAt: exp.Add(time.Hour), At: b.now.Add(time.Minute)})
		must(t, err, "record attempt 2")
		got, _ = b.s.GetInvite(b.ctx, b.orgA.ID, inv.ID)
		if !first || got.SentCount != 2 || got.ResendCount != 1 || got.TokenHash != "h2" {
			t.Fatalf("after attempt 2 (first %t): %+v", first, got)
		}

		// Org scoping and bad input.
		_, err = b.s.RecordInviteDelivery(b.ctx, b.orgB.ID, directory.InviteDelivery{InviteID: inv.ID, AttemptID: "3", TokenHash: "h3", ExpiresAt: exp, At: b.now})
		wantErr(t, err, directory.ErrNotFound, "record in another org")
		_, err = b.s.RecordInviteDelivery(b.ctx, b.orgA.ID, directory.InviteDelivery{InviteID: inv.ID, AttemptID: "3", ExpiresAt: exp, At: b.now})
		wantErr(t, err, directory.ErrInvalid, "record without hash")

		// Not pending any more: refused, and nothing is recorded.
		must(t, b.s.RevokeInvite(b.ctx, b.orgA.ID, inv.ID, b.now), "revoke")
		_, err = b.s.RecordInviteDelivery(b.ctx, b.orgA.ID, directory.InviteDelivery{InviteID: inv.ID, AttemptID: "3", TokenHash: "h3", ExpiresAt: exp, At: b.now})
		wantErr(t, err, directory.ErrConflict, "record on a revoked invite")
		got, _ = b.s.GetInvite(b.ctx, b.orgA.ID, inv.ID)
		if got.SentCount != 2 || got.TokenHash != "h2" {
			t.Fatalf("refused record changed the invite: %+v", got)
		}
	})
}

func TestFindPendingInvite(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		inv := b.invite(t, b.orgA, "bob@example.com")
		got, err := b.s.FindPendingInvite(b.ctx, b.orgA.ID, "  BOB@example.com")
		must(t, err, "find")
		if got.ID != inv.ID {
			t.Fatalf("found %s, want %s", got.ID, inv.ID)
		}
		_, err = b.s.FindPendingInvite(b.ctx, b.orgB.ID, "bob@example.com")
		wantErr(t, err, directory.ErrNotFound, "find in another org")
		must(t, b.s.RevokeInvite(b.ctx, b.orgA.ID, inv.ID, b.now), "revoke")
		_, err = b.s.FindPendingInvite(b.ctx, b.orgA.ID, "bob@example.com")
		wantErr(t, err, directory.ErrNotFound, "find revoked")
	})
}

// TestAcceptedSalesforceUsername: the Username of the newest accepted invite to the email
// that holds one, in that org only; pending, revoked and Username-less invites give "".
func TestAcceptedSalesforceUsername(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		username := func(org directory.Org, email string) string {
			t.Helper()
			u, err := b.s.AcceptedSalesforceUsername(b.ctx, org.ID, email)
			must(t, err, "read the username")
			return u
		}
		create := func(org directory.Org, hash, username string) directory.Invite {
			t.Helper()
			inv, err := b.s.CreateInvite(b.ctx, org.ID, directory.Invite{Email: "cy@example.com", Role: directory.RoleChat,
				Source: directory.SourceSalesforce, SalesforceUserID: "005000000000001AAA", SalesforceUsername: username,
				TokenHash: hash, ExpiresAt: b.now.Add(time.Hour)})
			must(t, err, "create invite")
			return inv
		}
		create(b.orgA, "h-pending", "cy@acme.example.sandbox")
		if u := username(b.orgA, "cy@example.com"); u != "" {
			t.Errorf("a pending invite's username %q, want none until accepted", u)
		}
		_, err := b.s.AcceptInvite(b.ctx, "h-pending", "", b.now)
		must(t, err, "accept")
		if u := username(b.orgA, " CY@example.com"); u != "cy@acme.example.sandbox" {
			t.Errorf("username %q after the Join", u)
		}
		if u := username(b.orgB, "cy@example.com"); u != "" {
			t.Errorf("org B reads org A's invite's username %q", u)
		}
		// Another org's invite made by email keeps no username.
		create(b.orgB, "h-b", "")
		_, err = b.s.AcceptInvite(b.ctx, "h-b", "", b.now)
		must(t, err, "accept in org B")
		if u := username(b.orgB, "cy@example.com"); u != "" {
			t.Errorf("an invite without a username gave %q", u)
		}
	})
}
