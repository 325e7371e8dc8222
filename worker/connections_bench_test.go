package worker_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"tether/connectors/oauth"
	"tether/connectors/sandbox"
	"tether/jobs"
	"tether/sync/connections"
	"tether/sync/directory"
	"tether/sync/store"
	"tether/sync/store/storetest"
	"tether/sync/vault"
	"tether/worker/redislock"
	"tether/worker/redistest"
)

// seedConnections fills st with total member connections of one org, due of them due at
// dueAt (spread evenly through the table) and the rest next due at laterAt, with bulk
// INSERT … SELECT statements (one per table): a million rows in seconds, where the store's
// one-row CreateConnection would take an hour. Returns the org id.
func seedConnections(tb testing.TB, st *store.Store, total, due int, dueAt, laterAt time.Time) string {
	tb.Helper()
	ctx := context.Background()
	org, err := st.CreateOrg(ctx, directory.Org{Name: "Bench", SeatLimit: total, CreatedAt: dueAt})
	if err != nil {
		tb.Fatal(err)
	}
	kinds := []connections.Kind{connections.KindSalesforce, connections.KindGoogleCalendar,
		connections.KindMicrosoftCalendar, connections.KindZoom, connections.KindTeams}
	members := (total + len(kinds) - 1) / len(kinds)
	// series(n) is a FROM item of i = 1..n; ts casts a time parameter.
	series := func(n int) string {
		return fmt.Sprintf("(WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < %d) SELECT i FROM seq) s", n)
	}
	// Ids in insertion order, as the store's UUIDv7 ids are: random ones would make the
	// seeding, not the sweep, slow.
	ts, id := "", "printf('bench-c-%08d', i)"
	if st.Backend() == "postgres" {
		series = func(n int) string { return fmt.Sprintf("generate_series(1, %d) AS s(i)", n) }
		ts, id = "::timestamptz", "'bench-c-' || lpad(i::text, 8, '0')"
	}
	kindCase := "CASE (i - 1) % 5"
	for j, k := range kinds {
		kindCase += fmt.Sprintf(" WHEN %d THEN '%s'", j, k)
	}
	kindCase += " END"
	stamp := func(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000000Z") }
	every := total / due
	stmts := []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO users (id, email, name, created_at)
SELECT 'bench-u-' || i, 'u' || i || '@bench.example', '', $1` + ts + ` FROM ` + series(members), []any{stamp(dueAt)}},
		{`INSERT INTO memberships (id, org_id, user_id, role, status, created_at, updated_at)
SELECT 'bench-m-' || i, $1, 'bench-u-' || i, 'chat', 'active', $2` + ts + `, $2` + ts + ` FROM ` + series(members), []any{org.ID, stamp(dueAt)}},
		{`INSERT INTO connections (id, org_id, membership_id, kind, state, expires_at, next_refresh_at, created_at, updated_at)
SELECT ` + id + `, $1, 'bench-m-' || ((i - 1) / 5 + 1), ` + kindCase + `, 'healthy', $3` + ts + `,
  CASE WHEN i % ` + fmt.Sprint(every) + ` = 0 THEN $2` + ts + ` ELSE $3` + ts + ` END, $2` + ts + `, $2` + ts + `
FROM ` + series(total), []any{org.ID, stamp(dueAt), stamp(laterAt)}},
	}
	for _, s := range stmts {
		if _, err := st.DB().ExecContext(ctx, s.sql, s.args...); err != nil {
			tb.Fatalf("seed %d connections on %s: %v", total, st.Backend(), err)
		}
	}
	if _, err := st.DB().ExecContext(ctx, "ANALYZE"); err != nil {
		tb.Fatal(err)
	}
	return org.ID
}

// BenchmarkConnectionsSweep: the connections:sweep over 100,000 connections of which
// 10,000 are due, and over 1,000,000 with the same 10,000 due, alternating, rounds sweeps
// each in one run (so a busy moment hits both sides alike). A sweep is the real one
// (connections.Upkeep.Sweep through the store's due index, queueing each due connection's
// task in Redis with jobs.ConnectionQueue); the queued tasks are deleted before each, so
// every sweep queues all 10,000. The provider is the sandbox: it must see no call at all.
//
//	go test -run xxx -bench 'BenchmarkConnectionsSweep/postgres' -benchtime 1x ./worker
func BenchmarkConnectionsSweep(b *testing.B) {
	const (
		due    = 10_000
		rounds = 9
	)
	for _, backend := range []string{"postgres", "sqlite"} {
		b.Run(backend, func(b *testing.B) {
			open := storetest.Postgres
			if backend == "sqlite" {
				open = storetest.SQLite
			}
			opt, rdb := redistest.Client(b, 9)
			sb := sandbox.New(sandbox.Options{})
			srv := httptest.NewServer(sb)
			b.Cleanup(func() { sb.Close(); srv.Close() })
			keys, _, err := vault.GenerateKeyring("bench")
			if err != nil {
				b.Fatal(err)
			}
			var ps []oauth.Provider
			for _, p := range []oauth.Provider{oauth.Salesforce(srv.URL + "/salesforce"), oauth.Google(srv.URL + "/google"),
				oauth.Microsoft(srv.URL + "/microsoft/common"), oauth.Zoom(srv.URL + "/zoom")} {
				p.ClientID, p.ClientSecret = "bench", "bench"
				ps = append(ps, p)
			}
			oc, err := oauth.New(oauth.Config{Providers: ps})
			if err != nil {
				b.Fatal(err)
			}
			client := asynq.NewClient(opt)
			b.Cleanup(func() { _ = client.Close() })
			inspector := asynq.NewInspector(opt)
			b.Cleanup(func() { _ = inspector.Close() })

			now := time.Now().UTC().Truncate(time.Second)
			type table struct {
				name  string
				total int
				up    *connections.Upkeep
				took  []float64 // seconds
			}
			var tables []*table
			for _, total := range []int{100_000, 1_000_000} {
				st := open(b)
				t0 := time.Now()
				seedConnections(b, st, total, due, now.Add(-time.Hour), now.Add(24*time.Hour))
				b.Logf("%s: seeded %d connections (%d due) in %s", backend, total, due, time.Since(t0).Round(time.Millisecond))
				tokens, err := connections.NewTokens(connections.TokensParams{Store: st, Keys: keys,
					Refresher: oauth.ConnectionRefresher{Client: oc, Providers: map[connections.Kind]string{}},
					Locker:    redislock.New(rdb, "bench:lock:")})
				if err != nil {
					b.Fatal(err)
				}
				up, err := connections.NewUpkeep(connections.UpkeepParams{Tokens: tokens, Due: st, Scheduler: jobs.ConnectionQueue{Client: client}})
				if err != nil {
					b.Fatal(err)
				}
				tables = append(tables, &table{name: fmt.Sprintf("%dk", total/1000), total: total, up: up})
			}
			before := sb.Counters()
			b.ResetTimer()
			for range b.N {
				for range rounds {
					for _, tb := range tables {
						// The previous sweep's tasks go, so this one queues all again.
						qs, err := inspector.Queues()
						if err != nil {
							b.Fatal(err)
						}
						if slices.Contains(qs, jobs.QueueConnections) {
							if _, err := inspector.DeleteAllPendingTasks(jobs.QueueConnections); err != nil {
								b.Fatal(err)
							}
						}
						t0 := time.Now()
						res, err := tb.up.Sweep(context.Background(), now)
						took := time.Since(t0)
						if err != nil {
							b.Fatal(err)
						}
						q, err := inspector.GetQueueInfo(jobs.QueueConnections)
						if err != nil {
							b.Fatal(err)
						}
						if res.Due != due || res.Refreshes+res.Verifies != due || q.Size != due {
							b.Fatalf("sweep of %s: %d due, %d queued by the sweep, %d in Redis; want %d each", tb.name, res.Due, res.Refreshes+res.Verifies, q.Size, due)
						}
						tb.took = append(tb.took, took.Seconds())
					}
				}
			}
			b.StopTimer()
			after := sb.Counters()
			var calls int64
			for k, e := range after.Endpoints {
				calls += e.Calls - before.Endpoints[k].Calls
			}
			if calls != 0 {
				b.Fatalf("the sweeps made %d provider calls, want 0", calls)
			}
			small, big := median(tables[0].took), median(tables[1].took)
			b.ReportMetric(small, "s/sweep-100k")
			b.ReportMetric(big, "s/sweep-1M")
			b.ReportMetric(big/small, "ratio-1M/100k")
			b.ReportMetric(float64(calls), "provider-calls")
			b.Logf("%s: median of %d sweeps: 100k %.3f s, 1M %.3f s, ratio %.2f; provider calls %d", backend, rounds, small, big, big/small, calls)
			for _, tb := range tables {
				b.Logf("%s, %s connections, each sweep (s): %.2f", backend, tb.name, tb.took)
			}
		})
	}
}
