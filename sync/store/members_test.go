package store_test

import (
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"tether/sync/connections"
	"tether/sync/directory"
	"tether/sync/store"
)

// TestMembersCountsMatchListing: for every filter, with and without action_required, the
// one-query counts equal what paging through the list returns; a second org's members
// never count.
func TestMembersCountsMatchListing(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		roles := []directory.Role{directory.RoleAdmin, directory.RoleCustomAdmin, directory.RoleChat, directory.RoleMeetings}
		statuses := []directory.MembershipStatus{directory.MembershipActive, directory.MembershipPending, directory.MembershipDeactivated}
		reason := []directory.ActionReason{{Requirement: "photo", State: "missing", Actor: directory.ActorRep, Message: "add a photo"}}
		recommended := []directory.ActionReason{{Requirement: "conferencing", State: "missing", Actor: directory.ActorRep, Message: "x", Recommended: true}}
		n := 0
		for _, r := range roles {
			for _, st := range statuses {
				for i := range 3 {
					m := b.member(t, b.orgA, fmt.Sprintf("%s-%s-%d@example.com", r, st, i), r, st)
					switch {
					case st == directory.MembershipActive && i == 0:
						must(t, b.s.SetActionRequired(b.ctx, b.orgA.ID, m.ID, reason, b.now), "reason")
					case st == directory.MembershipActive && i == 1:
						must(t, b.s.SetActionRequired(b.ctx, b.orgA.ID, m.ID, recommended, b.now), "recommended")
					}
					n++
				}
			}
		}
		other := b.member(t, b.orgB, "other@example.com", directory.RoleChat, directory.MembershipActive)
		must(t, b.s.SetActionRequired(b.ctx, b.orgB.ID, other.ID, reason, b.now), "reason in B")

		counts, err := b.s.CountMemberships(b.ctx, b.orgA.ID)
		must(t, err, "count")
		if counts.All.Members != n {
			t.Fatalf("all = %d, want %d", counts.All.Members, n)
		}
		for _, f := range directory.MemberFilters() {
			for _, ar := range []bool{false, true} {
				var ids []string
				for page := (store.MembershipFilter{Filter: f, ActionRequired: ar, Limit: 5}); ; {
					got, err := b.s.ListMembers(b.ctx, b.orgA.ID, page)
					must(t, err, "list %s", f)
					for _, m := range got {
						if m.Email == "" || m.Membership.OrgID != b.orgA.ID {
							t.Fatalf("member %+v", m)
						}
						if ar && !m.Membership.NeedsAction() {
							t.Fatalf("%s: %s listed as action required with %+v", f, m.Email, m.Membership.ActionRequired)
						}
						ids = append(ids, m.Membership.ID)
					}
					if len(got) < page.Limit {
						break
					}
					page.AfterID = got[len(got)-1].Membership.ID
				}
				want := counts.Of(f).Members
				if ar {
					want = counts.Of(f).ActionRequired
				}
				if len(ids) != want || !slices.IsSorted(ids) {
					t.Errorf("filter %s action_required=%t: listed %d, counted %d", f, ar, len(ids), want)
				}
			}
		}
		// 4 roles x 1 active member with a counted reason.
		want := map[directory.MemberFilter]directory.FilterCount{
			directory.FilterAll: {Members: 36, ActionRequired: 4}, directory.FilterActive: {Members: 12, ActionRequired: 4},
			directory.FilterAdmin: {Members: 12, ActionRequired: 2}, directory.FilterChat: {Members: 6, ActionRequired: 1},
			directory.FilterMeetings: {Members: 6, ActionRequired: 1}, directory.FilterPending: {Members: 12},
			directory.FilterDeactivated: {Members: 12},
		}
		for f, w := range want {
			if counts.Of(f) != w {
				t.Errorf("%s: %+v, want %+v", f, counts.Of(f), w)
			}
		}
		_, err = b.s.ListMembers(b.ctx, b.orgA.ID, store.MembershipFilter{Filter: "everyone"})
		wantErr(t, err, directory.ErrInvalid, "unknown filter")
	})
}

