package worker_test

import (
	"context"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"tether/connectors/oauth"
	"tether/connectors/oauth/oauthtest"
	"tether/connectors/sandbox"
	"tether/connectors/sandbox/sandboxtest"
	"tether/connectors/sandbox/sfdc"
	"tether/jobs"
	"tether/sync/connections"
	"tether/sync/directory"
	"tether/sync/store"
	"tether/sync/store/storetest"
	"tether/sync/vault"
	"tether/worker"
	"tether/worker/redislock"
	"tether/worker/redisstash"
	"tether/worker/redistest"
)

// TestConcurrentRefreshTasksThroughLiveWorkers: 20 connections:refresh tasks for one due
// connection (distinct TaskIDs, as a schedule and several sweeps make) picked up at once by
// three live workers, each built as `tether worker` builds one (its own Tokens, Upkeep,
// Redis lock and stash over the shared Redis and store, worker.Register, Run) with
// concurrency 10, on PostgreSQL and SQLite: the sandbox's counters show exactly one
// provider refresh, no dead-token replay, and the stored refresh token is the one the
// sandbox considers current, for each provider. Salesforce (rotation on) and Zoom kill the
// old refresh token at once, so a second refresh would also show as a replay; Google's and
// Microsoft's old tokens keep working, so there the sandbox's refresh count alone tells.
func TestConcurrentRefreshTasksThroughLiveWorkers(t *testing.T) {
	const (
		tasks   = 20
		workers = 3
	)
	for _, pc := range []struct {
		p       sandbox.Provider
		kind    connections.Kind
		rotates bool
	}{
		{sandbox.Salesforce, connections.KindSalesforce, true},
		{sandbox.Google, connections.KindGoogleCalendar, false},
		{sandbox.Microsoft, connections.KindMicrosoftCalendar, true},
		{sandbox.Zoom, connections.KindZoom, true},
	} {
		p := pc.p
		t.Run(string(p), func(t *testing.T) {
			storetest.Each(t, func(t *testing.T, st *store.Store) {
				ctx := t.Context()
				sb, base := sandboxtest.Serve(t, sandbox.Options{Apps: []sandbox.App{{Provider: sandbox.Salesforce, ClientID: sandbox.DefaultSalesforceClientID,
					ClientSecret: sandbox.DefaultSalesforceClientSecret, RotateRefreshTokens: true, DefaultScopes: []string{"api", "refresh_token", "id"}}}})
				if err := sb.LoadScenario(sandbox.Scenario{Salesforce: &sfdc.Scenario{Orgs: []sfdc.OrgSpec{sfdc.GenerateOrg(3, 1)}}}); err != nil {
					t.Fatal(err)
				}
				opt, rdb := redistest.Client(t, 13)
				keys, _, err := vault.GenerateKeyring("test")
				if err != nil {
					t.Fatal(err)
				}

				subject, sfOrg, kind := "ada@example.com", "", pc.kind
				if p == sandbox.Salesforce {
					sfOrg, kind = sb.Salesforce().OrgIDs()[0], connections.KindSalesforce
					subject = sb.Salesforce().Users(sfOrg)[0]
				}
				grant, err := sb.IssueGrant(p, subject, nil)
				if err != nil {
					t.Fatal(err)
				}
				org, err := st.CreateOrg(ctx, directory.Org{Name: "Acme", SeatLimit: 10})
				if err != nil {
					t.Fatal(err)
				}
				u, err := st.CreateUser(ctx, directory.User{Email: "ada@example.com", Name: "Ada"})
				if err != nil {
					t.Fatal(err)
				}
				m, err := st.CreateMembership(ctx, org.ID, directory.Membership{UserID: u.ID, Role: directory.RoleChat})
				if err != nil {
					t.Fatal(err)
				}
				now := time.Now().UTC()
				c := connections.Connection{ID: store.NewID(), MembershipID: m.ID, Kind: kind, State: connections.StateHealthy,
					ProviderAccountID: subject, ProviderOrgID: sfOrg, LastRefreshedAt: now.Add(-time.Hour), LastVerifiedAt: now,
					ExpiresAt: now, NextRefreshAt: now.Add(-time.Minute)}
				if gi, ok := sb.LookupGrant(grant.GrantID); ok && p != sandbox.Salesforce {
					c.ProviderAccountID = gi.Subject
				}
				if p == sandbox.Salesforce {
					c.InstanceURL, c.LoginURL = base+"/salesforce", base+"/salesforce"
				}
				for _, tok := range []struct {
					v   string
					dst *[]byte
				}{{grant.AccessToken, &c.AccessTokenEnc}, {grant.RefreshToken, &c.RefreshTokenEnc}} {
					if *tok.dst, err = keys.SealToken(vault.NewToken(tok.v), c.ID); err != nil {
						t.Fatal(err)
					}
				}
				if _, err := st.CreateConnection(ctx, org.ID, c); err != nil {
					t.Fatal(err)
				}

				// Each worker process's wiring (cmd/tether/app.go): its own OAuth client,
				// Tokens over a Redis lock and stash, Upkeep, queue client for the next refresh.
				for i := range workers {
					// Salesforce refreshes at the connection's own login host.
					oc, err := oauth.New(oauth.Config{Providers: oauthtest.Providers(base)})
					if err != nil {
						t.Fatal(err)
					}
					// The process's own Redis client, autopipelined (app.go's coalescedTokens):
					// the lock, the stash it reads, the next refresh's enqueue.
					prdb := redis.NewClient(rdb.Options())
					t.Cleanup(func() { _ = prdb.Close() })
					trdb, err := redislock.Coalesced(prdb)
					if err != nil {
						t.Fatal(err)
					}
					stash := redisstash.New(trdb, "tether:stash:")
					tokens, err := connections.NewTokens(connections.TokensParams{Store: st, Keys: keys,
						Refresher: oauth.ConnectionRefresher{Client: oc, Providers: map[connections.Kind]string{
							connections.KindSalesforce: "salesforce", connections.KindGoogleCalendar: "google",
							connections.KindMicrosoftCalendar: "microsoft", connections.KindZoom: "zoom"}},
						Locker: redislock.NewWithStash(trdb, "tether:lock:", stash), Stash: stash,
						Scheduler: jobs.ConnectionQueue{Client: asynq.NewClientFromRedisClient(trdb)}})
					if err != nil {
						t.Fatal(err)
					}
					up, err := connections.NewUpkeep(connections.UpkeepParams{Tokens: tokens, Due: st, List: st})
					if err != nil {
						t.Fatal(err)
					}
					w, err := worker.New(worker.Params{Redis: opt, Logger: zerolog.Nop(), Registerer: prometheus.NewRegistry(),
						Concurrency: 10, TaskCheckInterval: 20 * time.Millisecond, DelayedTaskCheckInterval: 50 * time.Millisecond})
					if err != nil {
						t.Fatal(err)
					}
					if err := worker.Register(w, complete(t, worker.Services{Connections: up})); err != nil {
						t.Fatalf("worker %d: %v", i, err)
					}
					t.Cleanup(start(t, w))
				}

				// Twenty tasks, each its own TaskID (a due time a second apart, all past),
				// queued at once onto the running workers.
				client := asynq.NewClient(opt)
				t.Cleanup(func() { _ = client.Close() })
				inspector := asynq.NewInspector(opt)
				t.Cleanup(func() { _ = inspector.Close() })
				due := connections.Due{OrgID: org.ID, ID: c.ID, State: connections.StateHealthy}
				ids := make([]string, tasks)
				for i := range tasks {
					task, err := jobs.NewConnectionTask(connections.OpRefresh, due, now.Add(-time.Duration(i+1)*time.Second))
					if err != nil {
						t.Fatal(err)
					}
					info, err := client.EnqueueContext(context.Background(), task)
					if err != nil {
						t.Fatalf("enqueue task %d: %v", i, err)
					}
					ids[i] = info.ID
				}
				deadline := time.Now().Add(60 * time.Second)
				for _, id := range ids {
					for {
						info, err := inspector.GetTaskInfo(jobs.QueueConnections, id)
						if err == nil && info.State == asynq.TaskStateCompleted {
							break
						}
						if err == nil && (info.State == asynq.TaskStateRetry || info.State == asynq.TaskStateArchived) {
							t.Fatalf("task %s: %s (%s)", id, info.State, info.LastErr)
						}
						if time.Now().After(deadline) {
							t.Fatalf("task %s not completed within 60 s: %v %v", id, info, err)
						}
						time.Sleep(20 * time.Millisecond)
					}
				}

				gc := sb.Counters().Grants[grant.GrantID]
				if gc.Refreshes != 1 || gc.DeadTokenReplays != 0 {
					t.Fatalf("the sandbox saw %d refreshes and %d dead-token replays for %d tasks on %d workers; want 1 and 0",
						gc.Refreshes, gc.DeadTokenReplays, tasks, workers)
				}
				if calls := sb.Counters().Endpoint(p, "token").Calls; calls != 1 {
					t.Fatalf("%d calls to the token endpoint, want 1", calls)
				}
				row, err := st.GetConnection(ctx, org.ID, c.ID)
				if err != nil {
					t.Fatal(err)
				}
				stored, err := keys.OpenToken(row.RefreshTokenEnc, c.ID)
				if err != nil {
					t.Fatal(err)
				}
				current := ""
				for _, f := range sb.Fingerprints() {
					if f.ID == grant.GrantID {
						current = f.RefreshSHA256
					}
				}
				if row.State != connections.StateHealthy || current == "" || sandbox.TokenSHA256(stored.Reveal()) != current {
					t.Fatalf("state %s; stored refresh token is the sandbox's current one: %t", row.State, sandbox.TokenSHA256(stored.Reveal()) == current)
				}
				if rotated := stored.Reveal() != grant.RefreshToken; rotated != pc.rotates {
					t.Fatalf("%s: the stored refresh token rotated %t, want %t", p, rotated, pc.rotates)
				}
				access, err := keys.OpenToken(row.AccessTokenEnc, c.ID)
				if err != nil {
					t.Fatal(err)
				}
				if access.Reveal() == grant.AccessToken {
					t.Fatalf("%s: the first access token is still stored after the refresh", p)
				}
			})
		})
	}
}
