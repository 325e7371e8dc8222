package store_test

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"tether/sync/connections"
	"tether/sync/directory"
	"tether/sync/events"
	"tether/sync/permissions"
	"tether/sync/reminders"
	"tether/sync/store"
)

// TestTenancy is the org-scoping contract: given org A's id, no method reads or changes
// org B's rows, whatever ids of org B the caller passes.
func TestTenancy(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		ctx, s, A, B := b.ctx, b.s, b.orgA.ID, b.orgB.ID

		// Org B's rows.
		mB := b.member(t, b.orgB, "bea@example.com", directory.RoleChat, directory.MembershipActive)
		gB, err := s.GetOrCreateGroup(ctx, B, "West", b.now)
		must(t, err, "group")
		impB, err := s.CreateImport(ctx, B, directory.Import{Role: directory.RoleChat, CreatedAt: b.now})
		must(t, err, "import")
		iB, err := s.CreateInvite(ctx, B, directory.Invite{Email: "invited@example.com", Role: directory.RoleChat,
			GroupID: gB.ID, ImportID: impB.ID, TokenHash: "b-token", ExpiresAt: b.now.Add(time.Hour), CreatedAt: b.now})
		must(t, err, "invite")
		cB, err := s.CreateConnection(ctx, B, connections.Connection{MembershipID: mB.ID, Kind: connections.KindSalesforce,
			State: connections.StateHealthy, AccessTokenEnc: []byte("sealed"), CreatedAt: b.now})
		must(t, err, "connection")
		_, err = s.EnsureConnection(ctx, B, "", connections.KindSalesforceTeam, b.now)
		must(t, err, "team connection")
		_, err = s.InsertReminder(ctx, B, reminders.Reminder{MembershipID: mB.ID, Channel: reminders.ChannelEmail, Sequence: 1, SentAt: b.now})
		must(t, err, "reminder")
		_, err = s.SavePermissionReport(ctx, B, permissions.Report{CreatedAt: b.now})
		must(t, err, "report")
		must(t, s.AppendEvent(ctx, events.Event{OrgID: B, Kind: "invite.sent", At: b.now}), "event")
		must(t, s.RecordAPIUsage(ctx, B, connections.APIUsage{Used: 1, Max: 2, RecordedAt: b.now}), "usage")
		b.member(t, b.orgB, "boss@example.com", directory.RoleAdmin, directory.MembershipActive)
		// An open, unsent permission alert of B's, for a check A will regain.
		_, err = s.SavePermissionAudit(ctx, B, permissions.AuditRecord{Report: permissions.Report{CreatedAt: b.now},
			Lost: []string{permissions.CheckMarketingUser}})
		must(t, err, "permission audit")
		alertsB, err := s.PendingPermissionAlerts(ctx, B)
		must(t, err, "alerts")
		if len(alertsB) != 1 {
			t.Fatalf("org B has %d pending alerts, want 1", len(alertsB))
		}

		snapshot := func() []any {
			m, _ := s.GetMembership(ctx, B, mB.ID)
			g, _ := s.GetGroup(ctx, B, gB.ID)
			i, _ := s.GetInvite(ctx, B, iB.ID)
			imp, _ := s.GetImport(ctx, B, impB.ID)
			c, _ := s.GetConnection(ctx, B, cB.ID)
			cs, _ := s.ListConnections(ctx, B, "")
			rs, _ := s.ListReminders(ctx, B, mB.ID, 0)
			u, _ := s.GetUser(ctx, mB.UserID)
			o, _ := s.GetOrg(ctx, B)
			al, _ := s.PendingPermissionAlerts(ctx, B)
			adm, _ := s.OrgAdminEmails(ctx, B)
			rep, _ := s.LatestPermissionReport(ctx, B)
			pi, _ := s.FindPendingInvite(ctx, B, "invited@example.com")
			un, _ := s.UnsentInvites(ctx, B, impB.ID, "", 0)
			return []any{m, g, i, imp, c, cs, rs, u, o, al, adm, rep, pi, un}
		}
		before := snapshot()

		notFound := func(err error) error {
			if !errors.Is(err, directory.ErrNotFound) {
				return fmt.Errorf("got %v, want ErrNotFound", err)
			}
			return nil
		}
		empty := func(n int, err error) error {
			if err != nil {
				return err
			}
			if n != 0 {
				return fmt.Errorf("got %d of org B's rows", n)
			}
			return nil
		}
		later := b.now.Add(time.Hour)
		for _, tc := range []struct {
			name string
			call func() error
		}{
			// Reads by id.
			{"GetMembership", func() error { _, err := s.GetMembership(ctx, A, mB.ID); return notFound(err) }},
			{"GetMembershipByUser", func() error { _, err := s.GetMembershipByUser(ctx, A, mB.UserID); return notFound(err) }},
			{"GetGroup", func() error { _, err := s.GetGroup(ctx, A, gB.ID); return notFound(err) }},
			{"GetInvite", func() error { _, err := s.GetInvite(ctx, A, iB.ID); return notFound(err) }},
			{"GetImport", func() error { _, err := s.GetImport(ctx, A, impB.ID); return notFound(err) }},
			{"GetConnection", func() error { _, err := s.GetConnection(ctx, A, cB.ID); return notFound(err) }},
			{"FindConnection", func() error {
				_, err := s.FindConnection(ctx, A, mB.ID, connections.KindSalesforce)
				return notFound(err)
			}},
			{"GetTeamConnection", func() error { _, err := s.GetTeamConnection(ctx, A); return notFound(err) }},
			{"GetAPIUsage", func() error { _, err := s.GetAPIUsage(ctx, A); return notFound(err) }},
			{"LatestPermissionReport", func() error { _, err := s.LatestPermissionReport(ctx, A); return notFound(err) }},
			{"FindPendingInvite", func() error { _, err := s.FindPendingInvite(ctx, A, "invited@example.com"); return notFound(err) }},
			{"FindGroup", func() error {
				if _, ok, err := s.FindGroup(ctx, A, "West"); err != nil || ok {
					return fmt.Errorf("found %t, %v; want org B's group unseen", ok, err)
				}
				return nil
			}},
			{"UnsentInvites", func() error { l, err := s.UnsentInvites(ctx, A, impB.ID, "", 0); return empty(len(l), err) }},
			{"PendingPermissionAlerts", func() error { l, err := s.PendingPermissionAlerts(ctx, A); return empty(len(l), err) }},
			{"OrgAdminEmails", func() error { l, err := s.OrgAdminEmails(ctx, A); return empty(len(l), err) }},
			// Lists and counts.
			{"ListMemberships", func() error { l, err := s.ListMemberships(ctx, A, store.MembershipFilter{}); return empty(len(l), err) }},
			{"ListMembers", func() error { l, err := s.ListMembers(ctx, A, store.MembershipFilter{}); return empty(len(l), err) }},
			{"ListMemberConnections", func() error { l, err := s.ListMemberConnections(ctx, A, []string{mB.ID}); return empty(len(l), err) }},
			{"ListGroups", func() error { l, err := s.ListGroups(ctx, A); return empty(len(l), err) }},
			{"ListInvites", func() error {
				l, err := s.ListInvites(ctx, A, store.InviteFilter{ImportID: impB.ID})
				return empty(len(l), err)
			}},
			{"ListImports", func() error { l, err := s.ListImports(ctx, A, 0); return empty(len(l), err) }},
			{"ListConnections", func() error { l, err := s.ListConnections(ctx, A, mB.ID); return empty(len(l), err) }},
			{"ListReminders", func() error { l, err := s.ListReminders(ctx, A, mB.ID, 0); return empty(len(l), err) }},
			{"MemberReminders", func() error { l, err := s.MemberReminders(ctx, A, []string{mB.ID}); return empty(len(l), err) }},
			{"ListEvents", func() error { l, err := s.ListEvents(ctx, A, 0); return empty(len(l), err) }},
			{"ListEventsPage", func() error { l, err := s.ListEventsPage(ctx, A, events.Filter{}); return empty(len(l), err) }},
			{"LatestPermissionReports", func() error { l, err := s.LatestPermissionReports(ctx, A, 0); return empty(len(l), err) }},
			{"CountMemberships", func() error { c, err := s.CountMemberships(ctx, A); return empty(c.All.Members, err) }},
			{"CountSeats", func() error { c, err := s.CountSeats(ctx, A, b.now); return empty(c.Used(), err) }},
			{"PendingImports", func() error { l, err := s.PendingImports(ctx, A); return empty(len(l), err) }},
			{"CountImportInvites of B's import", func() error {
				c, err := s.CountImportInvites(ctx, A, impB.ID, b.now)
				return empty(c.Pending, err)
			}},
			{"ListOrgs of A's clients", func() error {
				l, err := s.ListOrgs(ctx, directory.OrgFilter{ParentID: A}, b.now)
				return empty(len(l), err)
			}},
			// B uses 2 seats (a member, an invite), A none: A's limit of 1 counts A's only.
			{"ChangeOrg seats", func() error {
				one := 1
				_, err := s.ChangeOrg(ctx, A, directory.OrgChange{SeatLimit: &one}, b.now)
				return err
			}},
			{"LookupEmails", func() error {
				got, err := s.LookupEmails(ctx, A, []string{"bea@example.com", "invited@example.com"}, b.now)
				if err != nil {
					return err
				}
				if x := got["bea@example.com"]; x.MembershipID != "" || !x.InOtherOrg {
					return fmt.Errorf("member of B seen as %+v", x)
				}
				if x := got["invited@example.com"]; x.PendingInviteID != "" {
					return fmt.Errorf("B's invite seen as %+v", x)
				}
				return nil
			}},
			// Writes by id.
			{"UpdateMembership", func() error {
				m := mB
				m.Role, m.Status = directory.RoleAdmin, directory.MembershipDeactivated
				return notFound(s.UpdateMembership(ctx, A, m, later))
			}},
			{"SetActionRequired", func() error {
				return notFound(s.SetActionRequired(ctx, A, mB.ID, []directory.ActionReason{{Requirement: "photo"}}, later))
			}},
			{"DeactivateMembership", func() error { _, err := s.DeactivateMembership(ctx, A, mB.ID, later); return notFound(err) }},
			{"RecomputeActionRequired", func() error {
				_, err := s.RecomputeActionRequired(ctx, A, mB.ID, later, func(directory.Org, directory.Membership, []connections.Connection) []directory.ActionReason {
					return nil
				})
				return notFound(err)
			}},
			{"SetFavouriteOrg", func() error { return notFound(s.SetFavouriteOrg(ctx, A, mB.UserID)) }},
			{"RevokeInvite", func() error { return notFound(s.RevokeInvite(ctx, A, iB.ID, later)) }},
			{"RenewInvite", func() error { return notFound(s.RenewInvite(ctx, A, iB.ID, "a-token", later, later)) }},
			{"RevokeImportInvites of B's import", func() error {
				p, err := s.RevokeImportInvites(ctx, A, impB.ID, later, 0)
				return empty(p.Revoked, err)
			}},
			{"MarkInviteSent", func() error {
				_, err := s.MarkInviteSent(ctx, A, store.InviteSend{InviteID: iB.ID, AttemptID: "a", At: later})
				return notFound(err)
			}},
			{"UpdateImport", func() error {
				imp := impB
				imp.Status = directory.ImportFailed
				return notFound(s.UpdateImport(ctx, A, imp, later))
			}},
			{"UpdateConnection", func() error {
				c := cB
				c.State, c.AccessTokenEnc = connections.StateRevoked, nil
				_, err := s.UpdateConnection(ctx, A, c, later)
				return notFound(err)
			}},
			{"SetPendingToken", func() error {
				return notFound(s.SetPendingToken(ctx, A, cB.ID, []byte("x"), cB.RefreshTokenEnc, later))
			}},
			{"MarkPermissionAlertSent", func() error {
				return notFound(s.MarkPermissionAlertSent(ctx, A, permissions.CheckMarketingUser, alertsB[0].LostSince, later))
			}},
			// A regaining a check closes A's alert only, never B's open one.
			{"SavePermissionAudit regaining B's lost check", func() error {
				_, err := s.SavePermissionAudit(ctx, A, permissions.AuditRecord{Report: permissions.Report{CreatedAt: later},
					Regained: []string{permissions.CheckMarketingUser}})
				return err
			}},
			{"RecordInviteDelivery of B's invite", func() error {
				_, err := s.RecordInviteDelivery(ctx, A, directory.InviteDelivery{InviteID: iB.ID, AttemptID: "a-1",
					TokenHash: "a-hash", ExpiresAt: later, At: later})
				return notFound(err)
			}},
			// Inserts into A that point at B's rows.
			{"CreateInvite with B's group", func() error {
				_, err := s.CreateInvite(ctx, A, directory.Invite{Email: "z@example.com", Role: directory.RoleChat, GroupID: gB.ID,
					TokenHash: "z", ExpiresAt: later})
				return notFound(err)
			}},
			{"CreateImport with B's group", func() error {
				_, err := s.CreateImport(ctx, A, directory.Import{Role: directory.RoleChat, GroupID: gB.ID})
				return notFound(err)
			}},
			{"InsertImportPage with B's import", func() error {
				_, err := s.InsertImportPage(ctx, A, store.ImportPage{Invites: []directory.Invite{{Email: "z@example.com",
					Role: directory.RoleChat, ImportID: impB.ID, TokenHash: "z2", ExpiresAt: later}}})
				return notFound(err)
			}},
			{"CreateConnection for B's membership", func() error {
				_, err := s.CreateConnection(ctx, A, connections.Connection{MembershipID: mB.ID, Kind: connections.KindZoom})
				return notFound(err)
			}},
			{"EnsureConnection for B's membership", func() error {
				_, err := s.EnsureConnection(ctx, A, mB.ID, connections.KindSalesforce, later)
				return notFound(err)
			}},
			{"InsertReminder for B's membership", func() error {
				_, err := s.InsertReminder(ctx, A, reminders.Reminder{MembershipID: mB.ID, Channel: reminders.ChannelEmail, Sequence: 2, SentAt: later})
				return notFound(err)
			}},
		} {
			if err := tc.call(); err != nil {
				t.Errorf("%s with org A's id: %v", tc.name, err)
			}
		}
		if after := snapshot(); !reflect.DeepEqual(before, after) {
			t.Fatalf("org B's rows changed:\nbefore %+v\nafter  %+v", before, after)
		}
	})
}
