package store_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"tether/sync/directory"
)

func TestFindGroup(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		g, err := b.s.GetOrCreateGroup(b.ctx, b.orgA.ID, "West", b.now)
		must(t, err, "create group")

		got, ok, err := b.s.FindGroup(b.ctx, b.orgA.ID, "  West ")
		must(t, err, "find group")
		if !ok || got.ID != g.ID || got.Name != "West" || got.OrgID != b.orgA.ID {
			t.Fatalf("find West (padded): %+v ok=%v, want %+v", got, ok, g)
		}
		// Another org's group of the same name is not org A's, and a missing name is ok=false.
		for _, tc := range []struct{ org, name string }{{b.orgB.ID, "West"}, {b.orgA.ID, "East"}, {b.orgA.ID, "west"}} {
			got, ok, err := b.s.FindGroup(b.ctx, tc.org, tc.name)
			must(t, err, "find %q in %s", tc.name, tc.org)
			if ok {
				t.Errorf("find %q in org %s: found %+v", tc.name, tc.org, got)
			}
		}
	})
}

func TestUnsentInvites(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		imp, err := b.s.CreateImport(b.ctx, b.orgA.ID, directory.Import{Role: directory.RoleChat, CreatedAt: b.now})
		must(t, err, "create import")
		other, err := b.s.CreateImport(b.ctx, b.orgA.ID, directory.Import{Role: directory.RoleChat, CreatedAt: b.now})
		must(t, err, "create other import")
		invite := func(id, importID, email string) directory.Invite {
			t.Helper()
			inv, err := b.s.CreateInvite(b.ctx, b.orgA.ID, directory.Invite{ID: id, Email: email, Role: directory.RoleChat,
				TokenHash: "hash-" + id, ExpiresAt: b.now.Add(time.Hour), ImportID: importID, CreatedAt: b.now})
			must(t, err, "create invite %s", id)
			return inv
		}
		var want []string
		for i := range 5 {
			id := fmt.Sprintf("inv-%02d", i)
			invite(id, imp.ID, fmt.Sprintf("p%d@example.com", i))
			want = append(want, id)
		}
		// Not listed: sent, revoked, of another import, without import.
		sent := invite("inv-05", imp.ID, "sent@example.com")
		_, err = b.s.RecordInviteDelivery(b.ctx, b.orgA.ID, directory.InviteDelivery{InviteID: sent.ID, AttemptID: "1",
			TokenHash: "sent-h1", ExpiresAt: b.now.Add(time.Hour), At: b.now})
		must(t, err, "record delivery")
		revoked := invite("inv-06", imp.ID, "revoked@example.com")
		must(t, b.s.RevokeInvite(b.ctx, b.orgA.ID, revoked.ID, b.now), "revoke")
		invite("inv-07", other.ID, "other@example.com")
		invite("inv-08", "", "plain@example.com")

		got, err := b.s.UnsentInvites(b.ctx, b.orgA.ID, imp.ID, "", 0)
		must(t, err, "list unsent")
		if !slices.Equal(got, want) {
			t.Fatalf("unsent: %v, want %v", got, want)
		}
		// Paging: after an id, at most limit, in id order.
		var paged []string
		after := ""
		for {
			page, err := b.s.UnsentInvites(b.ctx, b.orgA.ID, imp.ID, after, 2)
			must(t, err, "list unsent after %q", after)
			if len(page) > 2 {
				t.Fatalf("page of %d, limit 2", len(page))
			}
			if len(page) == 0 {
				break
			}
			paged = append(paged, page...)
			after = page[len(page)-1]
		}
		if !slices.Equal(paged, want) {
			t.Fatalf("paged: %v, want %v", paged, want)
		}
		// Org B sees none of org A's import.
		got, err = b.s.UnsentInvites(b.ctx, b.orgB.ID, imp.ID, "", 0)
		must(t, err, "list unsent from org B")
		if len(got) != 0 {
			t.Fatalf("org B listed org A's invites: %v", got)
		}
	})
}
