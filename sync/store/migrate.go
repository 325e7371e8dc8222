package store

import (
	"context"
	"fmt"
	"hash/fnv"
	"time"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

// MigrationState is one migration as `tether migrate status` shows it.
type MigrationState struct {
	Version   int64
	Name      string // file name
	Applied   bool
	AppliedAt time.Time // zero if not applied
}

func (s *Store) provider(ctx context.Context) (*goose.Provider, error) {
	opts := []goose.ProviderOption{goose.WithDisableGlobalRegistry(true)}
	if s.backend == "postgres" {
		// Serialise migrators of the same schema (replicas starting at once) but not of
		// different schemas, so parallel test schemas don't queue on one lock.
		var schema string
		if err := s.db.QueryRowContext(ctx, "SELECT current_schema()").Scan(&schema); err != nil {
			return nil, fmt.Errorf("migrate: read current schema: %w", err)
		}
		h := fnv.New64a()
		h.Write([]byte("tether-migrate:" + schema))
		locker, err := lock.NewPostgresSessionLocker(
			lock.WithLockID(int64(h.Sum64()>>1)),
			lock.WithLockTimeout(1, 300),
		)
		if err != nil {
			return nil, fmt.Errorf("migrate: %w", err)
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	p, err := goose.NewProvider(s.Queries.d.goose, s.db, s.Queries.d.migrations, opts...)
	if err != nil {
		return nil, fmt.Errorf("migrate %s store: %w", s.backend, err)
	}
	return p, nil
}

// Migrate applies every pending embedded migration. Safe to run from several processes
// at once (PostgreSQL: an advisory lock per schema; SQLite: the write lock).
func (s *Store) Migrate(ctx context.Context) error {
	p, err := s.provider(ctx)
	if err != nil {
		return err
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrate %s store: %w", s.backend, err)
	}
	return nil
}

// MigrationStatus lists every embedded migration and whether it is applied.
func (s *Store) MigrationStatus(ctx context.Context) ([]MigrationState, error) {
	p, err := s.provider(ctx)
	if err != nil {
		return nil, err
	}
	st, err := p.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("migration status of %s store: %w", s.backend, err)
	}
	out := make([]MigrationState, 0, len(st))
	for _, m := range st {
		out = append(out, MigrationState{
			Version:   m.Source.Version,
			Name:      baseName(m.Source.Path),
			Applied:   m.State == goose.StateApplied,
			AppliedAt: m.AppliedAt,
		})
	}
	return out, nil
}

func baseName(p string) string {
	for i := len(p) - 1; i >= 0; i-- {
		if p[i] == '/' {
			return p[i+1:]
		}
	}
	return p
}
