package store_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"tether/sync/directory"
)

func TestUnfinishedImports(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		var want []directory.Ref
		for _, org := range []directory.Org{b.orgA, b.orgB} {
			for _, st := range []directory.ImportStatus{directory.ImportQueued, directory.ImportRunning,
				directory.ImportPaused, directory.ImportDone, directory.ImportFailed} {
				imp, err := b.s.CreateImport(b.ctx, org.ID, directory.Import{Role: directory.RoleChat, CreatedAt: b.now})
				must(t, err, "create import")
				imp.Status = st
				must(t, b.s.UpdateImport(b.ctx, org.ID, imp, b.now), "set status %s", st)
				if st != directory.ImportDone && st != directory.ImportFailed {
					want = append(want, directory.Ref{OrgID: org.ID, ID: imp.ID})
				}
			}
		}
		slices.SortFunc(want, func(a, b directory.Ref) int {
			if a.OrgID != b.OrgID {
				return strings.Compare(a.OrgID, b.OrgID)
			}
			return strings.Compare(a.ID, b.ID)
		})
		// Paged two at a time, across both orgs, in (org, id) order.
		var got []directory.Ref
		var after directory.Ref
		for {
			page, err := b.s.UnfinishedImports(b.ctx, after, 2)
			must(t, err, "list unfinished after %+v", after)
			if len(page) > 2 {
				t.Fatalf("page of %d, limit 2", len(page))
			}
			if len(page) == 0 {
				break
			}
			for _, imp := range page {
				got = append(got, directory.Ref{OrgID: imp.OrgID, ID: imp.ID})
			}
			after = got[len(got)-1]
		}
		if !slices.Equal(got, want) {
			t.Fatalf("unfinished: %v\nwant %v", got, want)
		}
	})
}

func TestUnsentInviteRefsAndSendFailure(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		a1 := b.invite(t, b.orgA, "a1@example.com")
		a2 := b.invite(t, b.orgA, "a2@example.com")
		b1 := b.invite(t, b.orgB, "b1@example.com")
		sent := b.invite(t, b.orgA, "sent@example.com")
		_, err := b.s.RecordInviteDelivery(b.ctx, b.orgA.ID, directory.InviteDelivery{InviteID: sent.ID, AttemptID: "1",
			TokenHash: "sent-h1", ExpiresAt: b.now.Add(time.Hour), At: b.now})
		must(t, err, "record delivery")
		revoked := b.invite(t, b.orgB, "revoked@example.com")
		must(t, b.s.RevokeInvite(b.ctx, b.orgB.ID, revoked.ID, b.now), "revoke")

		must(t, b.s.MarkInviteSendFailed(b.ctx, b.orgA.ID, a2.ID, "mail server refused the address", b.now), "mark failed")
		got, err := b.s.GetInvite(b.ctx, b.orgA.ID, a2.ID)
		must(t, err, "get failed invite")
		if got.SendError != "mail server refused the address" || !got.SendFailedAt.Equal(b.now.Truncate(time.Microsecond)) {
			t.Fatalf("failed invite: error %q at %v", got.SendError, got.SendFailedAt)
		}
		// Another org's id is not found.
		if err := b.s.MarkInviteSendFailed(b.ctx, b.orgB.ID, a1.ID, "x", b.now); !errors.Is(err, directory.ErrNotFound) {
			t.Fatalf("mark org A's invite from org B: %v, want ErrNotFound", err)
		}

		want := []directory.Ref{{OrgID: b.orgA.ID, ID: a1.ID}, {OrgID: b.orgB.ID, ID: b1.ID}}
		slices.SortFunc(want, func(x, y directory.Ref) int { return strings.Compare(x.OrgID, y.OrgID) })
		refs, err := b.s.UnsentInviteRefs(b.ctx, directory.Ref{}, b.now, 0)
		must(t, err, "list unsent")
		if !slices.Equal(refs, want) {
			t.Fatalf("unsent: %v, want %v (failed, sent and revoked left out)", refs, want)
		}
		// Paging after the first.
		refs, err = b.s.UnsentInviteRefs(b.ctx, want[0], b.now, 1)
		must(t, err, "list unsent after")
		if !slices.Equal(refs, want[1:]) {
			t.Fatalf("unsent after %v: %v, want %v", want[0], refs, want[1:])
		}
		// Expired invites are not sent.
		refs, err = b.s.UnsentInviteRefs(b.ctx, directory.Ref{}, b.now.Add(8*24*time.Hour), 0)
		must(t, err, "list unsent later")
		if len(refs) != 0 {
			t.Fatalf("unsent after expiry: %v, want none", refs)
		}

		// A recorded send clears the failure.
		_, err = b.s.RecordInviteDelivery(b.ctx, b.orgA.ID, directory.InviteDelivery{InviteID: a2.ID, AttemptID: "2",
			TokenHash: "a2-h2", ExpiresAt: b.now.Add(time.Hour), At: b.now})
		must(t, err, "record delivery")
		got, err = b.s.GetInvite(b.ctx, b.orgA.ID, a2.ID)
		must(t, err, "get invite")
		if got.SendError != "" || !got.SendFailedAt.IsZero() {
			t.Fatalf("after a send: error %q at %v, want cleared", got.SendError, got.SendFailedAt)
		}
	})
}

