package store_test

import (
	"fmt"
	"testing"
	"time"

	"tether/sync/connections"
	"tether/sync/directory"
	"tether/sync/reminders"
	"tether/sync/store"
	"tether/sync/store/storetest"
)

// benchBackends are the stores every benchmark here runs on.
var benchBackends = []struct {
	name string
	open func(testing.TB) *store.Store
}{{"postgres", storetest.Postgres}, {"sqlite", storetest.SQLite}}

// BenchmarkImportPage measures one 2,000-row import page as the import runs it: the
// email lookup, then one transaction that locks the seats and inserts the invites.
func BenchmarkImportPage(b *testing.B) {
	for _, backend := range benchBackends {
		b.Run(backend.name, func(b *testing.B) {
			s := backend.open(b)
			ctx := b.Context()
			now := time.Now()
			org, err := s.CreateOrg(ctx, directory.Org{Name: "Bench"})
			if err != nil {
				b.Fatal(err)
			}
			const rows = 2000
			n := 0
			for b.Loop() {
				emails := make([]string, rows)
				invites := make([]directory.Invite, rows)
				for i := range rows {
					n++
					emails[i] = fmt.Sprintf("rep%07d@example.com", n)
					invites[i] = directory.Invite{Email: emails[i], Role: directory.RoleChat, Source: directory.SourceSalesforce,
						TokenHash: "t" + emails[i], ExpiresAt: now.Add(time.Hour), CreatedAt: now}
				}
				if _, err := s.LookupEmails(ctx, org.ID, emails, now); err != nil {
					b.Fatal(err)
				}
				err := s.InTx(ctx, func(tx *store.Queries) error {
					if _, err := tx.LockOrgSeats(ctx, org.ID, now); err != nil {
						return err
					}
					_, err := tx.InsertImportPage(ctx, org.ID, store.ImportPage{Invites: invites})
					return err
				})
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*rows), "µs/row")
		})
	}
}

