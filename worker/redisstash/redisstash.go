// Package redisstash keeps small sealed values in Redis for a while: the
// connections service parks a refreshed token set here when the database
// refuses every write, so the next attempt still finds it (ARCHITECTURE.md,
// invariant 1). It stores only what it is given, which is already encrypted.
package redisstash

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Stash is a key-value store with a TTL. Safe for concurrent use.
type Stash struct {
	rdb    redis.UniversalClient
	prefix string
	// TTL is how long a value is kept. Zero means 30 days: a parked Salesforce
	// token set must outlive an outage and the refresh-token idle window.
	TTL time.Duration
}

// New returns a Stash whose keys start with prefix.
func New(rdb redis.UniversalClient, prefix string) *Stash {
	return &Stash{rdb: rdb, prefix: prefix}
}

// Key is the Redis key holding key's value.
func (s *Stash) Key(key string) string { return s.prefix + key }

// On reports whether the stash lives on rdb (the same client).
func (s *Stash) On(rdb redis.UniversalClient) bool { return s.rdb == rdb }

// Put stores value under key, replacing any earlier value.
func (s *Stash) Put(ctx context.Context, key string, value []byte) error {
	ttl := s.TTL
	if ttl <= 0 {
		ttl = 30 * 24 * time.Hour
	}
	if err := s.rdb.Set(ctx, s.prefix+key, value, ttl).Err(); err != nil {
		return fmt.Errorf("redisstash: put %s: %w", key, err)
	}
	return nil
}

// Get returns the value under key, or nil, nil when there is none.
func (s *Stash) Get(ctx context.Context, key string) ([]byte, error) {
	v, err := s.rdb.Get(ctx, s.prefix+key).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("redisstash: get %s: %w", key, err)
	}
	return v, nil
}

// Delete removes key; a missing key is not an error.
func (s *Stash) Delete(ctx context.Context, key string) error {
	if err := s.rdb.Del(ctx, s.prefix+key).Err(); err != nil {
		return fmt.Errorf("redisstash: delete %s: %w", key, err)
	}
	return nil
}

// Swap stores value under key and returns what was there (nil when nothing), in one
// round trip (SET … GET).
func (s *Stash) Swap(ctx context.Context, key string, value []byte) ([]byte, error) {
	ttl := s.TTL
	if ttl <= 0 {
		ttl = 30 * 24 * time.Hour
	}
	v, err := s.rdb.SetArgs(ctx, s.prefix+key, value, redis.SetArgs{TTL: ttl, Get: true}).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("redisstash: swap %s: %w", key, err)
	}
	return v, nil
}

// DeleteAll removes keys in one round trip (one per node on a Redis Cluster); missing keys
// are not an error. One DEL per key, pipelined: a single DEL naming keys of different hash
// slots is refused by a Cluster (CROSSSLOT), which left a used pending set behind.
func (s *Stash) DeleteAll(ctx context.Context, keys ...string) error {
	if len(keys) == 0 {
		return nil
	}
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, k := range keys {
			p.Del(ctx, s.prefix+k)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("redisstash: delete %v: %w", keys, err)
	}
	return nil
}
