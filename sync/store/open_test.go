package store_test

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"tether/sync/store"
	"tether/sync/store/storetest"
)

func TestOpenUnknownScheme(t *testing.T) {
	t.Parallel()
	_, err := store.Open(t.Context(), "mysql://root:hunter2@db/tether")
	if err == nil {
		t.Fatal("no error for a mysql URL")
	}
	for _, want := range []string{"postgres://", "sqlite:PATH", "file:PATH"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Errorf("error leaks the password: %q", err)
	}
}

func TestOpenSQLiteForms(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, url := range []string{
		"sqlite:" + filepath.Join(dir, "a.db"),
		"sqlite://" + filepath.Join(dir, "b.db"),
		"file:" + filepath.Join(dir, "c.db") + "?cache=private",
	} {
		s, err := store.Open(t.Context(), url)
		if err != nil {
			t.Fatalf("open %s: %v", url, err)
		}
		var mode string
		var fk, busy int
		db := s.DB()
		if err := db.QueryRowContext(t.Context(), "PRAGMA journal_mode").Scan(&mode); err != nil {
			t.Fatal(err)
		}
		if err := db.QueryRowContext(t.Context(), "PRAGMA foreign_keys").Scan(&fk); err != nil {
			t.Fatal(err)
		}
		if err := db.QueryRowContext(t.Context(), "PRAGMA busy_timeout").Scan(&busy); err != nil {
			t.Fatal(err)
		}
		if mode != "wal" || fk != 1 || busy < 5000 || s.Backend() != "sqlite" {
			t.Errorf("%s: journal_mode=%s foreign_keys=%d busy_timeout=%d backend=%s", url, mode, fk, busy, s.Backend())
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := store.Open(t.Context(), "sqlite:"); err == nil {
		t.Error("no error for sqlite: without a path")
	}
}

func TestMigrate(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		t.Parallel()
		// storetest migrated already; again is a no-op.
		if err := s.Migrate(t.Context()); err != nil {
			t.Fatalf("second migrate: %v", err)
		}
		st, err := s.MigrationStatus(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if len(st) == 0 || st[0].Version != 1 || st[0].Name != "00001_init.sql" {
			t.Fatalf("status %+v", st)
		}
		for _, m := range st {
			if !m.Applied || m.AppliedAt.IsZero() {
				t.Errorf("migration %s not applied: %+v", m.Name, m)
			}
		}
		if err := s.Ping(t.Context()); err != nil {
			t.Fatal(err)
		}
	})
}

// TestMigrationsMatch keeps the two backends' migration sets in step.
func TestMigrationsMatch(t *testing.T) {
	t.Parallel()
	pg, err := filepath.Glob("migrations/postgres/*.sql")
	if err != nil {
		t.Fatal(err)
	}
	lite, err := filepath.Glob("migrations/sqlite/*.sql")
	if err != nil {
		t.Fatal(err)
	}
	if len(pg) != len(lite) {
		t.Fatalf("%d PostgreSQL migrations, %d SQLite ones", len(pg), len(lite))
	}
	for i := range pg {
		if filepath.Base(pg[i]) != filepath.Base(lite[i]) {
			t.Errorf("migration %d: %s vs %s", i, filepath.Base(pg[i]), filepath.Base(lite[i]))
		}
	}
}

// A PostgreSQL server without the URL's database is ErrNoDatabase, so the caller can say
// "create it" instead of "check that it is running".
func TestOpenPostgresMissingDatabase(t *testing.T) {
	t.Parallel()
	u, err := url.Parse(storetest.DatabaseURL())
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	u.Path = "/tether_missing_" + hex.EncodeToString(b)
	_, err = store.Open(t.Context(), u.String())
	if !errors.Is(err, store.ErrNoDatabase) {
		t.Fatalf("open %s: %v; want store.ErrNoDatabase", u.Redacted(), err)
	}
}
