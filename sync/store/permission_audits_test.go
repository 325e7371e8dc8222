package store_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"tether/sync/connections"
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

// TestPermissionAlertAttempt: an alert's send is begun once (a second begin, as by a
// retry after a crash or a concurrent audit, is refused), cleared by an abandon, and an
// attempt never recorded sent is settled sent and unconfirmed only once older than the
// cut-off. Open alerts show every delivery state.
func TestPermissionAlertAttempt(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		t1 := b.now
		_, err := b.s.SavePermissionAudit(b.ctx, b.orgA.ID, permissions.AuditRecord{
			Report: permissions.Report{CreatedAt: t1, Checks: []permissions.Check{
				{Name: "marketing_user", Required: true, Result: permissions.ResultMissing},
				{Name: "lead", Required: true, Result: permissions.ResultMissing}}},
			Lost: []string{"marketing_user", "lead"},
		})
		if err != nil {
			t.Fatal(err)
		}
		open := func() map[string]permissions.Alert {
			t.Helper()
			as, err := b.s.OpenPermissionAlerts(b.ctx, b.orgA.ID)
			if err != nil {
				t.Fatal(err)
			}
			m := map[string]permissions.Alert{}
			for _, a := range as {
				m[a.Check] = a
			}
			return m
		}
		if d := open()["lead"].Delivery(); d != permissions.DeliveryPending {
			t.Fatalf("a new alert's delivery is %q, want pending", d)
		}
		begin := func(check string, at time.Time) bool {
			t.Helper()
			ok, err := b.s.BeginPermissionAlert(b.ctx, b.orgA.ID, check, t1, at)
			if err != nil {
				t.Fatal(err)
			}
			return ok
		}
		at := t1.Add(time.Minute)
		if !begin("lead", at) || begin("lead", at.Add(time.Second)) {
			t.Fatal("begin must take the attempt once and refuse the second")
		}
		a := open()["lead"]
		if a.Delivery() != permissions.DeliveryAttempting || !a.AttemptedAt.Equal(at) {
			t.Fatalf("begun alert: %+v (%s)", a, a.Delivery())
		}
		// Still pending to the audit (not recorded sent), with its attempt.
		if ps, err := b.s.PendingPermissionAlerts(b.ctx, b.orgA.ID); err != nil || len(ps) != 2 {
			t.Fatalf("pending = %+v, %v", ps, err)
		}

		// Abandoned after a send that certainly failed: begun again, then sent.
		if err := b.s.AbandonPermissionAlert(b.ctx, b.orgA.ID, "lead", t1); err != nil {
			t.Fatal(err)
		}
		if d := open()["lead"].Delivery(); d != permissions.DeliveryPending {
			t.Fatalf("abandoned alert's delivery is %q, want pending", d)
		}
		if !begin("lead", at) {
			t.Fatal("an abandoned alert could not be begun again")
		}
		if err := b.s.MarkPermissionAlertSent(b.ctx, b.orgA.ID, "lead", t1, at.Add(time.Second)); err != nil {
			t.Fatal(err)
		}
		if begin("lead", at.Add(time.Hour)) {
			t.Fatal("a sent alert was begun again")
		}
		if d := open()["lead"].Delivery(); d != permissions.DeliverySent {
			t.Fatalf("sent alert's delivery is %q", d)
		}

		// marketing_user's run dies after the begin: not settled before the cut-off
		// passes its attempt, then settled unconfirmed at the attempt's time.
		if !begin("marketing_user", at) {
			t.Fatal("begin marketing_user")
		}
		if n, err := b.s.SettlePermissionAlerts(b.ctx, b.orgA.ID, at); err != nil || n != 0 {
			t.Fatalf("settle with the cut-off at the attempt: %d, %v; want 0", n, err)
		}
		if n, err := b.s.SettlePermissionAlerts(b.ctx, b.orgB.ID, at.Add(time.Hour)); err != nil || n != 0 {
			t.Fatalf("settling org B touched %d of org A's alerts (%v)", n, err)
		}
		if n, err := b.s.SettlePermissionAlerts(b.ctx, b.orgA.ID, at.Add(time.Second)); err != nil || n != 1 {
			t.Fatalf("settle a stale attempt: %d, %v; want 1 (the sent lead alert untouched)", n, err)
		}
		m := open()
		if a := m["marketing_user"]; a.Delivery() != permissions.DeliveryUnconfirmed || !a.SentAt.Equal(at) {
			t.Fatalf("settled alert: %+v (%s)", a, a.Delivery())
		}
		if m["lead"].Delivery() != permissions.DeliverySent {
			t.Fatalf("settling changed the sent alert: %+v", m["lead"])
		}
		if ps, err := b.s.PendingPermissionAlerts(b.ctx, b.orgA.ID); err != nil || len(ps) != 0 {
			t.Fatalf("pending after settling = %+v, %v", ps, err)
		}
		if _, err := b.s.BeginPermissionAlert(b.ctx, b.orgB.ID, "lead", t1, at); !errors.Is(err, directory.ErrNotFound) {
			t.Fatalf("begin another org's alert: %v, want ErrNotFound", err)
		}
	})
}

