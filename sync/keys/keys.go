package keys

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"tether/sync/connections"
	"tether/sync/reminders"
	"tether/sync/vault"
)

// Table is a table with sealed columns. Every one is walked by Status and Reseal.
type Table string

// The tables with sealed columns.
const (
	// Connections: a connection's access, refresh and pending token (Row.Sealed in that
	// order), sealed with the connection id (the pending one with
	// connections.PendingAAD).
	Connections Table = "connections"
	// SlackTokens: an org's Slack bot token for reminders (reminder_slack; Row.ID is the
	// org id), sealed with reminders.SlackTokenRow.
	SlackTokens Table = "reminder_slack"
)

// tables is the walk's order.
var tables = []Table{Connections, SlackTokens}

// Row is one row's sealed values.
type Row struct {
	Table     Table
	ID, OrgID string
	// Sealed are the row's sealed columns in the table's order; nil for an empty one.
	Sealed [][]byte
}

// aad is the associated data column i of r was sealed with: each owner's own rule.
func aad(r Row, i int) string {
	switch {
	case r.Table == SlackTokens:
		return reminders.SlackTokenRow(r.OrgID)
	case i == 2:
		return connections.PendingAAD(r.ID)
	}
	return r.ID
}

// noun names a row of t in an error a person reads.
func noun(t Table) string {
	if t == SlackTokens {
		return "the Slack token"
	}
	return "connection"
}

// Store reads and replaces sealed values.
type Store interface {
	// ListSealed returns up to limit rows of table t with a sealed value, in id order
	// after afterID.
	ListSealed(ctx context.Context, t Table, afterID string, limit int) ([]Row, error)
	// ReplaceSealed writes next over the row (of old.Table) if it still holds old's sealed
	// values; false when it does not. It changes nothing else of the row.
	ReplaceSealed(ctx context.Context, old, next Row) (bool, error)
}

// Stash is where a connection's pending token set is parked when the database refused
// every write (worker/redisstash, kept up to 30 days), sealed like the row's pending
// column: it is counted and resealed too.
type Stash interface {
	// Each calls fn with every key starting with prefix and its value, never concurrently.
	Each(ctx context.Context, prefix string, fn func(key string, value []byte) error) error
	// Replace writes next under key if it still holds old, keeping its expiry; false when
	// it does not.
	Replace(ctx context.Context, key string, old, next []byte) (bool, error)
}

// DefaultBatch is the batch size when zero is given.
const DefaultBatch = 500

// Service counts and reseals. Safe for concurrent use.
type Service struct {
	store Store
	stash Stash
	ring  *vault.Keyring
}

// New returns a Service over store and stash with the key ring ring (its first key is
// primary). All three are required: a parked set left under an old key would be lost
// with that key.
func New(store Store, stash Stash, ring *vault.Keyring) (*Service, error) {
	if store == nil || stash == nil || ring == nil {
		return nil, errors.New("keys: store, stash and key ring are required")
	}
	return &Service{store: store, stash: stash, ring: ring}, nil
}

// Primary is the id of the key that seals.
func (s *Service) Primary() string { return s.ring.ActiveKeyID() }

// KeyCount is how many sealed values one key id holds.
type KeyCount struct {
	KeyID   string `json:"key_id"`
	Values  int    `json:"values"`
	Primary bool   `json:"primary"`
	// InRing is false for a key id the ring no longer has: those values cannot be opened.
	InRing bool `json:"in_ring"`
	// Stashed are the pending token sets parked in the Redis stash under this key (part
	// of Values).
	Stashed int `json:"stashed"`
}