// TestInviteLastSendError: a retried attempt's error is kept on the invite until the
// attempt is sent, the send fails for good, or a resend is asked; a note for an attempt
// already sent is dropped; another org's invite is not found.
func TestInviteLastSendError(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		inv := b.invite(t, b.orgA, "retry@example.com")
		last := func() string {
			t.Helper()
			got, err := b.s.GetInvite(b.ctx, b.orgA.ID, inv.ID)
			must(t, err, "get invite")
			return got.LastSendError
		}
		must(t, b.s.NoteInviteSendError(b.ctx, b.orgA.ID, inv.ID, 1, "the mail server deferred it (SMTP 451)", b.now), "note")
		if got := last(); got != "the mail server deferred it (SMTP 451)" {
			t.Fatalf("after the note: %q", got)
		}
		if err := b.s.NoteInviteSendError(b.ctx, b.orgB.ID, inv.ID, 1, "x", b.now); !errors.Is(err, directory.ErrNotFound) {
			t.Fatalf("note org A's invite from org B: %v, want ErrNotFound", err)
		}
		_, err := b.s.RecordInviteDelivery(b.ctx, b.orgA.ID, directory.InviteDelivery{InviteID: inv.ID, AttemptID: "1",
			TokenHash: "retry-h1", ExpiresAt: b.now.Add(time.Hour), At: b.now})
		must(t, err, "record delivery")
		if got := last(); got != "" {
			t.Fatalf("after the send was recorded: %q, want none", got)
		}
		must(t, b.s.NoteInviteSendError(b.ctx, b.orgA.ID, inv.ID, 1, "late", b.now), "late note")
		if got := last(); got != "" {
			t.Fatalf("a note for the attempt already sent was kept: %q", got)
		}
		must(t, b.s.NoteInviteSendError(b.ctx, b.orgA.ID, inv.ID, 2, "resend deferred", b.now), "note resend")
		must(t, b.s.MarkInviteSendFailed(b.ctx, b.orgA.ID, inv.ID, "gave up", b.now), "mark failed")
		if got := last(); got != "" {
			t.Fatalf("after the send failed for good: %q, want none", got)
		}
		must(t, b.s.RequestInviteSend(b.ctx, b.orgA.ID, inv.ID, 3, b.now), "request resend")
		must(t, b.s.NoteInviteSendError(b.ctx, b.orgA.ID, inv.ID, 3, "deferred again", b.now), "note")
		must(t, b.s.RequestInviteSend(b.ctx, b.orgA.ID, inv.ID, 4, b.now), "request resend")
		if got := last(); got != "" {
			t.Fatalf("after a resend was asked: %q, want none", got)
		}
	})
}
