package store_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"tether/sync/directory"
	"tether/sync/events"
	"tether/sync/permissions"
)

func TestPermissionAlerts(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		audit := func(at time.Time, lost, regained []string) permissions.Report {
			t.Helper()
			r, err := b.s.SavePermissionAudit(b.ctx, b.orgA.ID, permissions.AuditRecord{
				Report: permissions.Report{CreatedAt: at, Checks: []permissions.Check{{Name: "marketing_user", Required: true, Result: permissions.ResultMissing}}},
				Events: []events.Event{{Kind: permissions.EventAudited, At: at}},
				Lost:   lost, Regained: regained,
			})
			if err != nil {
				t.Fatalf("save audit: %v", err)
			}
			return r
		}
		pending := func() []permissions.Alert {
			t.Helper()
			as, err := b.s.PendingPermissionAlerts(b.ctx, b.orgA.ID)
			if err != nil {
				t.Fatal(err)
			}
			return as
		}

		t1 := b.now
		r1 := audit(t1, []string{"marketing_user"}, nil)
		got := pending()
		if len(got) != 1 || got[0].Check != "marketing_user" || !got[0].LostSince.Equal(t1) || got[0].ReportID != r1.ID {
			t.Fatalf("pending after first loss = %+v", got)
		}
		if latest, err := b.s.LatestPermissionReport(b.ctx, b.orgA.ID); err != nil || latest.ID != r1.ID {
			t.Fatalf("latest report = %v, %v; want %s", latest.ID, err, r1.ID)
		}
		if evs, err := b.s.ListEvents(b.ctx, b.orgA.ID, 10); err != nil || len(evs) != 1 || evs[0].Kind != permissions.EventAudited {
			t.Fatalf("events = %+v, %v", evs, err)
		}

		// Still lost the next day: the same alert, still one.
		audit(t1.Add(24*time.Hour), []string{"marketing_user"}, nil)
		if got := pending(); len(got) != 1 || !got[0].LostSince.Equal(t1) {
			t.Fatalf("pending while still lost = %+v", got)
		}
		if err := b.s.MarkPermissionAlertSent(b.ctx, b.orgA.ID, "marketing_user", t1, t1.Add(25*time.Hour)); err != nil {
			t.Fatal(err)
		}
		if got := pending(); len(got) != 0 {
			t.Fatalf("pending after send = %+v", got)
		}
		audit(t1.Add(48*time.Hour), []string{"marketing_user"}, nil)
		if got := pending(); len(got) != 0 {
			t.Fatalf("a sent alert came back while still lost: %+v", got)
		}

		// Regained, then lost again: a new alert.
		audit(t1.Add(72*time.Hour), nil, []string{"marketing_user"})
		t5 := t1.Add(96 * time.Hour)
		audit(t5, []string{"marketing_user"}, nil)
		if got := pending(); len(got) != 1 || !got[0].LostSince.Equal(t5) {
			t.Fatalf("pending after losing again = %+v", got)
		}

		// Org B sees none of it.
		if as, err := b.s.PendingPermissionAlerts(b.ctx, b.orgB.ID); err != nil || len(as) != 0 {
			t.Fatalf("org B alerts = %+v, %v", as, err)
		}
		err := b.s.MarkPermissionAlertSent(b.ctx, b.orgB.ID, "marketing_user", t5, t5)
		if !errors.Is(err, directory.ErrNotFound) {
			t.Fatalf("mark another org's alert: %v, want ErrNotFound", err)
		}
	})
}

func TestOrgAdminEmails(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		b.member(t, b.orgA, "boss@acme.test", directory.RoleAdmin, directory.MembershipActive)
		b.member(t, b.orgA, "ann@acme.test", directory.RoleAdmin, directory.MembershipActive)
		b.member(t, b.orgA, "gone@acme.test", directory.RoleAdmin, directory.MembershipDeactivated)
		b.member(t, b.orgA, "rep@acme.test", directory.RoleChat, directory.MembershipActive)
		b.member(t, b.orgB, "other@globex.test", directory.RoleAdmin, directory.MembershipActive)
		got, err := b.s.OrgAdminEmails(b.ctx, b.orgA.ID)
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{"ann@acme.test", "boss@acme.test"}; !slices.Equal(got, want) {
			t.Fatalf("admin emails = %v, want %v", got, want)
		}
	})
}
