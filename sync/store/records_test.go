package store_test

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
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

// The audit log as an admin reads it (events.List over ListEventsPage): newest first, by
// kind (one, or every kind under a prefix, whose underscores are not wildcards), by
// subject, since a time, a page at a time with a cursor that holds while events are added.
func TestEventsList(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		ctx := b.ctx
		add := func(kind, subject string, ago time.Duration) {
			t.Helper()
			must(t, b.s.AppendEvent(ctx, events.Event{OrgID: b.orgA.ID, Kind: kind, Subject: subject, At: b.now.Add(-ago)}), "append %s", kind)
		}
		add("connection.connected", "c1", 5*time.Hour)
		add("connection.connect_refused", "link-1", 4*time.Hour)
		add("permissionXaudit.requested", "run-9", 4*time.Hour) // matched by "permission_audit." if _ were a wildcard
		add("permission_audit.requested", "run-1", 4*time.Hour+time.Minute)
		add("invite.sent", "inv-1", 3*time.Hour)
		add("invite.accepted", "inv-1", 2*time.Hour)
		add("connection.connected", "c2", time.Hour)
		must(t, b.s.AppendEvent(ctx, events.Event{OrgID: b.orgB.ID, Kind: "invite.sent", Subject: "inv-b", At: b.now}), "org B")

		list := func(q events.Query) []string {
			t.Helper()
			p, err := events.List(ctx, b.s, b.orgA.ID, q)
			must(t, err, "list %+v", q)
			var out []string
			for _, e := range p.Events {
				out = append(out, e.Kind+"/"+e.Subject)
			}
			return out
		}
		eq := func(got []string, want ...string) {
			t.Helper()
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("events %v, want %v", got, want)
			}
		}
		eq(list(events.Query{}), "connection.connected/c2", "invite.accepted/inv-1", "invite.sent/inv-1",
			"permissionXaudit.requested/run-9", "connection.connect_refused/link-1", "permission_audit.requested/run-1", "connection.connected/c1")
		eq(list(events.Query{Kind: "connection.connected"}), "connection.connected/c2", "connection.connected/c1")
		eq(list(events.Query{Kind: "connection."}), "connection.connected/c2", "connection.connect_refused/link-1", "connection.connected/c1")
		eq(list(events.Query{Kind: "connection.connect"})) // no trailing dot: one kind, exactly
		eq(list(events.Query{Kind: "permission_audit."}), "permission_audit.requested/run-1")
		eq(list(events.Query{Subject: "inv-1"}), "invite.accepted/inv-1", "invite.sent/inv-1")
		eq(list(events.Query{Since: b.now.Add(-150 * time.Minute)}), "connection.connected/c2", "invite.accepted/inv-1")

		// Pages of two; an event added meanwhile appears above the cursor, not in the pages.
		var got []string
		q := events.Query{Limit: 2}
		for i := 0; ; i++ {
			p, err := events.List(ctx, b.s, b.orgA.ID, q)
			must(t, err, "page %d", i)
			for _, e := range p.Events {
				got = append(got, e.Subject)
			}
			if i == 0 {
				add("invite.sent", "inv-new", 0)
			}
			if p.Next == "" {
				break
			}
			q.Cursor = p.Next
		}
		eq(got, "c2", "inv-1", "inv-1", "run-9", "link-1", "run-1", "c1")

		_, err := events.List(ctx, b.s, b.orgA.ID, events.Query{Cursor: "not-a-cursor"})
		var ee *events.Error
		if !errors.As(err, &ee) || ee.Code != events.CodeInvalidCursor {
			t.Fatalf("a bad cursor: %v", err)
		}
		if _, err := events.List(ctx, b.s, store.NewID(), events.Query{}); !errors.As(err, &ee) || ee.Code != events.CodeOrgNotFound {
			t.Fatalf("an unknown org: %v", err)
		}
	})
}

