package store_test

import (
	"cmp"
	"fmt"
	"slices"
	"testing"
	"time"

	"tether/sync/connections"
	"tether/sync/directory"
)

func TestCountConnectionsByState(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		got, err := b.s.CountConnectionsByState(b.ctx)
		must(t, err, "count with no connections")
		if len(got) != 0 {
			t.Fatalf("counts with no connections: %+v", got)
		}
		// Several members per org, each with some kinds in some states; the counts are
		// system-wide, so both orgs add up.
		made := map[connections.StateCount]int{}
		kinds := []connections.Kind{connections.KindSalesforce, connections.KindGoogleCalendar, connections.KindZoom}
		states := []connections.State{connections.StateHealthy, connections.StateNeedsReconnect, connections.StateDegraded, connections.StateError}
		for i := range 7 {
			org := []directory.Org{b.orgA, b.orgB}[i%2]
			m := b.member(t, org, fmt.Sprintf("rep%d@example.com", i), directory.RoleChat, directory.MembershipActive)
			for j, k := range kinds[:1+i%len(kinds)] {
				s := states[(i+j)%len(states)]
				_, err := b.s.CreateConnection(b.ctx, org.ID, connections.Connection{MembershipID: m.ID, Kind: k, State: s})
				must(t, err, "create %s for member %d", k, i)
				made[connections.StateCount{Kind: k, State: s}]++
			}
		}
		_, err = b.s.EnsureConnection(b.ctx, b.orgA.ID, "", connections.KindSalesforceTeam, b.now)
		must(t, err, "team connection")
		made[connections.StateCount{Kind: connections.KindSalesforceTeam, State: connections.StateMissing}]++

		got, err = b.s.CountConnectionsByState(b.ctx)
		must(t, err, "count")
		var want []connections.StateCount
		for k, n := range made {
			k.Count = n
			want = append(want, k)
		}
		slices.SortFunc(want, func(x, y connections.StateCount) int {
			return cmp.Or(cmp.Compare(x.Kind, y.Kind), cmp.Compare(x.State, y.State))
		})
		if !slices.Equal(got, want) {
			t.Fatalf("counts:\n got %+v\nwant %+v", got, want)
		}
	})
}

func TestOldestOverdueConnection(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		_, ok, err := b.s.OldestOverdueConnection(b.ctx, b.now)
		must(t, err, "oldest overdue with no connections")
		if ok {
			t.Fatal("an empty store reports an overdue connection")
		}
		m := b.member(t, b.orgA, "ann@example.com", directory.RoleChat, directory.MembershipActive)
		n := b.member(t, b.orgB, "bob@example.com", directory.RoleChat, directory.MembershipActive)
		add := func(org directory.Org, member directory.Membership, k connections.Kind, s connections.State, next time.Time) {
			t.Helper()
			_, err := b.s.CreateConnection(b.ctx, org.ID, connections.Connection{MembershipID: member.ID, Kind: k, State: s, NextRefreshAt: next})
			must(t, err, "create %s", k)
		}
		// Not overdue: later, unscheduled, or revoked (however old).
		add(b.orgA, m, connections.KindZoom, connections.StateHealthy, b.now.Add(time.Minute))
		add(b.orgA, m, connections.KindTeams, connections.StateHealthy, time.Time{})
		add(b.orgA, m, connections.KindSalesforce, connections.StateRevoked, b.now.Add(-48*time.Hour))
		_, ok, err = b.s.OldestOverdueConnection(b.ctx, b.now)
		must(t, err, "oldest overdue with none due")
		if ok {
			t.Fatal("a later, an unscheduled or a revoked connection counted as overdue")
		}

		oldest := b.now.Add(-90 * time.Minute)
		add(b.orgB, n, connections.KindGoogleCalendar, connections.StateError, oldest)
		add(b.orgA, m, connections.KindGoogleCalendar, connections.StateHealthy, b.now.Add(-time.Minute))
		got, ok, err := b.s.OldestOverdueConnection(b.ctx, b.now)
		must(t, err, "oldest overdue")
		if !ok || !got.Equal(oldest.Truncate(time.Microsecond)) {
			t.Fatalf("oldest overdue = %v, %v; want %v", got, ok, oldest)
		}
		// It is the first connection a sweep at the same time reads.
		due, err := b.s.ListDueConnections(b.ctx, connections.DueQuery{Before: b.now, Limit: 1})
		must(t, err, "due")
		if len(due) != 1 || !due[0].NextRefreshAt.Equal(got) {
			t.Fatalf("the sweep's first due connection %+v is not the oldest overdue %v", due, got)
		}
		// Before the oldest is due, nothing is overdue.
		if _, ok, _ := b.s.OldestOverdueConnection(b.ctx, oldest.Add(-time.Second)); ok {
			t.Fatal("overdue before its next refresh time")
		}
	})
}