// Status counts the sealed values per key id, primary first, then by id; every key of
// the ring is listed (0 when unused), and so is any key id found that the ring lacks. A value that is
// not a sealed value at all is counted under "unreadable".
func (s *Service) Status(ctx context.Context, batch int) ([]KeyCount, error) {
	counts, stashed := map[string]int{}, map[string]int{}
	keyID := func(v []byte) string {
		id, err := vault.KeyID(v)
		if err != nil {
			return "unreadable"
		}
		return id
	}
	err := s.walk(ctx, batch, func(r Row) error {
		for _, v := range r.Sealed {
			if len(v) > 0 {
				counts[keyID(v)]++
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = s.stash.Each(ctx, connections.StashPendingPrefix, func(_ string, v []byte) error {
		id := keyID(v)
		counts[id]++
		stashed[id]++
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("count the pending token sets in the Redis stash: %w", err)
	}
	for _, id := range s.ring.IDs() {
		counts[id] += 0 // every key of the ring is listed, unused ones with 0
	}
	primary := s.ring.ActiveKeyID()
	out := []KeyCount{{KeyID: primary, Values: counts[primary], Stashed: stashed[primary], Primary: true, InRing: true}}
	for _, id := range slices.Sorted(maps.Keys(counts)) {
		if id != primary {
			out = append(out, KeyCount{KeyID: id, Values: counts[id], Stashed: stashed[id], InRing: s.ring.Has(id)})
		}
	}
	return out, nil
}

// Progress is reported after each batch of Reseal.
type Progress struct {
	Rows     int    // rows read so far
	Resealed int    // rows rewritten under the primary key
	Skipped  int    // rows (or stashed sets) a concurrent writer changed first
	LastID   string // the last row id read: where the walk stands
	// Stashed are the pending token sets parked in the Redis stash resealed under the
	// primary key (walked after the tables).
	Stashed int
}

// Reseal seals every value not under the primary key again with it, batch rows at a
// time (zero: DefaultBatch), calling progress (may be nil) after each batch. A value that
// cannot be opened (its key left the ring, or it was tampered with) stops the run with an
// error naming the row; nothing is lost, and fixing the ring and running again resumes.
func (s *Service) Reseal(ctx context.Context, batch int, progress func(Progress)) (Progress, error) {
	var p Progress
	n := 0
	err := s.walk(ctx, batch, func(r Row) error {
		p.Rows++
		p.LastID = r.ID
		next := r
		next.Sealed = make([][]byte, len(r.Sealed))
		changed := false
		for i, v := range r.Sealed {
			out, c, err := s.ring.Reseal(v, aad(r, i))
			if err != nil {
				return fmt.Errorf("reseal %s %s of org %s: %w (add its key back to TETHER_ENCRYPTION_KEYS and run again)", noun(r.Table), r.ID, r.OrgID, err)
			}
			next.Sealed[i], changed = out, changed || c
		}
		if changed {
			ok, err := s.store.ReplaceSealed(ctx, r, next)
			if err != nil {
				return err
			}
			if ok {
				p.Resealed++
			} else {
				p.Skipped++
			}
		}
		if n++; progress != nil && n%cmp.Or(batch, DefaultBatch) == 0 {
			progress(p)
		}
		return nil
	})
	if err == nil {
		err = s.resealStash(ctx, &p)
	}
	if progress != nil && err == nil {
		progress(p)
	}
	return p, err
}

// resealStash reseals the parked pending sets not under the primary key, each with the
// associated data of the row's pending column (connections.PendingAAD), replacing it
// only if the stash still holds what was read: a refresh that used or replaced it
// meanwhile wins (the set it wrote is under the primary key).
func (s *Service) resealStash(ctx context.Context, p *Progress) error {
	return s.stash.Each(ctx, connections.StashPendingPrefix, func(key string, v []byte) error {
		id := strings.TrimPrefix(key, connections.StashPendingPrefix)
		out, changed, err := s.ring.Reseal(v, connections.PendingAAD(id))
		if err != nil {
			return fmt.Errorf("reseal the pending token set of connection %s parked in the Redis stash: %w (add its key back to TETHER_ENCRYPTION_KEYS and run again)", id, err)
		}
		if !changed {
			return nil
		}
		ok, err := s.stash.Replace(ctx, key, v, out)
		switch {
		case err != nil:
			return err
		case ok:
			p.Stashed++
		default:
			p.Skipped++
		}
		return nil
	})
}

// walk calls fn on every row of every table, batch rows per read.
func (s *Service) walk(ctx context.Context, batch int, fn func(Row) error) error {
	batch = cmp.Or(batch, DefaultBatch)
	for _, t := range tables {
		after := ""
		for {
			rows, err := s.store.ListSealed(ctx, t, after, batch)
			if err != nil {
				return err
			}
			for _, r := range rows {
				if err := fn(r); err != nil {
					return err
				}
			}
			if len(rows) < batch {
				break
			}
			after = rows[len(rows)-1].ID
		}
	}
	return nil
}
