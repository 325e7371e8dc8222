package store_test

import (
	"bytes"
	"slices"
	"sync"
	"testing"
	"time"

	"tether/sync/connections"
	"tether/sync/directory"
	"tether/sync/store"
)

func TestConnections(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		m := b.member(t, b.orgA, "ann@example.com", directory.RoleChat, directory.MembershipActive)
		id := store.NewID() // known before insert, as the vault needs
		c, err := b.s.CreateConnection(b.ctx, b.orgA.ID, connections.Connection{
			ID: id, MembershipID: m.ID, Kind: connections.KindGoogleCalendar, State: connections.StateHealthy,
			AccessTokenEnc: []byte{1, 2, 3}, RefreshTokenEnc: []byte{4, 5}, ExpiresAt: b.now.Add(time.Hour),
			Scopes: []string{"calendar.readonly"}, ProviderAccountID: "ann@gmail.example", CreatedAt: b.now,
			NextRefreshAt: b.now.Add(50 * time.Minute),
		})
		must(t, err, "create")
		if c.ID != id || c.Version != 1 {
			t.Fatalf("created %+v", c)
		}
		got, err := b.s.GetConnection(b.ctx, b.orgA.ID, id)
		must(t, err, "get")
		if got.ID != id || !bytes.Equal(got.AccessTokenEnc, []byte{1, 2, 3}) || !bytes.Equal(got.RefreshTokenEnc, []byte{4, 5}) ||
			got.PendingTokenEnc != nil || !slices.Equal(got.Scopes, []string{"calendar.readonly"}) ||
			!got.ExpiresAt.Equal(c.ExpiresAt.Truncate(time.Microsecond)) || got.State != connections.StateHealthy ||
			!got.LastRefreshedAt.IsZero() || got.MembershipID != m.ID {
			t.Fatalf("got %+v", got)
		}

		_, err = b.s.CreateConnection(b.ctx, b.orgA.ID, connections.Connection{MembershipID: m.ID, Kind: connections.KindGoogleCalendar})
		wantErr(t, err, directory.ErrDuplicate, "second connection of a kind for one membership")
		_, err = b.s.CreateConnection(b.ctx, b.orgA.ID, connections.Connection{Kind: connections.KindZoom})
		wantErr(t, err, directory.ErrInvalid, "member-level kind without membership")
		_, err = b.s.CreateConnection(b.ctx, b.orgA.ID, connections.Connection{MembershipID: m.ID, Kind: connections.KindSalesforceTeam})
		wantErr(t, err, directory.ErrInvalid, "org-level kind with a membership")
		_, err = b.s.CreateConnection(b.ctx, b.orgB.ID, connections.Connection{MembershipID: m.ID, Kind: connections.KindZoom})
		wantErr(t, err, directory.ErrNotFound, "connection in org B for org A's membership")

		// Compare-and-swap on version.
		got.State = connections.StateRefreshing
		got.PendingTokenEnc = []byte{9}
		upd, err := b.s.UpdateConnection(b.ctx, b.orgA.ID, got, b.now.Add(time.Minute))
		must(t, err, "update")
		if upd.Version != 2 {
			t.Fatalf("version after update %d", upd.Version)
		}
		stale := got // still version 1
		stale.State = connections.StateHealthy
		_, err = b.s.UpdateConnection(b.ctx, b.orgA.ID, stale, b.now)
		wantErr(t, err, directory.ErrConflict, "update with a stale version")
		if cur, _ := b.s.GetConnection(b.ctx, b.orgA.ID, id); cur.State != connections.StateRefreshing || cur.Version != 2 || !bytes.Equal(cur.PendingTokenEnc, []byte{9}) {
			t.Fatalf("stale update changed the row: %+v", cur)
		}
		upd.PendingTokenEnc = nil
		upd.LastRefreshedAt = b.now.Add(2 * time.Minute)
		_, err = b.s.UpdateConnection(b.ctx, b.orgA.ID, upd, b.now.Add(2*time.Minute))
		must(t, err, "update with the current version")
		if cur, _ := b.s.GetConnection(b.ctx, b.orgA.ID, id); cur.PendingTokenEnc != nil || cur.Version != 3 || !cur.LastRefreshedAt.Equal(upd.LastRefreshedAt.Truncate(time.Microsecond)) {
			t.Fatalf("after second update: %+v", cur)
		}
		_, err = b.s.UpdateConnection(b.ctx, b.orgA.ID, connections.Connection{ID: store.NewID(), Version: 1}, b.now)
		wantErr(t, err, directory.ErrNotFound, "update a missing connection")

		// Team connection and listing.
		_, err = b.s.GetTeamConnection(b.ctx, b.orgA.ID)
		wantErr(t, err, directory.ErrNotFound, "team connection before it exists")
		team, err := b.s.EnsureConnection(b.ctx, b.orgA.ID, "", connections.KindSalesforceTeam, b.now)
		must(t, err, "ensure team")
		again, err := b.s.EnsureConnection(b.ctx, b.orgA.ID, "", connections.KindSalesforceTeam, b.now)
		must(t, err, "ensure team again")
		if team.ID != again.ID || team.State != connections.StateMissing {
			t.Fatalf("ensure made %+v then %+v", team, again)
		}
		gotTeam, err := b.s.GetTeamConnection(b.ctx, b.orgA.ID)
		must(t, err, "team")
		if gotTeam.ID != team.ID {
			t.Fatalf("team connection %s, want %s", gotTeam.ID, team.ID)
		}
		all, err := b.s.ListConnections(b.ctx, b.orgA.ID, "")
		must(t, err, "list org")
		mine, err := b.s.ListConnections(b.ctx, b.orgA.ID, m.ID)
		must(t, err, "list membership")
		if len(all) != 2 || len(mine) != 1 || mine[0].ID != id {
			t.Fatalf("list: %d for the org, %d for the membership", len(all), len(mine))
		}
		orgs, err := b.s.ListOrgsWithTeamConnection(b.ctx, "", 0)
		must(t, err, "orgs with team connection")
		if !slices.Equal(orgs, []string{b.orgA.ID}) {
			t.Fatalf("orgs with team connection %v", orgs)
		}
	})
}

