// Package redislock is a lease lock on Redis with an owner token.
//
// A lock is a key set with NX and a millisecond TTL whose value is a random
// owner token; release and extend are compare-and-act scripts, so a holder
// whose lease lapsed can never delete or stretch its successor's lock. Every
// acquisition also gets a fencing token that grows with each acquisition of
// the key. The lease alone is not enough for correctness (a paused holder
// wakes up after its lease lapsed): callers pair it with a fencing check on
// the data they write (tether stores the token on the connection row).
package redislock

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"tether/sync/connections"
	"tether/worker/redisstash"
)

// ErrNotAcquired means another holder kept the lock for the whole wait.
var ErrNotAcquired = errors.New("redislock: lock held by another owner")

// ErrLost means the lease lapsed and someone else may hold the lock now.
var ErrLost = errors.New("redislock: lease lost")

var (
	// acquireScript sets the lock and returns the next fencing token (0 when the lock is
	// held), the previous acquisition's token (0 when the fence key is gone), and KEYS[3]'s
	// value (false: none) as it is once the lock is taken, when KEYS[3] is given
	// (LockAndGet's one command on a single Redis). The token is at least Redis' clock in
	// microseconds, so it keeps growing even if the fence key is lost (eviction, failover,
	// flush).
	acquireScript = redis.NewScript(`
if not redis.call("SET", KEYS[1], ARGV[1], "NX", "PX", ARGV[2]) then return {0} end
local t = redis.call("TIME")
local prev = tonumber(redis.call("GET", KEYS[2]) or "0")
local f = math.max(tonumber(t[1]) * 1000000 + tonumber(t[2]), prev + 1)
redis.call("SET", KEYS[2], string.format("%d", f), "PX", ARGV[3])
if KEYS[3] then return {f, prev, redis.call("GET", KEYS[3])} end
return {f, prev}`)
	// releaseDelScript deletes KEYS[2..] whoever holds the lock, then releases KEYS[1]
	// if ARGV[1] holds it; Unlock's one command on a single Redis.
	releaseDelScript = redis.NewScript(`
for i = 2, #KEYS do redis.call("DEL", KEYS[i]) end
if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) end return 0`)
	heldScript    = redis.NewScript(`if redis.call("GET", KEYS[1]) == ARGV[1] then return 1 end return 0`)
	releaseScript = redis.NewScript(`if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) end return 0`)
	extendScript  = redis.NewScript(`if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("PEXPIRE", KEYS[1], ARGV[2]) end return 0`)
)

// Locker hands out locks under a key prefix. Safe for concurrent use.
type Locker struct {
	rdb    redis.UniversalClient
	prefix string
	// Poll is how often Acquire retries while waiting. Zero means 25ms.
	Poll time.Duration
	// TTL and Wait are what Lock uses. Zero means 60s and 30s. Lock renews the
	// lease every TTL/3 while it is held, so a provider call slower than the TTL
	// keeps it; only a holder that stops running (or loses Redis for a whole
	// TTL) loses it.
	TTL, Wait time.Duration
	// Stash, when set, is the stash LockAndGet reads. On a single Redis (not a
	// Cluster) that read rides in the round trip that takes the lock; it must be on
	// the same Redis as the lock, which Reads checks.
	Stash *redisstash.Stash
}

// fenceTTL keeps a key's last fencing token well past any lease.
const fenceTTL = 30 * 24 * time.Hour

// New returns a Locker whose keys start with prefix (e.g. "tether:lock:").
func New(rdb redis.UniversalClient, prefix string) *Locker {
	return &Locker{rdb: rdb, prefix: prefix}
}

// NewWithStash is New with s as the Stash LockAndGet reads (s must be on rdb): the
// connections service then reads a stashed pending set in the round trip taking the lock.
func NewWithStash(rdb redis.UniversalClient, prefix string, s *redisstash.Stash) *Locker {
	l := New(rdb, prefix)
	l.Stash = s
	return l
}

