// Package redisconnect keeps the connect flow's server-side state in Redis: the
// authorizations in progress (state → link, PKCE verifier, cookie hash) and which
// connect links were spent. Both expire by themselves: a state with its TTL, a spent
// mark when its link would have expired anyway.
package redisconnect

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"tether/sync/connect"
)

// Sessions implements connect.Sessions. Safe for concurrent use.
type Sessions struct {
	rdb    redis.UniversalClient
	prefix string
	now    func() time.Time
}

var _ connect.Sessions = (*Sessions)(nil)

// New returns Sessions whose keys start with prefix ("tether:connect:").
func New(rdb redis.UniversalClient, prefix string) *Sessions {
	return &Sessions{rdb: rdb, prefix: prefix, now: time.Now}
}

// PutState implements connect.Sessions.
func (s *Sessions) PutState(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if err := s.rdb.Set(ctx, s.prefix+"state:"+key, value, ttl).Err(); err != nil {
		return fmt.Errorf("redisconnect: keep state: %w", err)
	}
	return nil
}

// GetState implements connect.Sessions.
func (s *Sessions) GetState(ctx context.Context, key string) ([]byte, error) {
	v, err := s.rdb.Get(ctx, s.prefix+"state:"+key).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("redisconnect: read state: %w", err)
	}
	return v, nil
}

// TakeState implements connect.Sessions with GETDEL: of two callbacks racing on one
// state, one gets it.
func (s *Sessions) TakeState(ctx context.Context, key string) ([]byte, error) {
	v, err := s.rdb.GetDel(ctx, s.prefix+"state:"+key).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("redisconnect: take state: %w", err)
	}
	return v, nil
}

// Spend implements connect.Sessions with SET NX; the mark outlives the link by a day so
// clock skew cannot revive it.
func (s *Sessions) Spend(ctx context.Context, linkID string, expires time.Time) (bool, error) {
	ttl := time.Until(expires) + 24*time.Hour
	ok, err := s.rdb.SetNX(ctx, s.prefix+"spent:"+linkID, s.now().UTC().Format(time.RFC3339), ttl).Result()
	if err != nil {
		return false, fmt.Errorf("redisconnect: spend link %s: %w", linkID, err)
	}
	return ok, nil
}

// Unspend implements connect.Sessions.
func (s *Sessions) Unspend(ctx context.Context, linkID string) error {
	if err := s.rdb.Del(ctx, s.prefix+"spent:"+linkID).Err(); err != nil {
		return fmt.Errorf("redisconnect: unspend link %s: %w", linkID, err)
	}
	return nil
}

// Spent implements connect.Sessions.
func (s *Sessions) Spent(ctx context.Context, linkID string) (bool, error) {
	n, err := s.rdb.Exists(ctx, s.prefix+"spent:"+linkID).Result()
	if err != nil {
		return false, fmt.Errorf("redisconnect: read link %s: %w", linkID, err)
	}
	return n == 1, nil
}