func TestReminderSendRecords(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		m := b.member(t, b.orgA, "ann@example.com", directory.RoleChat, directory.MembershipActive)
		r, err := b.s.InsertReminder(b.ctx, b.orgA.ID, reminders.Reminder{MembershipID: m.ID, Channel: reminders.ChannelEmail,
			Sequence: 1, SentAt: b.now, Kind: reminders.KindAdmin, Status: reminders.StatusAttempting, MessageID: "reminder-1@tether",
			AdminKey: "k1", Recipients: []string{"boss@example.com"}})
		must(t, err, "attempt")
		got, err := b.s.GetReminderBySequence(b.ctx, b.orgA.ID, m.ID, reminders.ChannelEmail, 1)
		must(t, err, "by sequence")
		if got.Status != reminders.StatusAttempting || got.Kind != reminders.KindAdmin || got.AdminKey != "k1" ||
			got.MessageID != "reminder-1@tether" || !slices.Equal(got.Recipients, []string{"boss@example.com"}) {
			t.Fatalf("stored %+v", got)
		}
		_, err = b.s.GetReminderBySequence(b.ctx, b.orgB.ID, m.ID, reminders.ChannelEmail, 1)
		wantErr(t, err, directory.ErrNotFound, "another org's reminder")
		must(t, b.s.SetReminderStatus(b.ctx, b.orgA.ID, r.ID, reminders.StatusSent, b.now.Add(time.Second)), "sent")
		wantErr(t, b.s.SetReminderStatus(b.ctx, b.orgB.ID, r.ID, reminders.StatusSent, b.now), directory.ErrNotFound, "another org's status")
		must(t, b.s.DeleteReminder(b.ctx, b.orgA.ID, r.ID), "delete a sent one: kept")
		if list, _ := b.s.ListReminders(b.ctx, b.orgA.ID, m.ID, 0); len(list) != 1 || list[0].Status != reminders.StatusSent {
			t.Fatalf("a sent reminder must survive DeleteReminder: %+v", list)
		}
		a2, err := b.s.InsertReminder(b.ctx, b.orgA.ID, reminders.Reminder{MembershipID: m.ID, Channel: reminders.ChannelEmail,
			Sequence: 2, Status: reminders.StatusAttempting})
		must(t, err, "attempt 2")
		must(t, b.s.DeleteReminder(b.ctx, b.orgA.ID, a2.ID), "delete an attempt")
		if list, _ := b.s.ListReminders(b.ctx, b.orgA.ID, m.ID, 0); len(list) != 1 {
			t.Fatalf("the refused attempt must be gone: %+v", list)
		}

		def, err := b.s.ReminderSettings(b.ctx, b.orgA.ID)
		must(t, err, "default settings")
		if def.Grace != reminders.DefaultGrace || def.EscalateAfter != 3 {
			t.Fatalf("defaults %+v", def)
		}
		_, err = b.s.ReminderSettings(b.ctx, store.NewID())
		wantErr(t, err, directory.ErrNotFound, "settings of a missing org")
		must(t, b.s.SetReminderSettings(b.ctx, b.orgA.ID, reminders.Settings{Grace: time.Hour, TimeZone: "Europe/Paris"}, b.now), "set")
		must(t, b.s.SetReminderSettings(b.ctx, b.orgA.ID, reminders.Settings{Grace: 30 * time.Minute, TimeZone: "Europe/Paris"}, b.now), "set again")
		s, err := b.s.ReminderSettings(b.ctx, b.orgA.ID)
		must(t, err, "settings")
		if s.Grace != 30*time.Minute || s.TimeZone != "Europe/Paris" || s.MinGap != 24*time.Hour {
			t.Fatalf("settings %+v", s)
		}

		must(t, b.s.SetMemberTimeZone(b.ctx, b.orgA.ID, m.ID, "America/New_York"), "tz")
		if tz, err := b.s.MemberTimeZone(b.ctx, b.orgA.ID, m.ID); err != nil || tz != "America/New_York" {
			t.Fatalf("tz %q %v", tz, err)
		}
		wantErr(t, b.s.SetMemberTimeZone(b.ctx, b.orgB.ID, m.ID, "UTC"), directory.ErrNotFound, "another org's member")

		must(t, b.s.BeginDigest(b.ctx, b.orgA.ID, "20260302", "d@tether", 2, b.now), "digest")
		wantErr(t, b.s.BeginDigest(b.ctx, b.orgA.ID, "20260302", "d@tether", 2, b.now), directory.ErrDuplicate, "digest twice")
		must(t, b.s.FinishDigest(b.ctx, b.orgA.ID, "20260302", reminders.StatusSent, b.now), "finish")
		if st, err := b.s.DigestStatus(b.ctx, b.orgA.ID, "20260302"); err != nil || st != reminders.StatusSent {
			t.Fatalf("digest status %q %v", st, err)
		}
		must(t, b.s.BeginDigest(b.ctx, b.orgA.ID, "20260303", "d2@tether", 1, b.now), "digest 2")
		must(t, b.s.FinishDigest(b.ctx, b.orgA.ID, "20260303", "", b.now), "refused digest")
		_, err = b.s.DigestStatus(b.ctx, b.orgA.ID, "20260303")
		wantErr(t, err, directory.ErrNotFound, "refused digest forgotten")
	})
}

