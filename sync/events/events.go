package events

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Event is one entry of the audit log.
type Event struct {
	ID string // made by the store when empty
	// OrgID is the org the event is about; empty for system events.
	OrgID string
	// Kind names what happened, dotted: "invite.sent", "connection.refreshed".
	Kind string
	// Subject is the id of the thing the event is about (an invite, a connection, ...).
	Subject string
	// Detail holds facts worth keeping; never secrets. Stored as JSON.
	Detail map[string]any
	At     time.Time // set to now by the store when zero
}

// Store is what Service needs from persistence.
type Store interface {
	// PruneEvents deletes events older than before and returns how many.
	PruneEvents(ctx context.Context, before time.Time) (int64, error)
}

// Service prunes the audit log.
type Service struct {
	store Store
	now   func() time.Time
}

// NewService returns a Service over store. now is the clock; nil means time.Now.
func NewService(store Store, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{store: store, now: now}
}

// ErrInvalidAge is returned by Prune for a non-positive age, which would delete everything.
var ErrInvalidAge = errors.New("events: prune age must be positive")

// Prune deletes events older than olderThan and returns how many were deleted. Returns
// ErrInvalidAge if olderThan <= 0.
func (s *Service) Prune(ctx context.Context, olderThan time.Duration) (int64, error) {
	if olderThan <= 0 {
		return 0, fmt.Errorf("prune events older than %s: %w", olderThan, ErrInvalidAge)
	}
	n, err := s.store.PruneEvents(ctx, s.now().Add(-olderThan))
	if err != nil {
		return 0, fmt.Errorf("prune events: %w", err)
	}
	return n, nil
}