// TestPermissionAlertNeverConnected: the connection check's alert of an org that has no
// team connection, or only a row a connect never completed (no Salesforce account), says
// never connected; once the row has an account (a connect completed), the same open alert
// is a lost connection's. Another check's alert is never it, and another org's team
// connection does not count. TeamEverConnected agrees with the alerts.
func TestPermissionAlertNeverConnected(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		_, err := b.s.SavePermissionAudit(b.ctx, b.orgA.ID, permissions.AuditRecord{
			Report: permissions.Report{CreatedAt: b.now, Checks: []permissions.Check{
				{Name: permissions.CheckConnection, Required: true, Result: permissions.ResultMissing}}},
			Lost: []string{permissions.CheckConnection, permissions.CheckMarketingUser},
		})
		if err != nil {
			t.Fatal(err)
		}
		never := func() map[string]bool {
			t.Helper()
			as, err := b.s.PendingPermissionAlerts(b.ctx, b.orgA.ID)
			if err != nil {
				t.Fatal(err)
			}
			m := map[string]bool{}
			for _, a := range as {
				m[a.Check] = a.NeverConnected
			}
			return m
		}
		ever := func(orgID string) bool {
			t.Helper()
			ok, err := b.s.TeamEverConnected(b.ctx, orgID)
			if err != nil {
				t.Fatal(err)
			}
			return ok
		}
		if got := never(); len(got) != 2 || !got[permissions.CheckConnection] || got[permissions.CheckMarketingUser] {
			t.Fatalf("never connected by check, no team connection: %v", got)
		}
		if ever(b.orgA.ID) {
			t.Fatal("TeamEverConnected without a team connection row = true")
		}
		if _, err := b.s.CreateConnection(b.ctx, b.orgB.ID, connections.Connection{Kind: connections.KindSalesforceTeam, ProviderAccountID: "005B"}); err != nil {
			t.Fatal(err)
		}
		if got := never(); !got[permissions.CheckConnection] || ever(b.orgA.ID) || !ever(b.orgB.ID) {
			t.Fatalf("org B's team connection counted for org A: alerts %v, ever A %t, ever B %t", got, ever(b.orgA.ID), ever(b.orgB.ID))
		}
		// A connect that never completed: the row exists, with no Salesforce account.
		c, err := b.s.CreateConnection(b.ctx, b.orgA.ID, connections.Connection{Kind: connections.KindSalesforceTeam, State: connections.StateMissing})
		if err != nil {
			t.Fatal(err)
		}
		if got := never(); !got[permissions.CheckConnection] || ever(b.orgA.ID) {
			t.Fatalf("a team row without an account counted as connected: alerts %v, ever %t", got, ever(b.orgA.ID))
		}
		c.ProviderAccountID, c.State = "005A", connections.StateHealthy
		if _, err := b.s.UpdateConnection(b.ctx, b.orgA.ID, c, b.now); err != nil {
			t.Fatal(err)
		}
		if got := never(); got[permissions.CheckConnection] || !ever(b.orgA.ID) {
			t.Fatalf("with a completed team connection: alerts %v, ever %t; want lost, ever connected", got, ever(b.orgA.ID))
		}
	})
}
