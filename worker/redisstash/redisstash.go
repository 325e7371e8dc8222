// Package redisstash keeps small sealed values in Redis for a while: the
// connections service parks a refreshed token set here when the database
// refuses every write, so the next attempt still finds it (ARCHITECTURE.md,
// invariant 1). It stores only what it is given, which is already encrypted.
package redisstash

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
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
	var err error
	if _, ok := s.rdb.(*redis.AutoPipeliner); ok {
		// One DEL: an autopipeliner is made on a single Redis only (no slots), and its
		// Pipelined would leave the shared batches for a connection of its own.
		full := make([]string, len(keys))
		for i, k := range keys {
			full[i] = s.prefix + k
		}
		err = s.rdb.Del(ctx, full...).Err()
	} else {
		_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, k := range keys {
				p.Del(ctx, s.prefix+k)
			}
			return nil
		})
	}
	if err != nil {
		return fmt.Errorf("redisstash: delete %v: %w", keys, err)
	}
	return nil
}

// Each calls fn with every key starting with prefix (without the stash's own prefix) and
// its value, found by SCAN (never KEYS: the stash shares Redis with the queues), on every
// primary of a Redis Cluster. A key gone between the scan and its read is skipped, and a
// key the scan returns twice is passed once. fn is never called concurrently; its error
// stops the walk.
func (s *Stash) Each(ctx context.Context, prefix string, fn func(key string, value []byte) error) error {
	match := globEscaper.Replace(s.prefix+prefix) + "*"
	var mu sync.Mutex
	seen := map[string]bool{}
	scan := func(ctx context.Context, c redis.Cmdable) error {
		iter := c.Scan(ctx, 0, match, 500).Iterator()
		for iter.Next(ctx) {
			full := iter.Val()
			// On a Cluster c is the primary holding the key's slot, so the read goes there.
			v, err := c.Get(ctx, full).Bytes()
			if errors.Is(err, redis.Nil) {
				continue
			}
			if err != nil {
				return fmt.Errorf("redisstash: read %s: %w", strings.TrimPrefix(full, s.prefix), err)
			}
			mu.Lock()
			dup := seen[full]
			seen[full] = true
			if !dup {
				err = fn(strings.TrimPrefix(full, s.prefix), v)
			}
			mu.Unlock()
			if err != nil {
				return err
			}
		}
		if err := iter.Err(); err != nil {
			return fmt.Errorf("redisstash: scan %s*: %w", prefix, err)
		}
		return nil
	}
	if cc, ok := s.rdb.(*redis.ClusterClient); ok {
		return cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error { return scan(ctx, c) })
	}
	return scan(ctx, s.rdb)
}

var globEscaper = strings.NewReplacer(`\`, `\\`, `*`, `\*`, `?`, `\?`, `[`, `\[`, `]`, `\]`)

// replaceScript swaps a key's value only while it is still the one read, keeping its
// expiry; one key, so a Cluster runs it on the key's own node.
var replaceScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
local ttl = redis.call('PTTL', KEYS[1])
if ttl > 0 then redis.call('SET', KEYS[1], ARGV[2], 'PX', ttl) else redis.call('SET', KEYS[1], ARGV[2]) end
return 1`)

// Replace writes next under key if it still holds old, keeping the key's expiry; false
// when it does not (deleted or replaced meanwhile, e.g. by a refresh that used it).
func (s *Stash) Replace(ctx context.Context, key string, old, next []byte) (bool, error) {
	n, err := replaceScript.Run(ctx, s.rdb, []string{s.prefix + key}, old, next).Int()
	if err != nil {
		return false, fmt.Errorf("redisstash: replace %s: %w", key, err)
	}
	return n == 1, nil
}