func TestEnsureConnectionConcurrent(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		m := b.member(t, b.orgA, "ann@example.com", directory.RoleChat, directory.MembershipActive)
		ids := make([]string, 6)
		var wg sync.WaitGroup
		for i := range ids {
			wg.Go(func() {
				c, err := b.s.EnsureConnection(b.ctx, b.orgA.ID, m.ID, connections.KindZoom, b.now)
				if err != nil {
					t.Errorf("ensure: %v", err)
				}
				ids[i] = c.ID
			})
		}
		wg.Wait()
		for _, id := range ids {
			if id == "" || id != ids[0] {
				t.Fatalf("concurrent ensure gave %v", ids)
			}
		}
	})
}

func TestListConnectionsDue(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		var want []string
		for i, org := range []directory.Org{b.orgA, b.orgB, b.orgA, b.orgB, b.orgA} {
			m := b.member(t, org, "rep"+string(rune('a'+i))+"@example.com", directory.RoleChat, directory.MembershipActive)
			c, err := b.s.CreateConnection(b.ctx, org.ID, connections.Connection{MembershipID: m.ID, Kind: connections.KindSalesforce,
				State: connections.StateHealthy, NextRefreshAt: b.now.Add(time.Duration(i%3) * time.Minute)})
			must(t, err, "create %d", i)
			want = append(want, c.ID)
		}
		// Not due: later, unscheduled, or revoked.
		m := b.member(t, b.orgA, "later@example.com", directory.RoleChat, directory.MembershipActive)
		_, err := b.s.CreateConnection(b.ctx, b.orgA.ID, connections.Connection{MembershipID: m.ID, Kind: connections.KindZoom, NextRefreshAt: b.now.Add(time.Hour)})
		must(t, err, "later")
		_, err = b.s.CreateConnection(b.ctx, b.orgA.ID, connections.Connection{MembershipID: m.ID, Kind: connections.KindTeams})
		must(t, err, "unscheduled")
		_, err = b.s.CreateConnection(b.ctx, b.orgA.ID, connections.Connection{MembershipID: m.ID, Kind: connections.KindSalesforce,
			State: connections.StateRevoked, NextRefreshAt: b.now})
		must(t, err, "revoked")

		var got []string
		p := store.DueParams{Before: b.now.Add(2 * time.Minute), Limit: 2}
		for range 10 {
			page, err := b.s.ListConnectionsDue(b.ctx, p)
			must(t, err, "due page")
			for _, c := range page {
				got = append(got, c.ID)
			}
			if len(page) < p.Limit {
				break
			}
			last := page[len(page)-1]
			p.AfterTime, p.AfterID = last.NextRefreshAt, last.ID
		}
		slices.Sort(want)
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Fatalf("due: got %v\nwant %v", got, want)
		}
	})
}