// BenchmarkMembersPage measures what GET /v1/orgs/{org}/members costs: every filter's
// counts (one query), a page of 100 Action Required chat members (one query), their
// connections (one query) and their reminders (one query), in an org of 10,000 members
// (two connections each, 30% Action Required, each of those with four messages sent)
// while another org holds 90,000 more.
func BenchmarkMembersPage(b *testing.B) {
	for _, backend := range benchBackends {
		b.Run(backend.name, func(b *testing.B) {
			s := backend.open(b)
			ctx := b.Context()
			now := time.Now()
			roles := []directory.Role{directory.RoleChat, directory.RoleMeetings, directory.RoleAdmin, directory.RoleChat}
			statuses := []directory.MembershipStatus{directory.MembershipActive, directory.MembershipActive, directory.MembershipActive, directory.MembershipPending, directory.MembershipDeactivated}
			reason := []directory.ActionReason{{Requirement: "calendar", AnyOf: []string{"google_calendar", "microsoft_calendar"},
				State: "missing", Actor: directory.ActorRep, Message: "connect Google Calendar or Outlook calendar"}}
			seed := func(name string, members int, withConns bool) directory.Org {
				org, err := s.CreateOrg(ctx, directory.Org{Name: name})
				if err != nil {
					b.Fatal(err)
				}
				for start := 0; start < members; start += 1000 {
					var p store.ImportPage
					for i := start; i < min(start+1000, members); i++ {
						u := directory.User{ID: store.NewID(), Email: fmt.Sprintf("%s-%07d@example.com", name, i)}
						m := directory.Membership{UserID: u.ID, Role: roles[i%len(roles)], Status: statuses[i%len(statuses)]}
						if m.Status == directory.MembershipActive && i%10 < 5 {
							m.ActionRequired, m.ActionCheckedAt = reason, now
						}
						p.Users, p.Memberships = append(p.Users, u), append(p.Memberships, m)
					}
					res, err := s.InsertImportPage(ctx, org.ID, p)
					if err != nil {
						b.Fatal(err)
					}
					if !withConns {
						continue
					}
					err = s.InTx(ctx, func(tx *store.Queries) error {
						for j, id := range res.MembershipIDs {
							for _, k := range []connections.Kind{connections.KindSalesforce, connections.KindGoogleCalendar} {
								if _, err := tx.CreateConnection(ctx, org.ID, connections.Connection{MembershipID: id, Kind: k,
									State: connections.StateHealthy, CreatedAt: now}); err != nil {
									return err
								}
							}
							if len(p.Memberships[j].ActionRequired) == 0 {
								continue
							}
							for seq := 1; seq <= 4; seq++ {
								if _, err := tx.InsertReminder(ctx, org.ID, reminders.Reminder{MembershipID: id, Channel: reminders.ChannelEmail,
									Sequence: seq, SentAt: now.Add(time.Duration(seq-5) * 24 * time.Hour)}); err != nil {
									return err
								}
							}
						}
						return nil
					})
					if err != nil {
						b.Fatal(err)
					}
				}
				return org
			}
			org := seed("acme", 10_000, true)
			seed("globex", 90_000, false)
			var counts, invites, list, conn, rem time.Duration
			b.ResetTimer()
			for b.Loop() {
				t0 := time.Now()
				c, err := s.CountMemberships(ctx, org.ID)
				if err != nil || c.All.Members != 10_000 {
					b.Fatalf("counts %+v %v", c.All, err)
				}
				ti := time.Now()
				if _, err := s.CountOpenInvites(ctx, org.ID, ti); err != nil {
					b.Fatal(err)
				}
				t1 := time.Now()
				page, err := s.ListMembers(ctx, org.ID, store.MembershipFilter{Filter: directory.FilterChat, ActionRequired: true, Limit: 100})
				if err != nil || len(page) != 100 {
					b.Fatalf("page of %d, %v", len(page), err)
				}
				ids := make([]string, len(page))
				for i, m := range page {
					ids[i] = m.Membership.ID
				}
				t2 := time.Now()
				conns, err := s.ListMemberConnections(ctx, org.ID, ids)
				if err != nil || len(conns) != 200 {
					b.Fatalf("%d connections, %v", len(conns), err)
				}
				t3 := time.Now()
				sent, err := s.MemberReminders(ctx, org.ID, ids)
				if err != nil || len(sent) != 100 || len(sent[ids[0]].Sent) != 4 {
					b.Fatalf("reminders of %d members, %v", len(sent), err)
				}
				counts, invites, list, conn, rem = counts+ti.Sub(t0), invites+t1.Sub(ti), list+t2.Sub(t1), conn+t3.Sub(t2), rem+time.Since(t3)
			}
			ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(b.N) / 1000 }
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/1000, "ms/page")
			b.ReportMetric(ms(counts), "ms-counts")
			b.ReportMetric(ms(invites), "ms-invites")
			b.ReportMetric(ms(list), "ms-list")
			b.ReportMetric(ms(conn), "ms-connections")
			b.ReportMetric(ms(rem), "ms-reminders")
		})
	}
}

// BenchmarkImportCheckpoint measures one import page's checkpoint (the import's row and
// 2,000 seen email hashes, no skipped rows) after the import has already seen 10,000 or
// 200,000 emails. Its cost should not grow with what came before: an import of a large
// org writes hundreds of these.
func BenchmarkImportCheckpoint(b *testing.B) {
	const page = 2000
	for _, backend := range benchBackends {
		for _, prior := range []int{10_000, 200_000} {
			b.Run(fmt.Sprintf("%s/seen=%d", backend.name, prior), func(b *testing.B) {
				s := backend.open(b)
				ctx := b.Context()
				now := time.Now()
				org, err := s.CreateOrg(ctx, directory.Org{Name: "Bench"})
				if err != nil {
					b.Fatal(err)
				}
				imp, err := s.CreateImport(ctx, org.ID, directory.Import{Role: directory.RoleChat, Status: directory.ImportRunning, CreatedAt: now})
				if err != nil {
					b.Fatal(err)
				}
				var h uint64
				save := func() {
					seen := make([]uint64, page)
					for i := range seen {
						h += 0x9e3779b97f4a7c15
						seen[i] = h
					}
					imp.Progress.Done += page
					if err := s.SaveCheckpoint(ctx, org.ID, directory.Checkpoint{Import: imp, Seen: seen}, now); err != nil {
						b.Fatal(err)
					}
				}
				for range prior / page {
					save()
				}
				for b.Loop() {
					save()
				}
			})
		}
	}
}
