package store_test

import (
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"tether/sync/connections"
	"tether/sync/directory"
	"tether/sync/events"
	"tether/sync/permissions"
)

// A NUL byte (PostgreSQL refuses it, SQLite would keep it) or a string past its limit is
// ErrInvalid on both backends, and nothing is written; a string at the limit is stored.
func TestStoredStringsAreChecked(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		long := func(n int) string { return strings.Repeat("é", n) } // characters, not bytes
		invalid := func(what string, err error) {
			t.Helper()
			if !errors.Is(err, directory.ErrInvalid) {
				t.Errorf("%s: %v, want ErrInvalid", what, err)
			}
		}
		_, err := b.s.GetOrCreateGroup(b.ctx, b.orgA.ID, "West\x00Coast", b.now)
		invalid("group name with NUL", err)
		_, err = b.s.GetOrCreateGroup(b.ctx, b.orgA.ID, long(directory.MaxGroupName+1), b.now)
		invalid("group name too long", err)
		if _, err := b.s.GetOrCreateGroup(b.ctx, b.orgA.ID, long(directory.MaxGroupName), b.now); err != nil {
			t.Errorf("group name at the limit: %v", err)
		}
		if gs, err := b.s.ListGroups(b.ctx, b.orgA.ID); err != nil || len(gs) != 1 {
			t.Errorf("groups after refusals: %d, %v; want only the one at the limit", len(gs), err)
		}
		_, err = b.s.CreateOrg(b.ctx, directory.Org{Name: "Acme\x00"})
		invalid("org name with NUL", err)
		_, err = b.s.CreateOrg(b.ctx, directory.Org{Name: long(directory.MaxOrgName + 1)})
		invalid("org name too long", err)
		o, err := b.s.GetOrg(b.ctx, b.orgA.ID)
		must(t, err, "get org")
		o.Name = "Renamed\x00"
		invalid("org rename with NUL", b.s.UpdateOrg(b.ctx, o))
		_, err = b.s.CreateUser(b.ctx, directory.User{Email: "a\x00@acme.example"})
		invalid("user email with NUL", err)
		_, err = b.s.CreateUser(b.ctx, directory.User{Email: "ann@acme.example", Name: long(directory.MaxPersonName + 1)})
		invalid("user name too long", err)
		_, err = b.s.CreateInvite(b.ctx, b.orgA.ID, directory.Invite{Email: "x\x00@acme.example", Role: directory.RoleChat,
			TokenHash: "h-nul", ExpiresAt: b.now.Add(time.Hour)})
		invalid("invite email with NUL", err)
		_, err = b.s.CreateInvite(b.ctx, b.orgA.ID, directory.Invite{Email: long(directory.MaxEmail) + "@acme.example", Role: directory.RoleChat,
			TokenHash: "h-long", ExpiresAt: b.now.Add(time.Hour)})
		invalid("invite email too long", err)
	})
}

