package store_test

import (
	"slices"
	"sync"
	"testing"
	"time"

	"tether/sync/directory"
	"tether/sync/store"
)

func TestOrgs(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		child, err := b.s.CreateOrg(b.ctx, directory.Org{Name: "Acme EU", ParentOrgID: b.orgA.ID, SeatLimit: 3,
			Policy: directory.Policy{directory.RoleChat: {Photo: true}}, CreatedAt: b.now})
		must(t, err, "create child org")
		got, err := b.s.GetOrg(b.ctx, child.ID)
		must(t, err, "get child org")
		if got.ParentOrgID != b.orgA.ID || got.SeatLimit != 3 || !got.Policy[directory.RoleChat].Photo ||
			len(got.Policy) != 1 || !got.CreatedAt.Equal(b.now.Truncate(time.Microsecond)) {
			t.Fatalf("got %+v", got)
		}
		if def, _ := b.s.GetOrg(b.ctx, b.orgA.ID); len(def.Policy[directory.RoleChat].Connections) != 3 {
			t.Fatalf("default policy not stored: %+v", def.Policy)
		}

		got.Name, got.SeatLimit, got.ParentOrgID = "Acme Europe", 5, ""
		must(t, b.s.UpdateOrg(b.ctx, got), "update org")
		again, err := b.s.GetOrg(b.ctx, child.ID)
		must(t, err, "get updated org")
		if again.Name != "Acme Europe" || again.SeatLimit != 5 || again.ParentOrgID != "" {
			t.Fatalf("after update got %+v", again)
		}

		_, err = b.s.GetOrg(b.ctx, store.NewID())
		wantErr(t, err, directory.ErrNotFound, "get missing org")
		_, err = b.s.CreateOrg(b.ctx, directory.Org{Name: "Orphan", ParentOrgID: store.NewID()})
		wantErr(t, err, directory.ErrNotFound, "create org with missing parent")
		_, err = b.s.CreateOrg(b.ctx, directory.Org{ID: b.orgA.ID, Name: "Again"})
		wantErr(t, err, directory.ErrDuplicate, "create org with existing id")
		_, err = b.s.CreateOrg(b.ctx, directory.Org{Name: "Negative", SeatLimit: -1})
		wantErr(t, err, directory.ErrInvalid, "create org with negative seat limit")
	})
}

func TestUsers(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		u := b.user(t, "  Ann@Example.COM ")
		if u.Email != "ann@example.com" {
			t.Fatalf("email stored as %q", u.Email)
		}
		got, err := b.s.GetUserByEmail(b.ctx, "ANN@example.com")
		must(t, err, "get by email")
		if got.ID != u.ID {
			t.Fatalf("got user %s, want %s", got.ID, u.ID)
		}
		_, err = b.s.CreateUser(b.ctx, directory.User{Email: "ann@EXAMPLE.com"})
		wantErr(t, err, directory.ErrDuplicate, "second user with the same email")
		_, err = b.s.CreateUser(b.ctx, directory.User{Email: "  "})
		wantErr(t, err, directory.ErrInvalid, "user without email")
		_, err = b.s.GetUser(b.ctx, store.NewID())
		wantErr(t, err, directory.ErrNotFound, "get missing user")

		wantErr(t, b.s.SetFavouriteOrg(b.ctx, b.orgA.ID, u.ID), directory.ErrNotFound, "favourite org without membership")
		b.member(t, b.orgA, u.Email, directory.RoleChat, directory.MembershipActive)
		must(t, b.s.SetFavouriteOrg(b.ctx, b.orgA.ID, u.ID), "set favourite org")
		got, _ = b.s.GetUser(b.ctx, u.ID)
		if got.FavouriteOrgID != b.orgA.ID {
			t.Fatalf("favourite org %q", got.FavouriteOrgID)
		}
	})
}