// TestMemberReminders reads a page of members' reminders in one call: each member's
// messages newest first (both channels), its time zone, an empty history for a member
// never reminded, and nothing of another org's member.
func TestMemberReminders(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		ann := b.member(t, b.orgA, "ann@example.com", directory.RoleChat, directory.MembershipActive)
		bob := b.member(t, b.orgA, "bob@example.com", directory.RoleChat, directory.MembershipActive)
		cid := b.member(t, b.orgA, "cid@example.com", directory.RoleMeetings, directory.MembershipActive)
		other := b.member(t, b.orgB, "eve@example.com", directory.RoleChat, directory.MembershipActive)
		must(t, b.s.SetMemberTimeZone(b.ctx, b.orgA.ID, cid.ID, "Europe/Paris"), "time zone")
		for _, r := range []reminders.Reminder{
			{MembershipID: ann.ID, Channel: reminders.ChannelEmail, Sequence: 1, SentAt: b.now, Reasons: []string{"calendar"}},
			{MembershipID: ann.ID, Channel: reminders.ChannelSlack, Sequence: 1, SentAt: b.now.Add(time.Second)},
			{MembershipID: ann.ID, Channel: reminders.ChannelEmail, Sequence: 2, SentAt: b.now.Add(24 * time.Hour),
				Kind: reminders.KindAllSet, Status: reminders.StatusUnconfirmed, Recipients: []string{"ann@example.com"}},
			{MembershipID: cid.ID, Channel: reminders.ChannelEmail, Sequence: 1, SentAt: b.now, Kind: reminders.KindAdmin, AdminKey: "k"},
		} {
			_, err := b.s.InsertReminder(b.ctx, b.orgA.ID, r)
			must(t, err, "insert %+v", r)
		}
		_, err := b.s.InsertReminder(b.ctx, b.orgB.ID, reminders.Reminder{MembershipID: other.ID, Channel: reminders.ChannelEmail, Sequence: 1})
		must(t, err, "other org's")

		got, err := b.s.MemberReminders(b.ctx, b.orgA.ID, []string{ann.ID, bob.ID, cid.ID, other.ID})
		must(t, err, "page")
		if len(got) != 3 {
			t.Fatalf("%d members, want ann, bob and cid (not org B's): %+v", len(got), got)
		}
		a := got[ann.ID].Sent
		if len(a) != 3 || a[0].Sequence != 2 || a[0].Kind != reminders.KindAllSet || a[0].Status != reminders.StatusUnconfirmed ||
			!slices.Equal(a[0].Recipients, []string{"ann@example.com"}) || a[2].Sequence != 1 ||
			!slices.Equal(a[2].Reasons, []string{"calendar"}) || a[0].OrgID != b.orgA.ID || a[0].MembershipID != ann.ID {
			t.Fatalf("ann's messages %+v", a)
		}
		want, err := b.s.ListReminders(b.ctx, b.orgA.ID, ann.ID, 0)
		must(t, err, "list")
		for i := range want {
			if a[i].ID != want[i].ID || !a[i].SentAt.Equal(want[i].SentAt) || a[i].Channel != want[i].Channel {
				t.Fatalf("message %d: %+v, ListReminders says %+v", i, a[i], want[i])
			}
		}
		if bb, ok := got[bob.ID]; !ok || len(bb.Sent) != 0 || bb.TimeZone != "" {
			t.Fatalf("bob (never reminded) %+v %v", bb, ok)
		}
		if c := got[cid.ID]; c.TimeZone != "Europe/Paris" || len(c.Sent) != 1 || c.Sent[0].AdminKey != "k" {
			t.Fatalf("cid %+v", c)
		}
		empty, err := b.s.MemberReminders(b.ctx, b.orgA.ID, nil)
		if err != nil || len(empty) != 0 {
			t.Fatalf("no ids: %+v %v", empty, err)
		}
	})
}

