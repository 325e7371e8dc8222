package store_test

import (
	"errors"
	"testing"
	"time"

	"tether/sync/directory"
	"tether/sync/permissions"
)

// An audit asked for is a row: one pending on-demand run per org (a second request gets
// it back), one run per org and day, final states kept, unfinished ones listed across orgs.
func TestAuditRuns(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		first, created, err := b.s.CreateAuditRun(b.ctx, b.orgA.ID, permissions.AuditRun{RequestedBy: "token:t1", CreatedAt: b.now})
		must(t, err, "create run")
		if !created || first.ID == "" || first.Status != permissions.AuditQueued || first.OrgID != b.orgA.ID || !first.CreatedAt.Equal(b.now.Truncate(time.Microsecond)) {
			t.Fatalf("first run %+v created %v", first, created)
		}
		again, created, err := b.s.CreateAuditRun(b.ctx, b.orgA.ID, permissions.AuditRun{RequestedBy: "token:t2", CreatedAt: b.now})
		must(t, err, "create second run")
		if created || again.ID != first.ID || again.RequestedBy != "token:t1" {
			t.Fatalf("second request while one is queued: %+v created %v, want run %s back", again, created, first.ID)
		}
		other, created, err := b.s.CreateAuditRun(b.ctx, b.orgB.ID, permissions.AuditRun{CreatedAt: b.now})
		must(t, err, "create run in org B")
		if !created || other.ID == first.ID {
			t.Fatalf("org B's run %+v created %v, want its own", other, created)
		}
		day, created, err := b.s.CreateAuditRun(b.ctx, b.orgA.ID, permissions.AuditRun{Day: "20260302", CreatedAt: b.now})
		must(t, err, "create daily run")
		if !created || day.ID == first.ID {
			t.Fatalf("daily run beside an on-demand one: %+v created %v, want a new one", day, created)
		}
		if _, _, err := b.s.CreateAuditRun(b.ctx, "no-such-org", permissions.AuditRun{}); !errors.Is(err, directory.ErrNotFound) {
			t.Fatalf("run of an unknown org: %v, want ErrNotFound", err)
		}

		running, err := b.s.UpdateAuditRun(b.ctx, b.orgA.ID, first.ID, permissions.AuditRunning, "", "", b.now)
		must(t, err, "mark running")
		if running.Status != permissions.AuditRunning {
			t.Fatalf("after running: %+v", running)
		}
		if _, err := b.s.UpdateAuditRun(b.ctx, b.orgB.ID, first.ID, permissions.AuditDone, "r", "", b.now); !errors.Is(err, directory.ErrNotFound) {
			t.Fatalf("update org A's run from org B: %v, want ErrNotFound", err)
		}

		var got []string
		for after := (directory.Ref{}); ; {
			page, err := b.s.UnfinishedAuditRuns(b.ctx, after, 1)
			must(t, err, "list unfinished")
			if len(page) == 0 {
				break
			}
			got = append(got, page[0].ID)
			after = directory.Ref{OrgID: page[0].OrgID, ID: page[0].ID}
		}
		if len(got) != 3 {
			t.Fatalf("unfinished runs %v, want the 3 created", got)
		}

		done, err := b.s.UpdateAuditRun(b.ctx, b.orgA.ID, first.ID, permissions.AuditDone, "report-1", "", b.now.Add(time.Minute))
		must(t, err, "mark done")
		if done.Status != permissions.AuditDone || done.ReportID != "report-1" || !done.UpdatedAt.After(done.CreatedAt) {
			t.Fatalf("done run %+v", done)
		}
		// A finished run stays as it is (a late give-up does not undo a done audit).
		late, err := b.s.UpdateAuditRun(b.ctx, b.orgA.ID, first.ID, permissions.AuditFailed, "", "gave up", b.now.Add(2*time.Minute))
		must(t, err, "fail a done run")
		if late.Status != permissions.AuditDone || late.Error != "" {
			t.Fatalf("done run after a late failure: %+v, want it done", late)
		}
		failed, err := b.s.UpdateAuditRun(b.ctx, b.orgB.ID, other.ID, permissions.AuditFailed, "", "the audit's task gave up: HTTP 500", b.now)
		must(t, err, "mark failed")
		if failed.Status != permissions.AuditFailed || failed.Error != "the audit's task gave up: HTTP 500" {
			t.Fatalf("failed run %+v", failed)
		}
		// With the on-demand run done, the next request makes a new one; the day's run
		// is found again whatever its state.
		next, created, err := b.s.CreateAuditRun(b.ctx, b.orgA.ID, permissions.AuditRun{CreatedAt: b.now})
		must(t, err, "create after done")
		if !created || next.ID == first.ID {
			t.Fatalf("request after the run finished: %+v created %v, want a new run", next, created)
		}
		dayAgain, created, err := b.s.CreateAuditRun(b.ctx, b.orgA.ID, permissions.AuditRun{Day: "20260302", CreatedAt: b.now})
		must(t, err, "create daily again")
		if created || dayAgain.ID != day.ID {
			t.Fatalf("same day again: %+v created %v, want run %s", dayAgain, created, day.ID)
		}
		unfinished, err := b.s.UnfinishedAuditRuns(b.ctx, directory.Ref{}, 0)
		must(t, err, "list unfinished")
		if len(unfinished) != 2 {
			t.Fatalf("unfinished after done and failed: %+v, want the daily and the new run", unfinished)
		}
	})
}

