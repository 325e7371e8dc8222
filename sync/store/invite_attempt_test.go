package store_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"tether/sync/directory"
)

// TestInviteAttempts is the store's half of sending each invitation attempt at most once:
// begin (attempting), abandon (certainly not sent), settle (unknown), record (sent), and
// the scans that must leave attempting and unknown sends alone.
func TestInviteAttempts(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		imp, err := b.s.CreateImport(b.ctx, b.orgA.ID, directory.Import{Role: directory.RoleChat, CreatedAt: b.now})
		must(t, err, "create import")
		mk := func(email string) directory.Invite {
			t.Helper()
			inv, err := b.s.CreateInvite(b.ctx, b.orgA.ID, directory.Invite{Email: email, Role: directory.RoleChat,
				TokenHash: "hash-" + email, ExpiresAt: b.now.Add(7 * 24 * time.Hour), ImportID: imp.ID, CreatedAt: b.now})
			must(t, err, "create invite %s", email)
			return inv
		}
		fresh, crashed, refused, sent := mk("fresh@example.com"), mk("crashed@example.com"), mk("refused@example.com"), mk("sent@example.com")
		exp := b.now.Add(7 * 24 * time.Hour).Truncate(time.Microsecond)
		begin := func(inv directory.Invite, attempt int, at time.Time) directory.AttemptStatus {
			t.Helper()
			st, err := b.s.BeginInviteAttempt(b.ctx, b.orgA.ID, directory.InviteAttempt{InviteID: inv.ID, Attempt: attempt,
				TokenHash: "link-" + inv.Email, ExpiresAt: exp, At: at})
			must(t, err, "begin attempt %d of %s", attempt, inv.Email)
			return st
		}
		if st := begin(crashed, 1, b.now); st != "" {
			t.Fatalf("first begin: %q, want recorded", st)
		}
		if st := begin(crashed, 1, b.now); st != directory.AttemptAttempting {
			t.Fatalf("second begin: %q, want attempting", st)
		}
		_, err = b.s.BeginInviteAttempt(b.ctx, b.orgB.ID, directory.InviteAttempt{InviteID: crashed.ID, Attempt: 1, At: b.now})
		wantErr(t, err, directory.ErrNotFound, "begin from another org")
		_, err = b.s.BeginInviteAttempt(b.ctx, b.orgA.ID, directory.InviteAttempt{InviteID: crashed.ID, Attempt: 0, At: b.now})
		wantErr(t, err, directory.ErrInvalid, "begin attempt 0")

		// A refused send is abandoned: the next begin records it again.
		begin(refused, 1, b.now)
		must(t, b.s.AbandonInviteAttempt(b.ctx, b.orgA.ID, refused.ID, 1), "abandon")
		if st := begin(refused, 1, b.now); st != "" {
			t.Fatalf("begin after abandon: %q, want recorded", st)
		}
		// A sent one: attempting becomes sent, and the invite counts it.
		begin(sent, 1, b.now)
		first, err := b.s.RecordInviteDelivery(b.ctx, b.orgA.ID, directory.InviteDelivery{InviteID: sent.ID, AttemptID: "1",
			TokenHash: "sent-h1", ExpiresAt: exp, At: b.now})
		must(t, err, "record delivery")
		if !first {
			t.Fatal("delivery of an attempting attempt reported as a repeat")
		}
		if st := begin(sent, 1, b.now); st != directory.AttemptSent {
			t.Fatalf("begin after delivery: %q, want sent", st)
		}

		// While attempting, no scan hands the sends out again.
		refs, err := b.s.UnsentInviteRefs(b.ctx, directory.Ref{}, b.now, 0)
		must(t, err, "unsent refs")
		if want := []directory.Ref{{OrgID: b.orgA.ID, ID: fresh.ID}}; !slices.Equal(refs, want) {
			t.Fatalf("unsent refs: %v, want only the fresh invite %v", refs, want)
		}
		ids, err := b.s.UnsentInvites(b.ctx, b.orgA.ID, imp.ID, "", 0)
		must(t, err, "unsent invites")
		if !slices.Equal(ids, []string{fresh.ID}) {
			t.Fatalf("unsent invites: %v, want %v", ids, []string{fresh.ID})
		}

		// Stale attempts: only those begun at or before the cut-off.
		stale, err := b.s.StaleInviteAttempts(b.ctx, b.now.Add(-time.Minute), 0)
		must(t, err, "stale attempts")
		if len(stale) != 0 {
			t.Fatalf("stale before the attempts began: %v", stale)
		}
		stale, err = b.s.StaleInviteAttempts(b.ctx, b.now, 0)
		must(t, err, "stale attempts")
		slices.SortFunc(stale, func(x, y directory.SendAttempt) int { return strings.Compare(x.InviteID, y.InviteID) })
		want := []directory.SendAttempt{{OrgID: b.orgA.ID, InviteID: crashed.ID, Attempt: 1}, {OrgID: b.orgA.ID, InviteID: refused.ID, Attempt: 1}}
		slices.SortFunc(want, func(x, y directory.SendAttempt) int { return strings.Compare(x.InviteID, y.InviteID) })
		if !slices.Equal(stale, want) {
			t.Fatalf("stale: %v, want %v", stale, want)
		}

		// Settling: unknown, counted as attempted, the emailed link adopted (never sent before).
		settled, err := b.s.SettleInviteAttempt(b.ctx, b.orgA.ID, crashed.ID, 1, b.now.Add(time.Minute))
		must(t, err, "settle")
		if !settled {
			t.Fatal("settle of an attempting attempt reported nothing done")
		}
		if settled, err = b.s.SettleInviteAttempt(b.ctx, b.orgA.ID, crashed.ID, 1, b.now); err != nil || settled {
			t.Fatalf("second settle: %t, %v; want false, nil", settled, err)
		}
		if settled, err = b.s.SettleInviteAttempt(b.ctx, b.orgA.ID, sent.ID, 1, b.now); err != nil || settled {
			t.Fatalf("settle of a sent attempt: %t, %v; want false, nil", settled, err)
		}
		got, err := b.s.GetInvite(b.ctx, b.orgA.ID, crashed.ID)
		must(t, err, "get settled")
		if got.Delivery() != directory.DeliveryUnknown || got.LastAttempt != 1 || got.TokenHash != "link-crashed@example.com" || !got.ExpiresAt.Equal(exp) {
			t.Fatalf("settled invite: delivery %s, %+v", got.Delivery(), got)
		}
		if st := begin(crashed, 1, b.now); st != directory.AttemptUnknown {
			t.Fatalf("begin after settle: %q, want unknown", st)
		}

		// Listing and counting by delivery.
		l, err := b.s.ListInvites(b.ctx, b.orgA.ID, directory.InviteFilter{Delivery: directory.DeliveryUnknown})
		must(t, err, "list unknown")
		if len(l) != 1 || l[0].ID != crashed.ID {
			t.Fatalf("unknown listing: %v", l)
		}
		c, err := b.s.InviteDeliveryCounts(b.ctx, b.orgA.ID, imp.ID)
		must(t, err, "count deliveries")
		if c != (directory.DeliveryCounts{Unsent: 2, Sent: 1, Unknown: 1}) {
			t.Fatalf("counts: %+v, want 2 unsent (fresh, refused in flight), 1 sent, 1 unknown", c)
		}
		// A bulk resend takes the unknown one and the never-sent ones.
		ids, err = b.s.ResendableInvites(b.ctx, b.orgA.ID, imp.ID, "", 0)
		must(t, err, "resendable")
		wantIDs := []string{fresh.ID, crashed.ID, refused.ID}
		slices.Sort(wantIDs)
		if !slices.Equal(ids, wantIDs) {
			t.Fatalf("resendable: %v, want %v", ids, wantIDs)
		}

		// The operator's resend is attempt 2: the reconciler queues it until it settles.
		must(t, b.s.RequestInviteSend(b.ctx, b.orgA.ID, crashed.ID, 2, b.now), "request resend")
		rs, err := b.s.RequestedResends(b.ctx, directory.Ref{}, b.now, 0)
		must(t, err, "requested resends")
		if want := []directory.SendAttempt{{OrgID: b.orgA.ID, InviteID: crashed.ID, Attempt: 2}}; !slices.Equal(rs, want) {
			t.Fatalf("requested resends: %v, want %v", rs, want)
		}
		begin(crashed, 2, b.now)
		rs, err = b.s.RequestedResends(b.ctx, directory.Ref{}, b.now, 0)
		must(t, err, "requested resends")
		if len(rs) != 0 {
			t.Fatalf("requested resends while attempt 2 is in flight: %v, want none", rs)
		}
		_, err = b.s.RecordInviteDelivery(b.ctx, b.orgA.ID, directory.InviteDelivery{InviteID: crashed.ID, AttemptID: "2",
			Resend: true, TokenHash: "crashed-h2", ExpiresAt: exp, At: b.now})
		must(t, err, "record attempt 2")
		got, err = b.s.GetInvite(b.ctx, b.orgA.ID, crashed.ID)
		must(t, err, "get resent")
		if got.Delivery() != directory.DeliverySent || got.LastAttempt != 2 || got.SentCount != 1 || got.TokenHash != "crashed-h2" {
			t.Fatalf("after the resend: delivery %s, %+v", got.Delivery(), got)
		}
		// A late settle of an older attempt does not hide the newer delivery.
		begin(sent, 2, b.now)
		must(t, b.s.AbandonInviteAttempt(b.ctx, b.orgA.ID, sent.ID, 2), "abandon")
		if _, err := b.s.SettleInviteAttempt(b.ctx, b.orgA.ID, crashed.ID, 1, b.now); err != nil {
			t.Fatal(err)
		}
		if got, _ = b.s.GetInvite(b.ctx, b.orgA.ID, crashed.ID); got.Delivery() != directory.DeliverySent {
			t.Fatalf("delivery after a late settle: %s, want sent", got.Delivery())
		}
	})
}