func TestRecomputeAndDeactivateMembership(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		m := b.member(t, b.orgA, "rep@example.com", directory.RoleChat, directory.MembershipActive)
		mB := b.member(t, b.orgB, "rep@example.com", directory.RoleChat, directory.MembershipActive)
		c, err := b.s.CreateConnection(b.ctx, b.orgA.ID, connections.Connection{MembershipID: m.ID, Kind: connections.KindZoom,
			State: connections.StateHealthy, CreatedAt: b.now})
		must(t, err, "connection")
		_, err = b.s.CreateConnection(b.ctx, b.orgB.ID, connections.Connection{MembershipID: mB.ID, Kind: connections.KindZoom, CreatedAt: b.now})
		must(t, err, "connection in B")

		got, err := b.s.ListMemberConnections(b.ctx, b.orgA.ID, []string{m.ID, mB.ID})
		must(t, err, "member connections")
		if len(got) != 1 || got[0].ID != c.ID {
			t.Fatalf("member connections %+v", got)
		}

		calls := 0
		compute := func(org directory.Org, mm directory.Membership, conns []connections.Connection) []directory.ActionReason {
			calls++
			if org.ID != b.orgA.ID || mm.ID != m.ID || len(conns) != 1 || len(org.Policy) == 0 {
				t.Errorf("compute got org %s member %s %d connections", org.ID, mm.ID, len(conns))
			}
			return []directory.ActionReason{{Requirement: "photo", State: "missing", Actor: directory.ActorAdmin, Message: "x"}}
		}
		out, err := b.s.RecomputeActionRequired(b.ctx, b.orgA.ID, m.ID, b.now, compute)
		must(t, err, "recompute")
		if !out.NeedsAction() || out.ActionCheckedAt.IsZero() {
			t.Fatalf("recomputed %+v", out)
		}
		stored, _ := b.s.GetMembership(b.ctx, b.orgA.ID, m.ID)
		if len(stored.ActionRequired) != 1 || !stored.ActionCheckedAt.Equal(b.now.Truncate(time.Microsecond)) {
			t.Fatalf("stored %+v", stored)
		}
		// Unchanged reasons are not written again.
		_, err = b.s.RecomputeActionRequired(b.ctx, b.orgA.ID, m.ID, b.now.Add(time.Hour), compute)
		must(t, err, "recompute again")
		if again, _ := b.s.GetMembership(b.ctx, b.orgA.ID, m.ID); !again.ActionCheckedAt.Equal(stored.ActionCheckedAt) || calls != 2 {
			t.Fatalf("second recompute wrote %v (calls %d)", again.ActionCheckedAt, calls)
		}
		_, err = b.s.RecomputeActionRequired(b.ctx, b.orgA.ID, mB.ID, b.now, compute)
		wantErr(t, err, directory.ErrNotFound, "recompute B's member through A")

		seats, _ := b.s.CountSeats(b.ctx, b.orgA.ID, b.now)
		changed, err := b.s.DeactivateMembership(b.ctx, b.orgA.ID, m.ID, b.now)
		must(t, err, "deactivate")
		after, _ := b.s.CountSeats(b.ctx, b.orgA.ID, b.now)
		if !changed || after.Active != seats.Active-1 {
			t.Fatalf("deactivate changed %t, seats %d -> %d", changed, seats.Active, after.Active)
		}
		d, _ := b.s.GetMembership(b.ctx, b.orgA.ID, m.ID)
		if d.Status != directory.MembershipDeactivated || d.DeactivatedAt.IsZero() || len(d.ActionRequired) != 0 {
			t.Fatalf("deactivated %+v", d)
		}
		if changed, err := b.s.DeactivateMembership(b.ctx, b.orgA.ID, m.ID, b.now.Add(time.Hour)); err != nil || changed {
			t.Fatalf("second deactivate: %t %v", changed, err)
		}
		_, err = b.s.DeactivateMembership(b.ctx, b.orgA.ID, mB.ID, b.now)
		wantErr(t, err, directory.ErrNotFound, "deactivate B's member through A")
	})
}

