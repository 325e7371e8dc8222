package store_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"tether/sync/directory"
	"tether/sync/events"
	"tether/sync/permissions"
	"tether/sync/reminders"
	"tether/sync/store"
)

func TestImports(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		g, err := b.s.GetOrCreateGroup(b.ctx, b.orgA.ID, "West", b.now)
		must(t, err, "group")
		imp, err := b.s.CreateImport(b.ctx, b.orgA.ID, directory.Import{
			RequestedBy: "admin-1", Role: directory.RoleMeetings, GroupID: g.ID, DryRun: true, CreatedAt: b.now,
			Selection: directory.ImportSelection{ProfileIDs: []string{"00e000000000001AAA"}, ProfileNames: []string{"Sales"}},
		})
		must(t, err, "create")
		got, err := b.s.GetImport(b.ctx, b.orgA.ID, imp.ID)
		must(t, err, "get")
		if got.Status != directory.ImportQueued || !got.DryRun || got.GroupID != g.ID || got.RequestedBy != "admin-1" ||
			!slices.Equal(got.Selection.ProfileNames, []string{"Sales"}) || len(got.Refused) != 0 || !got.StartedAt.IsZero() {
			t.Fatalf("created %+v", got)
		}

		got.Status = directory.ImportPaused
		got.Counts = directory.ImportCounts{Found: 10, Invited: 4, AlreadyMember: 1, OverSeatLimit: 2, SkippedNoEmail: 3}
		got.Progress = directory.ImportProgress{Done: 10, Total: 40, Cursor: "005000000000010AAA"}
		got.PausedUntil, got.PausedReason = b.now.Add(time.Hour), "api budget"
		got.StartedAt = b.now
		for i := range directory.MaxRefusedRows + 20 {
			got.Refused = append(got.Refused, directory.RefusedRow{Email: fmt.Sprintf("r%d@example.com", i), Reason: "over_seat_limit"})
		}
		got.Errors = []string{"profile 00e000000000002AAA not found"}
		must(t, b.s.UpdateImport(b.ctx, b.orgA.ID, got, b.now.Add(time.Minute)), "update")
		again, err := b.s.GetImport(b.ctx, b.orgA.ID, imp.ID)
		must(t, err, "get updated")
		if again.Status != directory.ImportPaused || again.Counts != got.Counts || again.Progress != got.Progress ||
			len(again.Refused) != directory.MaxRefusedRows || again.PausedReason != "api budget" ||
			!again.PausedUntil.Equal(got.PausedUntil.Truncate(time.Microsecond)) || !slices.Equal(again.Errors, got.Errors) ||
			!again.UpdatedAt.Equal(b.now.Add(time.Minute).Truncate(time.Microsecond)) {
			t.Fatalf("updated %+v", again)
		}

		_, err = b.s.CreateImport(b.ctx, b.orgB.ID, directory.Import{Role: directory.RoleChat, GroupID: g.ID})
		wantErr(t, err, directory.ErrNotFound, "import in org B with org A's group")
		_, err = b.s.CreateImport(b.ctx, b.orgA.ID, directory.Import{Role: "boss"})
		wantErr(t, err, directory.ErrInvalid, "import with an unknown role")
		second, err := b.s.CreateImport(b.ctx, b.orgA.ID, directory.Import{Role: directory.RoleChat, CreatedAt: b.now.Add(time.Hour)})
		must(t, err, "second import")
		list, err := b.s.ListImports(b.ctx, b.orgA.ID, 10)
		must(t, err, "list")
		if len(list) != 2 || list[0].ID != second.ID || list[1].ID != imp.ID {
			t.Fatalf("imports newest first: %+v", list)
		}
	})
}