// Selection entries a person typed are refused like names; provider text on connections,
// events and imports is clipped to valid UTF-8 without control characters, and kept.
func TestProviderTextIsClippedAndSelectionChecked(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		for _, sel := range []directory.ImportSelection{
			{ProfileNames: []string{"Sales\x00"}},
			{ProfileNames: []string{strings.Repeat("p", directory.MaxSelectedProfileName+1)}},
			{ProfileIDs: []string{"00e" + strings.Repeat("0", directory.MaxSalesforceID)}},
			{UserIDs: []string{"005\x00"}},
		} {
			_, err := b.s.CreateImport(b.ctx, b.orgA.ID, directory.Import{Role: directory.RoleChat, Selection: sel})
			if !errors.Is(err, directory.ErrInvalid) {
				t.Errorf("selection %+v: %v, want ErrInvalid", sel, err)
			}
		}
		if is, err := b.s.ListImports(b.ctx, b.orgA.ID, 10); err != nil || len(is) != 0 {
			t.Errorf("imports after refusals: %d, %v", len(is), err)
		}

		bad := "bad\x00\xff" + strings.Repeat("é", directory.MaxProviderText)
		clean := func(what, s string, max int) {
			t.Helper()
			if err := directory.CheckText(what, s, max); err != nil || !strings.HasPrefix(s, "bad \uFFFD") {
				t.Errorf("%s stored as %.20q (%d chars): %v", what, s, utf8.RuneCountInString(s), err)
			}
		}
		m := b.member(t, b.orgA, "ann@example.com", directory.RoleChat, directory.MembershipActive)
		c, err := b.s.CreateConnection(b.ctx, b.orgA.ID, connections.Connection{MembershipID: m.ID, Kind: connections.KindZoom,
			ProviderAccountID: bad, InstanceURL: bad, LastErrorCode: bad, LastErrorDescription: bad})
		must(t, err, "create connection with provider text")
		c.ProviderOrgID, c.LastErrorDescription = bad, "again\x00"+bad
		_, err = b.s.UpdateConnection(b.ctx, b.orgA.ID, c, b.now)
		must(t, err, "update connection with provider text")
		got, err := b.s.GetConnection(b.ctx, b.orgA.ID, c.ID)
		must(t, err, "get connection")
		clean("account id", got.ProviderAccountID, directory.MaxProviderID)
		clean("org id", got.ProviderOrgID, directory.MaxProviderID)
		clean("instance url", got.InstanceURL, directory.MaxProviderURL)
		clean("error code", got.LastErrorCode, directory.MaxProviderCode)
		if d := got.LastErrorDescription; directory.CheckText("description", d, directory.MaxProviderText) != nil || !strings.HasPrefix(d, "again bad") {
			t.Errorf("error description stored as %.20q", d)
		}

		must(t, b.s.AppendEvent(b.ctx, events.Event{OrgID: b.orgA.ID, Kind: "test.clip", Subject: bad,
			Detail: map[string]any{"error": bad}}), "append event with provider text")
		evs, err := b.s.ListEvents(b.ctx, b.orgA.ID, 10)
		must(t, err, "list events")
		if len(evs) != 1 {
			t.Fatalf("events: %d, want 1", len(evs))
		}
		clean("event subject", evs[0].Subject, directory.MaxProviderText)
		d, _ := evs[0].Detail["error"].(string)
		clean("event detail", d, directory.MaxProviderText)

		imp, err := b.s.CreateImport(b.ctx, b.orgA.ID, directory.Import{Role: directory.RoleChat, Errors: []string{bad},
			Refused: []directory.RefusedRow{{Email: bad, Name: bad, Reason: "skipped_invalid_email"}}})
		must(t, err, "create import with provider error text")
		imp.PausedReason = bad
		must(t, b.s.UpdateImport(b.ctx, b.orgA.ID, imp, b.now), "update import")
		gi, err := b.s.GetImport(b.ctx, b.orgA.ID, imp.ID)
		must(t, err, "get import")
		if len(gi.Errors) != 1 {
			t.Fatalf("import errors: %d, want 1", len(gi.Errors))
		}
		clean("import error", gi.Errors[0], directory.MaxProviderText)
		clean("pause reason", gi.PausedReason, directory.MaxProviderText)
		if len(gi.Refused) != 1 {
			t.Fatalf("refused rows: %d, want 1", len(gi.Refused))
		}
		clean("refused row email", gi.Refused[0].Email, directory.MaxProviderID)
		clean("refused row name", gi.Refused[0].Name, directory.MaxProviderID)

		_, err = b.s.SavePermissionReport(b.ctx, b.orgA.ID, permissions.Report{Checks: []permissions.Check{{Name: "api_enabled", Evidence: bad}}})
		must(t, err, "save report with provider evidence")
		rep, err := b.s.LatestPermissionReport(b.ctx, b.orgA.ID)
		must(t, err, "latest report")
		if len(rep.Checks) != 1 {
			t.Fatalf("report checks: %d, want 1", len(rep.Checks))
		}
		clean("check evidence", rep.Checks[0].Evidence, directory.MaxProviderText)

		inv := b.invite(t, b.orgA, "joe@example.com")
		_, err = b.s.AcceptInvite(b.ctx, inv.TokenHash, "Joe\x00", b.now)
		if !errors.Is(err, directory.ErrInvalid) {
			t.Errorf("accept with NUL in name: %v, want ErrInvalid", err)
		}
	})
}
