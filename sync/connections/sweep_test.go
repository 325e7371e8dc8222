package connections_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"tether/connectors/sandbox"
	"tether/jobs"
	"tether/sync/connections"
	"tether/sync/directory"
	"tether/sync/store"
	"tether/sync/store/storetest"
	"tether/worker/redistest"
)

// The sweep queues exactly the due and overdue connections, a verification for those
// whose last one is a day old, on the connections queue for healthy ones and low for
// broken ones; a second sweep queues nothing twice; rows not due cost nothing.
func TestSweepQueuesOnlyWhatIsDue(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		opt, _ := redistest.Client(t, redisDB+1)
		client := asynq.NewClient(opt)
		t.Cleanup(func() { _ = client.Close() })
		inspector := asynq.NewInspector(opt)
		t.Cleanup(func() { _ = inspector.Close() })
		b := upkeepSetup(t, s, upkeepCases[3])
		b.scheduler = jobs.ConnectionQueue{Client: client}
		now := b.clock()
		// upkeepSetup's connection is due a minute ago; add one overdue for
		// verification, one broken and due, and rows not due or never due.
		add := func(email string, kind connections.Kind, state connections.State, next, verified time.Time) string {
			u, err := s.CreateUser(ctx, directory.User{Email: email, Name: email})
			if err != nil {
				t.Fatal(err)
			}
			m, err := s.CreateMembership(ctx, b.orgID, directory.Membership{UserID: u.ID, Role: directory.RoleChat})
			if err != nil {
				t.Fatal(err)
			}
			c, err := s.CreateConnection(ctx, b.orgID, connections.Connection{MembershipID: m.ID, Kind: kind, State: state,
				NextRefreshAt: next, LastVerifiedAt: verified, LastRefreshedAt: verified})
			if err != nil {
				t.Fatal(err)
			}
			return c.ID
		}
		verifyDue := add("v@example.com", connections.KindGoogleCalendar, connections.StateHealthy, now.Add(-time.Hour), now.Add(-25*time.Hour))
		brokenDue := add("e@example.com", connections.KindZoom, connections.StateError, now.Add(-2*time.Minute), now.Add(-time.Hour))
		add("later@example.com", connections.KindZoom, connections.StateHealthy, now.Add(time.Hour), now)
		add("never@example.com", connections.KindZoom, connections.StateNeedsReconnect, time.Time{}, now)
		add("gone@example.com", connections.KindZoom, connections.StateRevoked, now.Add(-time.Hour), now)

		u := b.upkeep(t)
		res, err := u.Sweep(ctx, now)
		if err != nil {
			t.Fatal(err)
		}
		if res.Due != 3 || res.Refreshes != 2 || res.Verifies != 1 || res.Failed != 0 || !res.OldestDue.Equal(now.Add(-time.Hour).Truncate(time.Microsecond)) {
			t.Fatalf("sweep: %+v", res)
		}
		ids := func(queue string) []string {
			var out []string
			for _, list := range []func(string, ...asynq.ListOption) ([]*asynq.TaskInfo, error){inspector.ListPendingTasks, inspector.ListScheduledTasks} {
				tasks, err := list(queue)
				if err != nil {
					t.Fatal(err)
				}
				for _, ti := range tasks {
					out = append(out, ti.ID)
				}
			}
			return out
		}
		healthy, low := ids(jobs.QueueConnections), ids(jobs.QueueLow)
		if len(healthy) != 2 || len(low) != 1 || !strings.HasPrefix(low[0], jobs.TypeConnectionRefresh+":"+brokenDue+":") {
			t.Fatalf("queued: connections %v, low %v", healthy, low)
		}
		if !strings.Contains(strings.Join(healthy, " "), jobs.TypeConnectionVerify+":"+verifyDue+":") {
			t.Fatalf("no verification queued for the connection verified 25 h ago: %v", healthy)
		}
		if _, err := u.Sweep(ctx, now.Add(5*time.Minute)); err != nil {
			t.Fatal(err)
		}
		if again := ids(jobs.QueueConnections); len(again) != 2 || len(ids(jobs.QueueLow)) != 1 {
			t.Fatalf("a second sweep queued again: %v", again)
		}
		if calls := b.sb.Counters().Endpoint(sandbox.Zoom, "token").Calls; calls != 0 {
			t.Fatalf("the sweep called the provider %d times", calls)
		}
		// A refresh schedules the connection's next refresh at once.
		b.refresh(t, u, false)
		next := b.row(t).NextRefreshAt
		nextID := jobs.TypeConnectionRefresh + ":" + b.connID + ":" + itoa(next.Unix())
		if !strings.Contains(strings.Join(ids(jobs.QueueConnections), " "), nextID) {
			t.Fatalf("the next refresh at %s was not scheduled", next)
		}
		// A worker killed between the commit and that enqueue: the task's retry finds the
		// row not due, and queues the next refresh again instead of leaving it to the sweep.
		if err := inspector.DeleteTask(jobs.QueueConnections, nextID); err != nil {
			t.Fatal(err)
		}
		if res := b.refresh(t, u, false); res.Called || res.Skipped == "" {
			t.Fatalf("the retry of a refresh already committed: called %t, skipped %q; want skipped", res.Called, res.Skipped)
		}
		if !strings.Contains(strings.Join(ids(jobs.QueueConnections), " "), nextID) {
			t.Fatalf("the retry did not queue the next refresh at %s again", next)
		}
	})
}