func TestAPIUsage(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		_, err := b.s.GetAPIUsage(b.ctx, b.orgA.ID)
		wantErr(t, err, directory.ErrNotFound, "usage before any")
		must(t, b.s.RecordAPIUsage(b.ctx, b.orgA.ID, connections.APIUsage{Used: 100, Max: 15000, RecordedAt: b.now}), "record")
		must(t, b.s.RecordAPIUsage(b.ctx, b.orgA.ID, connections.APIUsage{Used: 90, Max: 15000, RecordedAt: b.now.Add(-time.Minute)}), "record older")
		must(t, b.s.RecordAPIUsage(b.ctx, b.orgB.ID, connections.APIUsage{Used: 5, Max: 100, RecordedAt: b.now}), "record other org")
		u, err := b.s.GetAPIUsage(b.ctx, b.orgA.ID)
		must(t, err, "get")
		if u.Used != 100 || u.Max != 15000 || !u.RecordedAt.Equal(b.now.Truncate(time.Microsecond)) || u.OrgID != b.orgA.ID {
			t.Fatalf("usage %+v", u)
		}
		must(t, b.s.RecordAPIUsage(b.ctx, b.orgA.ID, connections.APIUsage{Used: 120, Max: 15000, RecordedAt: b.now.Add(time.Minute)}), "record newer")
		if u, _ := b.s.GetAPIUsage(b.ctx, b.orgA.ID); u.Used != 120 {
			t.Fatalf("newer reading not kept: %+v", u)
		}
		wantErr(t, b.s.RecordAPIUsage(b.ctx, store.NewID(), connections.APIUsage{RecordedAt: b.now}), directory.ErrNotFound, "usage of a missing org")
	})
}

// Migration 00008: the health machine's fields round-trip through create and the
// compare-and-swap update, and needs_admin is a state the store accepts.
func TestConnectionHealthFields(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		m := b.member(t, b.orgA, "hal@example.com", directory.RoleChat, directory.MembershipActive)
		c, err := b.s.CreateConnection(b.ctx, b.orgA.ID, connections.Connection{MembershipID: m.ID, Kind: connections.KindMicrosoftCalendar,
			State: connections.StateNeedsAdmin, FailureClass: connections.FailNeedsAdmin, FailureSubCode: "50057",
			FailureReason: "The account is disabled; the org's admin must enable it.", FailureCause: connections.CauseNone,
			NextAttemptAt: b.now.Add(6 * time.Hour), FailingSince: b.now.Add(-time.Hour), NextRefreshAt: b.now.Add(6 * time.Hour)})
		must(t, err, "create")
		got, err := b.s.GetConnection(b.ctx, b.orgA.ID, c.ID)
		must(t, err, "get")
		if got.State != connections.StateNeedsAdmin || got.FailureClass != connections.FailNeedsAdmin || got.FailureSubCode != "50057" ||
			got.FailureReason != c.FailureReason || !got.NextAttemptAt.Equal(b.now.Add(6*time.Hour).Truncate(time.Microsecond)) ||
			!got.FailingSince.Equal(b.now.Add(-time.Hour).Truncate(time.Microsecond)) {
			t.Fatalf("created %+v", got)
		}
		got.State, got.FailureClass, got.FailureCause = connections.StateNeedsReconnect, connections.FailNeedsReconnect, connections.CauseLostDuringRefresh
		got.NextAttemptAt, got.NextRefreshAt = time.Time{}, time.Time{}
		_, err = b.s.UpdateConnection(b.ctx, b.orgA.ID, got, b.now)
		must(t, err, "update")
		after, err := b.s.GetConnection(b.ctx, b.orgA.ID, c.ID)
		must(t, err, "get after update")
		if after.FailureCause != connections.CauseLostDuringRefresh || after.State != connections.StateNeedsReconnect ||
			!after.NextAttemptAt.IsZero() || !after.NextRefreshAt.IsZero() || after.FailureSubCode != "50057" {
			t.Fatalf("after update %+v", after)
		}
	})
}

// The sweep's light read returns exactly what ListConnectionsDue does, without tokens.
func TestListDueConnections(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		var want []string
		for i := range 5 {
			m := b.member(t, b.orgA, "due"+string(rune('a'+i))+"@example.com", directory.RoleChat, directory.MembershipActive)
			c, err := b.s.CreateConnection(b.ctx, b.orgA.ID, connections.Connection{MembershipID: m.ID, Kind: connections.KindZoom,
				State: connections.StateHealthy, NextRefreshAt: b.now.Add(time.Duration(i-3) * time.Minute), LastVerifiedAt: b.now})
			must(t, err, "create %d", i)
			if i <= 3 {
				want = append(want, c.ID)
			}
		}
		var got []string
		q := connections.DueQuery{Before: b.now, Limit: 3}
		for range 5 {
			page, err := b.s.ListDueConnections(b.ctx, q)
			must(t, err, "page")
			for _, d := range page {
				if d.OrgID != b.orgA.ID || d.Kind != connections.KindZoom || d.MembershipID == "" || !d.LastVerifiedAt.Equal(b.now.Truncate(time.Microsecond)) {
					t.Fatalf("due row %+v", d)
				}
				got = append(got, d.ID)
			}
			if len(page) < q.Limit {
				break
			}
			q.AfterTime, q.AfterID = page[len(page)-1].NextRefreshAt, page[len(page)-1].ID
		}
		if !slices.Equal(got, want) { // ordered by next refresh: created in that order
			t.Fatalf("due %v, want %v", got, want)
		}
	})
}