// Lock is a held lease.
type Lock struct {
	l     *Locker
	key   string
	owner string
	fence int64
	prev  int64
}

// Fence is the lock's fencing token: higher than that of every earlier
// acquisition of the same key.
func (lk *Lock) Fence() int64 { return lk.fence }

// Preceded is the fencing token of the acquisition of the same key just before this
// one, or 0 when Redis kept none (the key was never taken, or its fence key was lost).
func (lk *Lock) Preceded() int64 { return lk.prev }

// Acquire takes the lock named key for ttl, waiting up to wait for a holder
// to let go. Returns ErrNotAcquired when the wait ends first, or the
// context's error.
func (l *Locker) Acquire(ctx context.Context, key string, ttl, wait time.Duration) (*Lock, error) {
	lk, _, err := l.acquire(ctx, key, "", ttl, wait)
	return lk, err
}

// acquire is Acquire; with getKey set, the command that takes the lock also returns
// getKey's value as it is then (nil when none), which needs every key on one Redis.
func (l *Locker) acquire(ctx context.Context, key, getKey string, ttl, wait time.Duration) (*Lock, []byte, error) {
	if ttl < time.Millisecond {
		return nil, nil, fmt.Errorf("redislock: ttl %v is below 1ms", ttl)
	}
	owner, err := token()
	if err != nil {
		return nil, nil, err
	}
	poll := l.Poll
	if poll <= 0 {
		poll = 25 * time.Millisecond
	}
	deadline := time.Now().Add(wait)
	// The hash tag keeps the lock and its fence in one Redis Cluster slot.
	full := l.prefix + "{" + key + "}"
	keys, args := []string{full, full + ":fence"}, []any{owner, ttl.Milliseconds(), fenceTTL.Milliseconds()}
	if getKey != "" {
		keys = append(keys, getKey)
	}
	for {
		fence, prev, v, err := l.try(ctx, keys, args)
		if err != nil {
			return nil, nil, fmt.Errorf("redislock: acquire %s: %w", key, err)
		}
		if fence > 0 {
			return &Lock{l: l, key: full, owner: owner, fence: fence, prev: prev}, v, nil
		}
		if !time.Now().Add(poll).Before(deadline) {
			return nil, nil, ErrNotAcquired
		}
		t := time.NewTimer(poll)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, nil, ctx.Err()
		case <-t.C:
		}
	}
}

// try runs one acquisition: the fence (0 when another holds the lock), the previous
// acquisition's and, with a third key, that key's value.
func (l *Locker) try(ctx context.Context, keys []string, args []any) (fence, prev int64, v []byte, err error) {
	res, err := acquireScript.Run(ctx, l.rdb, keys, args...).Slice()
	if err != nil {
		return 0, 0, nil, err
	}
	fence, ok := res[0].(int64)
	if !ok {
		return 0, 0, nil, fmt.Errorf("acquire script answered %T", res[0])
	}
	if fence == 0 {
		return 0, 0, nil, nil
	}
	if len(res) < 2 {
		return 0, 0, nil, fmt.Errorf("acquire script answered %d values", len(res))
	}
	if prev, ok = res[1].(int64); !ok {
		return 0, 0, nil, fmt.Errorf("acquire script answered %T for the previous fence", res[1])
	}
	if len(res) < 3 || res[2] == nil {
		return fence, prev, nil, nil
	}
	s, ok := res[2].(string)
	if !ok {
		return 0, 0, nil, fmt.Errorf("acquire script read %T", res[2])
	}
	return fence, prev, []byte(s), nil
}

// Lock takes key with the Locker's TTL and Wait and renews the lease until
// it is unlocked; the shape the connections service declares.
func (l *Locker) Lock(ctx context.Context, key string) (connections.Lease, error) {
	ttl, wait := l.timings()
	lk, err := l.Acquire(ctx, key, ttl, wait)
	if err != nil {
		return nil, err
	}
	return l.leased(lk, ttl), nil
}

