package store_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"tether/sync/directory"
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