func TestPermissionReports(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		_, err := b.s.LatestPermissionReport(b.ctx, b.orgA.ID)
		wantErr(t, err, directory.ErrNotFound, "latest before any")
		checks := []permissions.Check{
			{Name: "api_enabled", Required: true, Result: permissions.ResultOK, Evidence: "PermissionsApiEnabled=true"},
			{Name: "view_setup", Required: true, Result: permissions.ResultMissing, Fix: "Grant View Setup and Configuration"},
		}
		first, err := b.s.SavePermissionReport(b.ctx, b.orgA.ID, permissions.Report{CreatedAt: b.now, Checks: checks[:1]})
		must(t, err, "save first")
		second, err := b.s.SavePermissionReport(b.ctx, b.orgA.ID, permissions.Report{CreatedAt: b.now.Add(24 * time.Hour), Checks: checks})
		must(t, err, "save second")
		_, err = b.s.SavePermissionReport(b.ctx, b.orgB.ID, permissions.Report{CreatedAt: b.now.Add(48 * time.Hour)})
		must(t, err, "save other org")

		latest, err := b.s.LatestPermissionReport(b.ctx, b.orgA.ID)
		must(t, err, "latest")
		if latest.ID != second.ID || !slices.Equal(latest.Checks, checks) {
			t.Fatalf("latest %+v", latest)
		}
		two, err := b.s.LatestPermissionReports(b.ctx, b.orgA.ID, 2)
		must(t, err, "latest two")
		if len(two) != 2 || two[1].ID != first.ID || !slices.Equal(two[1].Checks, checks[:1]) {
			t.Fatalf("previous %+v", two)
		}
	})
}

func TestReminders(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		m := b.member(t, b.orgA, "ann@example.com", directory.RoleChat, directory.MembershipActive)
		r1, err := b.s.InsertReminder(b.ctx, b.orgA.ID, reminders.Reminder{MembershipID: m.ID, Reasons: []string{"missing_calendar"},
			Channel: reminders.ChannelEmail, Sequence: 1, SentAt: b.now})
		must(t, err, "first")
		_, err = b.s.InsertReminder(b.ctx, b.orgA.ID, reminders.Reminder{MembershipID: m.ID, Channel: reminders.ChannelEmail, Sequence: 1, SentAt: b.now})
		wantErr(t, err, directory.ErrDuplicate, "same send twice")
		r2, err := b.s.InsertReminder(b.ctx, b.orgA.ID, reminders.Reminder{MembershipID: m.ID, Channel: reminders.ChannelEmail, Sequence: 2, SentAt: b.now.Add(24 * time.Hour)})
		must(t, err, "second")
		_, err = b.s.InsertReminder(b.ctx, b.orgA.ID, reminders.Reminder{MembershipID: m.ID, Channel: "pigeon", Sequence: 3, SentAt: b.now})
		wantErr(t, err, directory.ErrInvalid, "unknown channel")
		list, err := b.s.ListReminders(b.ctx, b.orgA.ID, m.ID, 0)
		must(t, err, "list")
		if len(list) != 2 || list[0].ID != r2.ID || list[1].ID != r1.ID || !slices.Equal(list[1].Reasons, []string{"missing_calendar"}) {
			t.Fatalf("reminders %+v", list)
		}
	})
}

func TestEvents(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		for i, e := range []events.Event{
			{OrgID: b.orgA.ID, Kind: "invite.sent", Subject: "inv-1", Detail: map[string]any{"count": 1.0}, At: b.now.Add(-48 * time.Hour)},
			{OrgID: b.orgA.ID, Kind: "invite.sent", Subject: "inv-2", At: b.now.Add(-time.Hour)},
			{OrgID: b.orgB.ID, Kind: "connection.refreshed", At: b.now.Add(-72 * time.Hour)},
			{Kind: "system.started", At: b.now.Add(-96 * time.Hour)},
		} {
			must(t, b.s.AppendEvent(b.ctx, e), "append %d", i)
		}
		wantErr(t, b.s.AppendEvent(b.ctx, events.Event{OrgID: store.NewID(), Kind: "x"}), directory.ErrNotFound, "event of a missing org")
		list, err := b.s.ListEvents(b.ctx, b.orgA.ID, 10)
		must(t, err, "list")
		if len(list) != 2 || list[0].Subject != "inv-2" || list[1].Detail["count"] != 1.0 || list[0].Detail == nil {
			t.Fatalf("events %+v", list)
		}

		svc := events.NewService(b.s, func() time.Time { return b.now })
		_, err = svc.Prune(b.ctx, 0)
		wantErr(t, err, events.ErrInvalidAge, "prune with zero age")
		n, err := svc.Prune(b.ctx, 24*time.Hour)
		must(t, err, "prune")
		if n != 3 {
			t.Fatalf("pruned %d, want 3", n)
		}
		list, _ = b.s.ListEvents(b.ctx, b.orgA.ID, 10)
		if len(list) != 1 || list[0].Subject != "inv-2" {
			t.Fatalf("after prune %+v", list)
		}
	})
}