// TestReminderQueued: the reminder a notify queued reaches the members page. A later
// time for the same sequence keeps the earlier (its task runs first), a new sequence
// replaces it, forgetting leaves one still to come, and another org's member is untouched.
func TestReminderQueued(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		ann := b.member(t, b.orgA, "ann@example.com", directory.RoleChat, directory.MembershipActive)
		other := b.member(t, b.orgB, "eve@example.com", directory.RoleChat, directory.MembershipActive)
		queued := func(want reminders.Queued, step string) {
			t.Helper()
			got, err := b.s.MemberReminders(b.ctx, b.orgA.ID, []string{ann.ID})
			must(t, err, "page")
			if q := got[ann.ID].Queued; q.Sequence != want.Sequence || !q.At.Equal(want.At) {
				t.Fatalf("%s: queued %+v, want %+v", step, q, want)
			}
		}
		queued(reminders.Queued{}, "never queued")
		first := reminders.Queued{Sequence: 1, At: b.now.Add(5 * time.Minute)}
		must(t, b.s.SetReminderQueued(b.ctx, b.orgA.ID, ann.ID, first, b.now), "queue 1")
		queued(first, "queued")
		must(t, b.s.SetReminderQueued(b.ctx, b.orgA.ID, ann.ID, reminders.Queued{Sequence: 1, At: first.At.Add(time.Minute)}, b.now), "later break")
		queued(first, "a later break of the same reminder")
		must(t, b.s.SetReminderQueued(b.ctx, b.orgA.ID, ann.ID, reminders.Queued{}, b.now), "forget early")
		queued(first, "forgotten before its time")
		must(t, b.s.SetReminderQueued(b.ctx, b.orgA.ID, ann.ID, reminders.Queued{}, first.At), "forget")
		queued(reminders.Queued{}, "forgotten once due")
		second := reminders.Queued{Sequence: 2, At: b.now.Add(24 * time.Hour)}
		must(t, b.s.SetReminderQueued(b.ctx, b.orgA.ID, ann.ID, first, b.now), "queue 1 again")
		must(t, b.s.SetReminderQueued(b.ctx, b.orgA.ID, ann.ID, second, b.now), "queue 2")
		queued(second, "the next sequence")
		must(t, b.s.SetReminderQueued(b.ctx, b.orgA.ID, other.ID, first, b.now), "another org's member")
		queued(second, "after another org's write")
		got, err := b.s.MemberReminders(b.ctx, b.orgB.ID, []string{other.ID})
		must(t, err, "org B")
		if q := got[other.ID].Queued; q != (reminders.Queued{}) {
			t.Fatalf("org B's member, written through org A: %+v", q)
		}
	})
}