func (l *Locker) timings() (ttl, wait time.Duration) {
	ttl, wait = l.TTL, l.Wait
	if ttl <= 0 {
		ttl = 60 * time.Second
	}
	if wait <= 0 {
		wait = 30 * time.Second
	}
	return ttl, wait
}

func (l *Locker) leased(lk *Lock, ttl time.Duration) *lease {
	ls := &lease{Lock: lk, ttl: ttl, renewed: time.Now()}
	ls.mu.Lock()
	ls.timer = time.AfterFunc(ttl/3, ls.renew)
	ls.mu.Unlock()
	return ls
}

var _ connections.StashLocker = (*Locker)(nil)

// Reads reports whether LockAndGet reads s: s is the Locker's Stash.
func (l *Locker) Reads(s connections.Stash) bool {
	rs, ok := s.(*redisstash.Stash)
	return ok && l.Stash != nil && rs == l.Stash
}

// LockAndGet is Lock, then the Stash's value under stashKey (nil when none) as it is
// once the lock is held. On a single Redis (a client, an autopipeliner or Sentinel's) one
// script takes the lock and reads the value, atomically: the read sees every write made
// before the lock was taken, as a GET sent after it would. On a Cluster (the stash key is
// in another slot) or with a Stash on another client it takes two round trips, the GET
// once the lock is held.
func (l *Locker) LockAndGet(ctx context.Context, key, stashKey string) (connections.Lease, []byte, error) {
	if l.Stash == nil {
		return nil, nil, errors.New("redislock: LockAndGet needs the Locker's Stash")
	}
	ttl, wait := l.timings()
	if !l.oneNode() {
		lk, err := l.Acquire(ctx, key, ttl, wait)
		if err != nil {
			return nil, nil, err
		}
		v, err := l.Stash.Get(ctx, stashKey)
		if err != nil {
			_ = lk.Release(context.WithoutCancel(ctx))
			return nil, nil, err
		}
		return l.leased(lk, ttl), v, nil
	}
	lk, v, err := l.acquire(ctx, key, l.Stash.Key(stashKey), ttl, wait)
	if err != nil {
		return nil, nil, err
	}
	return l.leased(lk, ttl), v, nil
}

// oneNode: the Locker's client is a single Redis, not a Cluster, and the Stash is on it,
// so one script may touch both the lock's keys and the Stash's.
func (l *Locker) oneNode() bool {
	if l.Stash == nil || !l.Stash.On(l.rdb) {
		return false
	}
	switch l.rdb.(type) {
	case *redis.Client, *redis.AutoPipeliner:
		return true
	}
	return false
}

// lease is a Lock renewed in the background until Unlock.
// The renewal is a timer, not a goroutine waiting on a ticker: most leases are held for
// one provider call, well under a renewal period, and a goroutine, a ticker and two
// channels per lease were a measurable share of a refresh's CPU.
type lease struct {
	*Lock
	ttl      time.Duration
	once     sync.Once
	mu       sync.Mutex
	timer    *time.Timer
	renewed  time.Time      // last successful acquisition or extension
	stopped  bool           // Unlock began: no renewal starts
	renewing sync.WaitGroup // a renewal running
	lost     error
	del      []string // Stash keys Unlock deletes first
}

var _ connections.StashLease = (*lease)(nil)

// DeleteOnUnlock has Unlock delete keys of the Locker's Stash before it releases the
// lock: on a single Redis in the release's own script, else just before it. Without a Stash it
// does nothing.
func (ls *lease) DeleteOnUnlock(keys ...string) {
	if ls.l.Stash == nil {
		return
	}
	ls.mu.Lock()
	ls.del = append(ls.del, keys...)
	ls.mu.Unlock()
}

