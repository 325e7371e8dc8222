package store_test

import (
	"fmt"
	"testing"
	"time"

	"tether/sync/directory"
	"tether/sync/store"
	"tether/sync/store/storetest"
)

// BenchmarkImportPage measures one 2,000-row import page as the import runs it: the
// email lookup, then one transaction that locks the seats and inserts the invites.
func BenchmarkImportPage(b *testing.B) {
	for _, backend := range []struct {
		name string
		open func(testing.TB) *store.Store
	}{{"postgres", storetest.Postgres}, {"sqlite", storetest.SQLite}} {
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