// A resend asked for is recorded on the invite, so the reconciler finds it until it is
// sent; an earlier send failure is cleared; another org's invite is not found.
func TestRequestedResends(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		inv := b.invite(t, b.orgA, "ann@example.com")
		_, err := b.s.RecordInviteDelivery(b.ctx, b.orgA.ID, directory.InviteDelivery{InviteID: inv.ID, AttemptID: "1",
			TokenHash: "ann-h1", ExpiresAt: b.now.Add(time.Hour), At: b.now})
		must(t, err, "record first send")
		must(t, b.s.MarkInviteSendFailed(b.ctx, b.orgA.ID, inv.ID, "old failure", b.now), "mark failed")
		if got, err := b.s.RequestedResends(b.ctx, directory.Ref{}, b.now, 0); err != nil || len(got) != 0 {
			t.Fatalf("resends before any asked: %v %v", got, err)
		}
		if err := b.s.RequestInviteSend(b.ctx, b.orgB.ID, inv.ID, 2, b.now); !errors.Is(err, directory.ErrNotFound) {
			t.Fatalf("resend org A's invite from org B: %v, want ErrNotFound", err)
		}
		must(t, b.s.RequestInviteSend(b.ctx, b.orgA.ID, inv.ID, 2, b.now), "request resend")
		must(t, b.s.RequestInviteSend(b.ctx, b.orgA.ID, inv.ID, 1, b.now), "request an older attempt")
		got, err := b.s.RequestedResends(b.ctx, directory.Ref{}, b.now, 0)
		must(t, err, "list resends")
		if len(got) != 1 || got[0] != (directory.SendAttempt{OrgID: b.orgA.ID, InviteID: inv.ID, Attempt: 2}) {
			t.Fatalf("resends %+v, want attempt 2 of %s", got, inv.ID)
		}
		if g, err := b.s.GetInvite(b.ctx, b.orgA.ID, inv.ID); err != nil || g.SendError != "" || !g.SendFailedAt.IsZero() {
			t.Fatalf("invite after a resend was asked: %+v %v, want the old failure cleared", g, err)
		}
		if later, err := b.s.RequestedResends(b.ctx, directory.Ref{}, b.now.Add(8*24*time.Hour), 0); err != nil || len(later) != 0 {
			t.Fatalf("resends of an expired invite: %v %v, want none", later, err)
		}
		_, err = b.s.RecordInviteDelivery(b.ctx, b.orgA.ID, directory.InviteDelivery{InviteID: inv.ID, AttemptID: "2", Resend: true,
			TokenHash: "ann-h2", ExpiresAt: b.now.Add(time.Hour), At: b.now})
		must(t, err, "record resend")
		if got, err := b.s.RequestedResends(b.ctx, directory.Ref{}, b.now, 0); err != nil || len(got) != 0 {
			t.Fatalf("resends after it was sent: %v %v, want none", got, err)
		}
	})
}