// Verification refreshes first when the token is older than its lifetime, records the
// verification, finds a scope taken away, and catches a revoked grant whose access token
// still works.
func TestUpkeepVerify(t *testing.T) {
	for _, uc := range []upkeepCase{upkeepCases[1], upkeepCases[2]} { // google, microsoft
		t.Run(uc.name, func(t *testing.T) {
			storetest.Each(t, func(t *testing.T, s *store.Store) {
				b := upkeepSetup(t, s, uc)
				u := b.upkeep(t)
				res, err := u.Verify(t.Context(), b.orgID, b.connID, true)
				if err != nil {
					t.Fatal(err)
				}
				row := b.row(t)
				if res.Failure != nil || row.State != connections.StateHealthy || !row.LastVerifiedAt.Equal(b.clock().Truncate(time.Microsecond)) ||
					b.counters().Refreshes != 1 {
					t.Fatalf("verify: failure %v, state %s, verified %s, %d refreshes (want 1: the token was an hour old)", res.Failure, row.State, row.LastVerifiedAt, b.counters().Refreshes)
				}
				if res, _ := u.Verify(t.Context(), b.orgID, b.connID, false); res.Skipped == "" {
					t.Fatal("a verification a moment after the last one was not skipped")
				}
				// The scope tether needs is taken away; the next refresh's answer says so.
				lose := map[string][]string{"google": {"openid", "email"}, "microsoft": {"openid", "offline_access", "User.Read"}}[uc.name]
				body, _ := json.Marshal(map[string][]string{"scopes": lose})
				resp, err := http.Post(b.url+"/admin/grants/"+b.grant.GrantID+"/scopes", "application/json", bytes.NewReader(body))
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				b.advanceTo(row.ExpiresAt.Add(time.Minute)) // the token is old: refresh first
				res, err = u.Verify(t.Context(), b.orgID, b.connID, true)
				if err != nil {
					t.Fatal(err)
				}
				row = b.row(t)
				if res.Failure == nil || row.State != connections.StateNeedsReconnect || row.FailureCause != connections.CauseScopesMissing ||
					!strings.Contains(strings.ToLower(row.FailureReason), "calendar") {
					t.Fatalf("after the scope loss: failure %v, state %s, cause %q, reason %q", res.Failure, row.State, row.FailureCause, row.FailureReason)
				}
			})
		})
	}
}

// A verification records the zone the provider keeps for the account (Salesforce's
// userinfo zoneinfo, Google's primary calendar, Zoom's users/me timezone) as the member's
// own when the member has none, and never replaces one an admin set.
func TestUpkeepVerifyLearnsMemberTimeZone(t *testing.T) {
	for _, uc := range []upkeepCase{upkeepCases[0], upkeepCases[1], upkeepCases[3]} { // salesforce, google, zoom
		t.Run(uc.name, func(t *testing.T) {
			storetest.Each(t, func(t *testing.T, s *store.Store) {
				b := upkeepSetup(t, s, uc)
				b.zones = s
				want := ""
				switch uc.provider {
				case sandbox.Salesforce:
					u, ok := b.sb.Salesforce().User(b.row(t).ProviderAccountID)
					if !ok || u.TimeZone == "" {
						t.Fatalf("sandbox user %s: %+v", b.row(t).ProviderAccountID, u)
					}
					want = u.TimeZone
				case sandbox.Google, sandbox.Zoom:
					want = map[sandbox.Provider]string{sandbox.Google: "America/Chicago", sandbox.Zoom: "Asia/Tokyo"}[uc.provider]
					gi, _ := b.sb.LookupGrant(b.grant.GrantID)
					if err := b.sb.AddUser(sandbox.User{Provider: uc.provider, ID: gi.Subject, Email: "ada@example.com", TimeZone: want}); err != nil {
						t.Fatal(err)
					}
				}
				member := b.row(t).MembershipID
				zone := func() string {
					t.Helper()
					tz, err := s.MemberTimeZone(t.Context(), b.orgID, member)
					if err != nil {
						t.Fatal(err)
					}
					return tz
				}
				u := b.upkeep(t)
				res, err := u.Verify(t.Context(), b.orgID, b.connID, true)
				if err != nil || res.Failure != nil {
					t.Fatalf("verify: %v, failure %v", err, res.Failure)
				}
				if res.TimeZoneLearnt != want || zone() != want {
					t.Fatalf("learnt %q, member's zone %q; want %q", res.TimeZoneLearnt, zone(), want)
				}
				if err := s.SetMemberTimeZone(t.Context(), b.orgID, member, "Europe/Paris"); err != nil {
					t.Fatal(err)
				}
				res, err = u.Verify(t.Context(), b.orgID, b.connID, true)
				if err != nil || res.Failure != nil || res.TimeZoneLearnt != "" || zone() != "Europe/Paris" {
					t.Fatalf("verify again: %v, failure %v, learnt %q, zone %q; want the admin's Europe/Paris kept", err, res.Failure, res.TimeZoneLearnt, zone())
				}
			})
		})
	}
}

func itoa(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// A Microsoft grant revoked while its access token still works: verification refreshes
// first because the token is older than its lifetime, and the refresh finds the grant dead.
func TestUpkeepVerifyCatchesARevokeTheAccessTokenHides(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		b := upkeepSetup(t, s, upkeepCases[2]) // microsoft
		u := b.upkeep(t)
		b.refresh(t, u, false)
		resp, err := http.Post(b.url+"/admin/grants/"+b.grant.GrantID+"/revoke", "application/json", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		row := b.row(t)
		// Past the token's lifetime since the last refresh (the revoke does not show in it).
		b.advanceTo(row.ExpiresAt.Add(time.Second))
		res, err := u.Verify(t.Context(), b.orgID, b.connID, true)
		if err != nil {
			t.Fatal(err)
		}
		row = b.row(t)
		if res.Failure == nil || row.State != connections.StateNeedsReconnect || row.LastErrorCode != "invalid_grant" {
			t.Fatalf("verify after the revoke: failure %v, state %s, code %q", res.Failure, row.State, row.LastErrorCode)
		}
	})
}
