package store_test

import (
	"testing"
	"time"

	"tether/sync/directory"
	"tether/sync/store"
)

// The rep's Salesforce TimeZoneSidKey travels from the import's invite (one inserted
// alone, one in an import page) to the membership when the invite is accepted.
func TestInviteTimeZoneReachesTheMembership(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		inv, err := b.s.CreateInvite(b.ctx, b.orgA.ID, directory.Invite{Email: "ny@example.com", Role: directory.RoleChat,
			TokenHash: "t-ny", ExpiresAt: b.now.Add(time.Hour), Source: directory.SourceSalesforce,
			SalesforceUserID: "005000000000001AAA", TimeZone: "America/New_York"})
		must(t, err, "invite")
		if got, err := b.s.GetInvite(b.ctx, b.orgA.ID, inv.ID); err != nil || got.TimeZone != "America/New_York" {
			t.Fatalf("stored invite zone %q, %v", got.TimeZone, err)
		}
		m, err := b.s.AcceptInvite(b.ctx, "t-ny", "NY", b.now)
		must(t, err, "accept")
		if tz, err := b.s.MemberTimeZone(b.ctx, b.orgA.ID, m.ID); err != nil || tz != "America/New_York" {
			t.Fatalf("membership zone %q, %v", tz, err)
		}

		// An import page's invite, and an invite without a zone: the member keeps ''
		// (reminders then use the org's zone).
		_, err = b.s.InsertImportPage(b.ctx, b.orgA.ID, store.ImportPage{Invites: []directory.Invite{
			{Email: "paris@example.com", Role: directory.RoleChat, TokenHash: "t-paris", ExpiresAt: b.now.Add(time.Hour),
				Source: directory.SourceSalesforce, SalesforceUserID: "005000000000002AAA", TimeZone: "Europe/Paris"},
			{Email: "nozone@example.com", Role: directory.RoleChat, TokenHash: "t-none", ExpiresAt: b.now.Add(time.Hour)},
		}})
		must(t, err, "import page")
		for hash, want := range map[string]string{"t-paris": "Europe/Paris", "t-none": ""} {
			m, err := b.s.AcceptInvite(b.ctx, hash, "", b.now)
			must(t, err, "accept %s", hash)
			if tz, err := b.s.MemberTimeZone(b.ctx, b.orgA.ID, m.ID); err != nil || tz != want {
				t.Fatalf("%s: membership zone %q, %v; want %q", hash, tz, err, want)
			}
		}
	})
}
