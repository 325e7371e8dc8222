// Package storetest gives tests a fresh, migrated, isolated store on each backend.
//
// PostgreSQL: a new schema per store in the database named by TETHER_TEST_DATABASE_URL
// (default postgres://postgres@127.0.0.1:5432/test?sslmode=disable), set as the
// search_path of every pool connection and dropped on cleanup. SQLite: a file in
// t.TempDir(). A database that cannot be reached fails the test (it never skips): run
// scripts/test.sh to start PostgreSQL and Redis.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"tether/sync/store"
)

// DefaultDatabaseURL is used when TETHER_TEST_DATABASE_URL is unset.
const DefaultDatabaseURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// DatabaseURL returns the PostgreSQL URL tests use.
func DatabaseURL() string {
	if u := os.Getenv("TETHER_TEST_DATABASE_URL"); u != "" {
		return u
	}
	return DefaultDatabaseURL
}

// Each runs fn once per backend, each as a subtest ("postgres", "sqlite") with its own
// fresh, migrated store.
func Each(t *testing.T, fn func(t *testing.T, s *store.Store)) {
	t.Helper()
	t.Run("postgres", func(t *testing.T) { fn(t, Postgres(t)) })
	t.Run("sqlite", func(t *testing.T) { fn(t, SQLite(t)) })
}

// Postgres returns a migrated store in a new PostgreSQL schema that is dropped, with the
// store closed, when t ends.
func Postgres(t testing.TB) *store.Store {
	t.Helper()
	s, _ := PostgresURL(t)
	return s
}

// PostgresURL is Postgres that also returns the store's URL, for a test that opens the
// same database from another process.
func PostgresURL(t testing.TB) (*store.Store, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	base := DatabaseURL()
	schema := "tether_test_" + randomHex(t)

	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("storetest: PostgreSQL at %s is unreachable (%v); run scripts/test.sh to start it", base, err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("storetest: create schema %s: %v", schema, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("storetest: drop schema %s: %v", schema, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("storetest: drop schema %s: %v", schema, err)
		}
	})

	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("storetest: parse %s: %v", base, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	q.Set("pool_max_conns", "8")
	u.RawQuery = q.Encode()
	return open(t, ctx, u.String()), u.String()
}

// SQLite returns a migrated store in a new SQLite file under t.TempDir().
func SQLite(t testing.TB) *store.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return open(t, ctx, "sqlite:"+filepath.Join(t.TempDir(), "tether.db"))
}

func open(t testing.TB, ctx context.Context, dsn string) *store.Store {
	t.Helper()
	s, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatalf("storetest: open store: %v (run scripts/test.sh if the database is not running)", err)
	}
	// Registered after the schema drop, so it runs first: close the pool, then drop.
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("storetest: close store: %v", err)
		}
	})
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("storetest: migrate %s store: %v", s.Backend(), err)
	}
	return s
}

func randomHex(t testing.TB) string {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("storetest: random: %v", err)
	}
	return hex.EncodeToString(b)
}