// TestReminderQueuedMoves: a first reminder's break time is kept with its time (a later
// break of the same reminder keeps both of the earlier), and a policy's re-timing moves
// the record only from the time it still holds, keeping the break's time.
func TestReminderQueuedMoves(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		ann := b.member(t, b.orgA, "ann@example.com", directory.RoleChat, directory.MembershipActive)
		queued := func(want reminders.Queued, step string) {
			t.Helper()
			got, err := b.s.MemberReminders(b.ctx, b.orgA.ID, []string{ann.ID})
			must(t, err, "page")
			if q := got[ann.ID].Queued; q.Sequence != want.Sequence || !q.At.Equal(want.At) || !q.Noticed.Equal(want.Noticed) {
				t.Fatalf("%s: queued %+v, want %+v", step, q, want)
			}
		}
		first := reminders.Queued{Sequence: 1, At: b.now.Add(5 * time.Minute), Noticed: b.now}
		must(t, b.s.SetReminderQueued(b.ctx, b.orgA.ID, ann.ID, first, b.now), "queue 1")
		queued(first, "queued")
		must(t, b.s.SetReminderQueued(b.ctx, b.orgA.ID, ann.ID, reminders.Queued{Sequence: 1, At: first.At.Add(time.Minute), Noticed: b.now.Add(time.Minute)}, b.now), "later break")
		queued(first, "a later break")
		moved := reminders.Queued{Sequence: 1, At: b.now.Add(10 * time.Minute), Noticed: b.now}
		ok, err := b.s.MoveReminderQueued(b.ctx, b.orgA.ID, ann.ID, first, moved)
		must(t, err, "move")
		if !ok {
			t.Fatal("the move from the recorded time did not apply")
		}
		queued(moved, "moved")
		ok, err = b.s.MoveReminderQueued(b.ctx, b.orgA.ID, ann.ID, first, reminders.Queued{Sequence: 1, At: b.now.Add(time.Hour)})
		must(t, err, "stale move")
		if ok {
			t.Fatal("a move from a time no longer recorded applied")
		}
		queued(moved, "after a stale move")
	})
}

// The reconciler's page of queued reminders: active memberships with one recorded, across
// orgs in (org, id) order; a deactivated membership's and a forgotten one are left out.
func TestQueuedRemindersPages(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		at := b.now.Add(5 * time.Minute)
		var want []reminders.QueuedReminder
		for i, org := range []directory.Org{b.orgA, b.orgB} {
			for j := range 3 {
				m := b.member(t, org, fmt.Sprintf("q%d-%d@example.com", i, j), directory.RoleChat, directory.MembershipActive)
				q := reminders.Queued{Sequence: j + 1, At: at.Add(time.Duration(j) * time.Hour)}
				must(t, b.s.SetReminderQueued(b.ctx, org.ID, m.ID, q, b.now), "queue %d-%d", i, j)
				want = append(want, reminders.QueuedReminder{OrgID: org.ID, MembershipID: m.ID, Queued: q})
			}
		}
		gone := b.member(t, b.orgA, "gone@example.com", directory.RoleChat, directory.MembershipDeactivated)
		must(t, b.s.SetReminderQueued(b.ctx, b.orgA.ID, gone.ID, reminders.Queued{Sequence: 1, At: at}, b.now), "queue deactivated")
		b.member(t, b.orgA, "none@example.com", directory.RoleChat, directory.MembershipActive)
		slices.SortFunc(want, func(x, y reminders.QueuedReminder) int {
			return cmp.Or(strings.Compare(x.OrgID, y.OrgID), strings.Compare(x.MembershipID, y.MembershipID))
		})
		var got []reminders.QueuedReminder
		for after := (directory.Ref{}); ; {
			page, err := b.s.QueuedReminders(b.ctx, after, 2)
			must(t, err, "page after %+v", after)
			if len(page) > 2 {
				t.Fatalf("page of %d, limit 2", len(page))
			}
			if len(page) == 0 {
				break
			}
			got = append(got, page...)
			after = directory.Ref{OrgID: page[len(page)-1].OrgID, ID: page[len(page)-1].MembershipID}
		}
		if len(got) != len(want) {
			t.Fatalf("queued reminders: %+v\nwant %+v", got, want)
		}
		for i := range got {
			if got[i].OrgID != want[i].OrgID || got[i].MembershipID != want[i].MembershipID ||
				got[i].Sequence != want[i].Sequence || !got[i].At.Equal(want[i].At) {
				t.Fatalf("queued reminder %d: %+v, want %+v", i, got[i], want[i])
			}
		}
	})
}