func TestMemberships(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		ann := b.member(t, b.orgA, "ann@example.com", directory.RoleAdmin, directory.MembershipActive)
		bob := b.member(t, b.orgA, "bob@example.com", directory.RoleChat, directory.MembershipActive)
		cat := b.member(t, b.orgA, "cat@example.com", directory.RoleMeetings, directory.MembershipPending)
		dan := b.member(t, b.orgA, "dan@example.com", directory.RoleCustomAdmin, directory.MembershipDeactivated)
		b.member(t, b.orgB, "ann@example.com", directory.RoleChat, directory.MembershipActive)

		_, err := b.s.CreateMembership(b.ctx, b.orgA.ID, directory.Membership{UserID: ann.UserID, Role: directory.RoleChat})
		wantErr(t, err, directory.ErrDuplicate, "second membership of a user in one org")
		_, err = b.s.CreateMembership(b.ctx, b.orgA.ID, directory.Membership{UserID: store.NewID(), Role: directory.RoleChat})
		wantErr(t, err, directory.ErrNotFound, "membership of a missing user")
		_, err = b.s.CreateMembership(b.ctx, b.orgA.ID, directory.Membership{UserID: ann.UserID, Role: "owner"})
		wantErr(t, err, directory.ErrInvalid, "membership with an unknown role")

		g, err := b.s.GetOrCreateGroup(b.ctx, b.orgA.ID, "West", b.now)
		must(t, err, "group")
		bob.GroupIDs = []string{g.ID}
		bob.PhotoURL = "https://img.example/bob.png"
		bob.SalesforceUserID = "005000000000001AAA"
		bob.CustomPermissions = []string{"billing"}
		must(t, b.s.UpdateMembership(b.ctx, b.orgA.ID, bob, b.now.Add(time.Hour)), "update membership")
		calendar := []directory.ActionReason{{Requirement: "calendar", AnyOf: []string{"google_calendar", "microsoft_calendar"},
			State: "missing", Actor: directory.ActorRep, Message: "connect a calendar"}}
		must(t, b.s.SetActionRequired(b.ctx, b.orgA.ID, bob.ID, calendar, b.now), "set action required")
		got, err := b.s.GetMembership(b.ctx, b.orgA.ID, bob.ID)
		must(t, err, "get membership")
		if !slices.Equal(got.GroupIDs, []string{g.ID}) || got.PhotoURL != bob.PhotoURL ||
			got.SalesforceUserID != bob.SalesforceUserID || !slices.Equal(got.CustomPermissions, []string{"billing"}) ||
			len(got.ActionRequired) != 1 || got.ActionRequired[0].Requirement != "calendar" ||
			!slices.Equal(got.ActionRequired[0].AnyOf, calendar[0].AnyOf) || !got.ActionCheckedAt.Equal(b.now.Truncate(time.Microsecond)) {
			t.Fatalf("got %+v", got)
		}
		byUser, err := b.s.GetMembershipByUser(b.ctx, b.orgA.ID, bob.UserID)
		must(t, err, "get membership by user")
		if byUser.ID != bob.ID {
			t.Fatalf("by user got %s want %s", byUser.ID, bob.ID)
		}

		counts, err := b.s.CountMemberships(b.ctx, b.orgA.ID)
		must(t, err, "count")
		fc := func(n, ar int) directory.FilterCount { return directory.FilterCount{Members: n, ActionRequired: ar} }
		// dan is a deactivated custom admin: counted in all and deactivated, not in admin.
		want := directory.MembershipCounts{All: fc(4, 1), Active: fc(2, 1), Admin: fc(1, 0), Chat: fc(1, 1),
			Meetings: fc(1, 0), Pending: fc(1, 0), Deactivated: fc(1, 0)}
		if counts != want {
			t.Fatalf("counts %+v, want %+v", counts, want)
		}

		for _, tc := range []struct {
			name string
			f    store.MembershipFilter
			want []string
		}{
			{"all", store.MembershipFilter{}, []string{ann.ID, bob.ID, cat.ID, dan.ID}},
			{"pending", store.MembershipFilter{Status: directory.MembershipPending}, []string{cat.ID}},
			{"chat", store.MembershipFilter{Role: directory.RoleChat}, []string{bob.ID}},
			{"action required", store.MembershipFilter{ActionRequired: true}, []string{bob.ID}},
			{"page", store.MembershipFilter{AfterID: ann.ID, Limit: 2}, []string{bob.ID, cat.ID}},
		} {
			ms, err := b.s.ListMemberships(b.ctx, b.orgA.ID, tc.f)
			must(t, err, "list %s", tc.name)
			var ids []string
			for _, m := range ms {
				ids = append(ids, m.ID)
			}
			if !slices.Equal(ids, tc.want) {
				t.Errorf("list %s: got %v want %v", tc.name, ids, tc.want)
			}
		}

		must(t, b.s.SetActionRequired(b.ctx, b.orgA.ID, bob.ID, nil, b.now), "clear action required")
		if c, _ := b.s.CountMemberships(b.ctx, b.orgA.ID); c.All.ActionRequired != 0 {
			t.Fatalf("action required after clearing: %d", c.All.ActionRequired)
		}
	})
}

func TestGroups(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		g1, err := b.s.GetOrCreateGroup(b.ctx, b.orgA.ID, " West ", b.now)
		must(t, err, "create group")
		g2, err := b.s.GetOrCreateGroup(b.ctx, b.orgA.ID, "West", b.now.Add(time.Hour))
		must(t, err, "get group")
		if g1.ID != g2.ID || g2.Name != "West" || !g2.CreatedAt.Equal(g1.CreatedAt) {
			t.Fatalf("get-or-create made two groups or changed it: %+v %+v", g1, g2)
		}
		gb, err := b.s.GetOrCreateGroup(b.ctx, b.orgB.ID, "West", b.now)
		must(t, err, "same name in another org")
		if gb.ID == g1.ID {
			t.Fatal("orgs share a group")
		}
		_, err = b.s.GetOrCreateGroup(b.ctx, b.orgA.ID, " ", b.now)
		wantErr(t, err, directory.ErrInvalid, "empty group name")

		// Concurrent get-or-create of one name yields one group.
		var wg sync.WaitGroup
		ids := make([]string, 8)
		for i := range ids {
			wg.Go(func() {
				g, err := b.s.GetOrCreateGroup(b.ctx, b.orgA.ID, "East", b.now)
				if err != nil {
					t.Errorf("concurrent get-or-create: %v", err)
				}
				ids[i] = g.ID
			})
		}
		wg.Wait()
		if ids[0] == "" || slices.ContainsFunc(ids, func(id string) bool { return id != ids[0] }) {
			t.Fatalf("concurrent get-or-create gave %v", ids)
		}
		gs, err := b.s.ListGroups(b.ctx, b.orgA.ID)
		must(t, err, "list groups")
		if len(gs) != 2 || gs[0].Name != "East" || gs[1].Name != "West" {
			t.Fatalf("groups %+v", gs)
		}
	})
}