func TestChangeOrgPolicy(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		_, rp, err := directory.ParseRolePolicy("chat=zoom,~calendar")
		must(t, err, "parse")
		o, err := b.s.ChangeOrg(b.ctx, b.orgA.ID, directory.OrgChange{Policy: directory.Policy{directory.RoleChat: rp}}, b.now)
		must(t, err, "change policy")
		got, _ := b.s.GetOrg(b.ctx, b.orgA.ID)
		if got.Policy.For(directory.RoleChat).String() != "zoom,~calendar" || o.Policy.For(directory.RoleChat).String() != "zoom,~calendar" ||
			got.Policy.For(directory.RoleMeetings).String() != directory.DefaultPolicy()[directory.RoleMeetings].String() {
			t.Fatalf("policy %+v", got.Policy)
		}
		_, err = b.s.ChangeOrg(b.ctx, b.orgA.ID, directory.OrgChange{Policy: directory.Policy{"owner": rp}}, b.now)
		wantErr(t, err, directory.ErrInvalid, "policy for an unknown role")
	})
}

// MemberEmails maps the org's membership ids to emails and leaves out an id of another
// org or none at all.
func TestMemberEmails(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		ann := b.member(t, b.orgA, "ann@example.com", directory.RoleChat, directory.MembershipActive)
		bob := b.member(t, b.orgA, "bob@example.com", directory.RoleAdmin, directory.MembershipDeactivated)
		other := b.member(t, b.orgB, "cat@example.com", directory.RoleChat, directory.MembershipActive)
		got, err := b.s.MemberEmails(b.ctx, b.orgA.ID, []string{ann.ID, bob.ID, other.ID, "no-such-id"})
		must(t, err, "member emails")
		if want := map[string]string{ann.ID: "ann@example.com", bob.ID: "bob@example.com"}; !maps.Equal(got, want) {
			t.Errorf("emails %v, want %v", got, want)
		}
		if got, err := b.s.MemberEmails(b.ctx, b.orgA.ID, nil); err != nil || len(got) != 0 {
			t.Errorf("no ids: %v %v", got, err)
		}
	})
}

// A member's own time zone is read back with the membership by every read (one, by user,
// listed with or without the user), written by CreateMembership and SetMemberTimeZone,
// and left alone by UpdateMembership, which writes the role and photo.
func TestMembershipTimeZone(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		ann := b.member(t, b.orgA, "ann@example.com", directory.RoleChat, directory.MembershipActive)
		if ann.TimeZone != "" {
			t.Fatalf("a new member's zone %q, want none", ann.TimeZone)
		}
		u := b.user(t, "bob@example.com")
		bob, err := b.s.CreateMembership(b.ctx, b.orgA.ID, directory.Membership{UserID: u.ID, Role: directory.RoleChat, TimeZone: "Asia/Tokyo", CreatedAt: b.now})
		must(t, err, "create bob")
		must(t, b.s.SetMemberTimeZone(b.ctx, b.orgA.ID, ann.ID, "Europe/Paris"), "set ann's zone")
		ann.Role = directory.RoleMeetings
		must(t, b.s.UpdateMembership(b.ctx, b.orgA.ID, ann, b.now), "update ann") // ann.TimeZone is "" here
		want := map[string]string{ann.ID: "Europe/Paris", bob.ID: "Asia/Tokyo"}
		for id, tz := range want {
			m, err := b.s.GetMembership(b.ctx, b.orgA.ID, id)
			must(t, err, "get %s", id)
			if m.TimeZone != tz {
				t.Errorf("GetMembership %s: zone %q, want %q", id, m.TimeZone, tz)
			}
			m, err = b.s.GetMembershipByUser(b.ctx, b.orgA.ID, m.UserID)
			must(t, err, "get by user %s", id)
			if m.TimeZone != tz {
				t.Errorf("GetMembershipByUser %s: zone %q, want %q", id, m.TimeZone, tz)
			}
		}
		ms, err := b.s.ListMemberships(b.ctx, b.orgA.ID, directory.MembershipFilter{})
		must(t, err, "list memberships")
		mbs, err := b.s.ListMembers(b.ctx, b.orgA.ID, directory.MembershipFilter{})
		must(t, err, "list members")
		if len(ms) != 2 || len(mbs) != 2 {
			t.Fatalf("%d memberships, %d members, want 2", len(ms), len(mbs))
		}
		for i := range ms {
			if ms[i].TimeZone != want[ms[i].ID] || mbs[i].Membership.TimeZone != want[mbs[i].Membership.ID] {
				t.Errorf("listed zones %q and %q, want %q", ms[i].TimeZone, mbs[i].Membership.TimeZone, want[ms[i].ID])
			}
		}
	})
}