// renew extends the lease, every ttl/3 (the timer calls it). A failed extension is
// retried until the lease would have lapsed anyway; ErrLost ends it at once.
func (ls *lease) renew() {
	ls.mu.Lock()
	if ls.stopped {
		ls.mu.Unlock()
		return
	}
	ls.renewing.Add(1)
	ls.mu.Unlock()
	defer ls.renewing.Done()
	ctx, cancel := context.WithTimeout(context.Background(), ls.ttl/3)
	err := ls.Extend(ctx, ls.ttl)
	cancel()
	ls.mu.Lock()
	defer ls.mu.Unlock()
	switch {
	case err == nil:
		ls.renewed = time.Now()
	case !errors.Is(err, ErrLost) && time.Since(ls.renewed) < ls.ttl:
	default:
		ls.lost = err
		return
	}
	if !ls.stopped {
		ls.timer.Reset(ls.ttl / 3)
	}
}

// Held returns nil while this owner still holds the lock, ErrLost otherwise.
func (ls *lease) Held(ctx context.Context) error {
	ls.mu.Lock()
	lost := ls.lost
	ls.mu.Unlock()
	if errors.Is(lost, ErrLost) {
		return lost
	}
	if lost != nil {
		return fmt.Errorf("%w: not renewed: %v", ErrLost, lost)
	}
	n, err := heldScript.Run(ctx, ls.l.rdb, []string{ls.key}, ls.owner).Int()
	if err != nil {
		return fmt.Errorf("redislock: check lease: %w", err)
	}
	if n == 0 {
		return ErrLost
	}
	return nil
}

// Unlock stops the renewal and releases the lock, on a fresh context: the
// caller's may be cancelled by then, and a lock left behind would block the
// next attempt for a whole TTL. Safe to call more than once.
func (ls *lease) Unlock() {
	ls.once.Do(func() {
		ls.mu.Lock()
		ls.stopped = true
		ls.timer.Stop()
		ls.mu.Unlock()
		ls.renewing.Wait() // an extension under way ends before the release
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		ls.mu.Lock()
		del := ls.del
		ls.mu.Unlock()
		if len(del) == 0 {
			_ = ls.Release(ctx)
			return
		}
		if !ls.l.oneNode() {
			// A Cluster (the keys are in other slots): the DELs first, then the release.
			_ = ls.l.Stash.DeleteAll(ctx, del...)
			_ = ls.Release(ctx)
			return
		}
		keys := []string{ls.key}
		for _, k := range del {
			keys = append(keys, ls.l.Stash.Key(k))
		}
		_ = releaseDelScript.Run(ctx, ls.l.rdb, keys, ls.owner).Err()
	})
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

// Coalesced returns the client a Locker and the Stash it reads should share: on a single
// Redis (or Sentinel) an autopipeliner, which sends the small calls of concurrent callers
// (acquisitions, lease checks, releases, the stash's reads and swaps) over one connection,
// many to a write; a refresh makes four of them in turn, and at a worker's concurrency
// their system calls were a third of its CPU. It runs full duplex: a call is written as
// soon as the writer is free and its answer read as soon as it comes, instead of waiting
// for the batch before it to be answered; at concurrency 100 a call took 0.45 ms instead
// of 0.7. A Cluster client is returned as it is. Close the returned client before rdb
// (closing rdb also stops it).
func Coalesced(rdb redis.UniversalClient) (redis.UniversalClient, error) {
	c, ok := rdb.(*redis.Client)
	if !ok {
		return rdb, nil
	}
	opt := redis.DefaultBlockingAutoPipelineOptions()
	opt.FullDuplex = true
	ap, err := c.AutoPipelineWithOptions(opt)
	if err != nil {
		return nil, fmt.Errorf("redislock: autopipeline: %w", err)
	}
	return ap, nil
}

func token() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("redislock: owner token: %w", err)
	}
	return hex.EncodeToString(b), nil
}
