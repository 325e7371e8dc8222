// Package redislock is a lease lock on Redis with an owner token.
//
// A lock is a key set with NX and a millisecond TTL whose value is a random
// owner token; release and extend are compare-and-act scripts, so a holder
// whose lease lapsed can never delete or stretch its successor's lock. The
// lease alone is not enough for correctness: callers pair it with a fencing
// check on the data they write (tether uses the connection row's version).
package redislock

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrNotAcquired means another holder kept the lock for the whole wait.
var ErrNotAcquired = errors.New("redislock: lock held by another owner")

// ErrLost means the lease lapsed and someone else may hold the lock now.
var ErrLost = errors.New("redislock: lease lost")

var (
	releaseScript = redis.NewScript(`if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) end return 0`)
	extendScript  = redis.NewScript(`if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("PEXPIRE", KEYS[1], ARGV[2]) end return 0`)
)

// Locker hands out locks under a key prefix. Safe for concurrent use.
type Locker struct {
	rdb    redis.UniversalClient
	prefix string
	// Poll is how often Acquire retries while waiting. Zero means 25ms.
	Poll time.Duration
	// TTL and Wait are what Lock uses. Zero means 60s and 30s: the lease must
	// outlive a slow provider call (two token-endpoint timeouts).
	TTL, Wait time.Duration
}

// New returns a Locker whose keys start with prefix (e.g. "tether:lock:").
func New(rdb redis.UniversalClient, prefix string) *Locker {
	return &Locker{rdb: rdb, prefix: prefix}
}

// Lock is a held lease.
type Lock struct {
	l     *Locker
	key   string
	owner string
}

// Acquire takes the lock named key for ttl, waiting up to wait for a holder
// to let go. Returns ErrNotAcquired when the wait ends first, or the
// context's error.
func (l *Locker) Acquire(ctx context.Context, key string, ttl, wait time.Duration) (*Lock, error) {
	if ttl < time.Millisecond {
		return nil, fmt.Errorf("redislock: ttl %v is below 1ms", ttl)
	}
	owner, err := token()
	if err != nil {
		return nil, err
	}
	poll := l.Poll
	if poll <= 0 {
		poll = 25 * time.Millisecond
	}
	deadline := time.Now().Add(wait)
	full := l.prefix + key
	for {
		ok, err := l.rdb.SetNX(ctx, full, owner, ttl).Result()
		if err != nil {
			return nil, fmt.Errorf("redislock: acquire %s: %w", key, err)
		}
		if ok {
			return &Lock{l: l, key: full, owner: owner}, nil
		}
		if !time.Now().Add(poll).Before(deadline) {
			return nil, ErrNotAcquired
		}
		t := time.NewTimer(poll)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
	}
}

// Lock takes key with the Locker's TTL and Wait and returns the function
// that releases it; the shape sync packages declare, so they need not know
// this package.
func (l *Locker) Lock(ctx context.Context, key string) (unlock func(), err error) {
	ttl, wait := l.TTL, l.Wait
	if ttl <= 0 {
		ttl = 60 * time.Second
	}
	if wait <= 0 {
		wait = 30 * time.Second
	}
	lk, err := l.Acquire(ctx, key, ttl, wait)
	if err != nil {
		return nil, err
	}
	// Release on a fresh context: the caller's may be cancelled by then, and
	// a lock left behind would block the next attempt for a whole TTL.
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = lk.Release(ctx)
	}, nil
}

// Release lets go of the lock if this owner still holds it. Returns ErrLost
// when the lease had already lapsed.
func (lk *Lock) Release(ctx context.Context) error {
	n, err := releaseScript.Run(ctx, lk.l.rdb, []string{lk.key}, lk.owner).Int()
	if err != nil {
		return fmt.Errorf("redislock: release: %w", err)
	}
	if n == 0 {
		return ErrLost
	}
	return nil
}

// Extend renews the lease to ttl from now. Returns ErrLost if another owner
// has it or it lapsed.
func (lk *Lock) Extend(ctx context.Context, ttl time.Duration) error {
	n, err := extendScript.Run(ctx, lk.l.rdb, []string{lk.key}, lk.owner, ttl.Milliseconds()).Int()
	if err != nil {
		return fmt.Errorf("redislock: extend: %w", err)
	}
	if n == 0 {
		return ErrLost
	}
	return nil
}

func token() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("redislock: owner token: %w", err)
	}
	return hex.EncodeToString(b), nil
}
