package redislock

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"tether/sync/connections"
	"tether/worker/redisstash"
	"tether/worker/redistest"
)

const testDB = 10

func TestMutualExclusionUnderContention(t *testing.T) {
	_, rdb := redistest.Client(t, testDB)
	l := New(rdb, "test:")
	l.Poll = time.Millisecond
	ctx := context.Background()

	var inside, maxInside, done atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lk, err := l.Acquire(ctx, "conn-1", time.Second, 5*time.Second)
			if err != nil {
				t.Errorf("acquire: %v", err)
				return
			}
			n := inside.Add(1)
			for {
				m := maxInside.Load()
				if n <= m || maxInside.CompareAndSwap(m, n) {
					break
				}
			}
			time.Sleep(2 * time.Millisecond)
			inside.Add(-1)
			done.Add(1)
			if err := lk.Release(ctx); err != nil {
				t.Errorf("release: %v", err)
			}
		}()
	}
	wg.Wait()
	if maxInside.Load() != 1 || done.Load() != 8 {
		t.Fatalf("max holders at once = %d, finished = %d; want 1 and 8", maxInside.Load(), done.Load())
	}
}

func TestLapsedHolderCannotReleaseSuccessor(t *testing.T) {
	_, rdb := redistest.Client(t, testDB)
	l := New(rdb, "test:")
	ctx := context.Background()

	first, err := l.Acquire(ctx, "k", 30*time.Millisecond, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Acquire(ctx, "k", time.Second, 0); !errors.Is(err, ErrNotAcquired) {
		t.Fatalf("second acquire while held: %v, want ErrNotAcquired", err)
	}
	// Let the first lease lapse by Redis' clock, then a successor takes it.
	var second *Lock
	for deadline := time.Now().Add(2 * time.Second); second == nil; {
		second, err = l.Acquire(ctx, "k", time.Second, 0)
		if err != nil && time.Now().After(deadline) {
			t.Fatalf("successor never acquired: %v", err)
		}
	}
	if err := first.Release(ctx); !errors.Is(err, ErrLost) {
		t.Fatalf("lapsed release: %v, want ErrLost", err)
	}
	if err := first.Extend(ctx, time.Second); !errors.Is(err, ErrLost) {
		t.Fatalf("lapsed extend: %v, want ErrLost", err)
	}
	if v, _ := rdb.Get(ctx, "test:{k}").Result(); v != second.owner {
		t.Fatal("successor's lock was disturbed by the lapsed holder")
	}
	if err := second.Extend(ctx, 2*time.Second); err != nil {
		t.Fatalf("holder extend: %v", err)
	}
	if err := second.Release(ctx); err != nil {
		t.Fatalf("holder release: %v", err)
	}
}

func TestAcquireHonoursContext(t *testing.T) {
	_, rdb := redistest.Client(t, testDB)
	l := New(rdb, "test:")
	if _, err := l.Acquire(context.Background(), "k", time.Minute, 0); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := l.Acquire(ctx, "k", time.Minute, time.Minute); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("acquire with expiring ctx: %v, want DeadlineExceeded", err)
	}
}

// Every acquisition of a key gets a higher fencing token than the one before,
// including after the fence key itself is lost, and knows the one before (0 when the
// key was never taken or its fence key was lost), through Acquire and LockAndGet alike.
func TestFenceGrowsWithEveryAcquisition(t *testing.T) {
	_, rdb := redistest.Client(t, testDB)
	l := NewWithStash(rdb, "test:", redisstash.New(rdb, "stash:"))
	ctx := context.Background()
	var last int64
	for i := 0; i < 6; i++ {
		if i == 3 {
			if err := rdb.Del(ctx, "test:{k}:fence").Err(); err != nil {
				t.Fatal(err)
			}
		}
		var fence, prev int64
		var release func() error
		if i%2 == 0 {
			lk, err := l.Acquire(ctx, "k", time.Second, 0)
			if err != nil {
				t.Fatal(err)
			}
			fence, prev, release = lk.Fence(), lk.Preceded(), func() error { return lk.Release(ctx) }
		} else {
			ls, _, err := l.LockAndGet(ctx, "k", "s")
			if err != nil {
				t.Fatal(err)
			}
			pl, ok := ls.(connections.PrecededLease)
			if !ok {
				t.Fatalf("LockAndGet's lease %T does not tell the previous fence", ls)
			}
			fence, prev, release = pl.Fence(), pl.Preceded(), func() error { ls.Unlock(); return nil }
		}
		if fence <= last {
			t.Fatalf("acquisition %d got fence %d, not above the previous %d", i, fence, last)
		}
		want := last
		if i == 3 {
			want = 0 // the fence key was lost
		}
		if prev != want {
			t.Fatalf("acquisition %d says the previous fence was %d, want %d", i, prev, want)
		}
		last = fence
		if err := release(); err != nil {
			t.Fatal(err)
		}
	}
}

// Invariant 2: a lease held through Lock is renewed while its holder runs, so
// a provider call slower than the TTL keeps the lock; once the key is gone
// (failover, a paused holder) Held says so.
func TestLockRenewsTheLeaseUntilUnlock(t *testing.T) {
	_, rdb := redistest.Client(t, testDB)
	l := New(rdb, "test:")
	// Renewed every TTL/3: the TTL must outlast a renewal goroutine starved by a loaded
	// 2-core CI machine under -race (90 ms lapsed there).
	l.TTL, l.Poll = 600*time.Millisecond, time.Millisecond
	ctx := context.Background()
	lease, err := l.Lock(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(4 * l.TTL)
	if err := lease.Held(ctx); err != nil {
		t.Fatalf("lease after 4 TTLs of holding: %v, want held", err)
	}
	if _, err := l.Acquire(ctx, "k", time.Second, 0); !errors.Is(err, ErrNotAcquired) {
		t.Fatalf("second acquire while the lease is renewed: %v, want ErrNotAcquired", err)
	}
	if err := rdb.Del(ctx, "test:{k}").Err(); err != nil {
		t.Fatal(err)
	}
	if err := lease.Held(ctx); !errors.Is(err, ErrLost) {
		t.Fatalf("lease after its key vanished: %v, want ErrLost", err)
	}
	next, err := l.Lock(ctx, "k")
	if err != nil {
		t.Fatalf("lock after the lease was lost: %v", err)
	}
	if next.Fence() <= lease.Fence() {
		t.Fatalf("successor fence %d not above %d", next.Fence(), lease.Fence())
	}
	lease.Unlock() // the lapsed holder must not release its successor
	if err := next.Held(ctx); err != nil {
		t.Fatalf("successor after the lapsed holder unlocked: %v", err)
	}
	next.Unlock()
	if n, _ := rdb.Exists(ctx, "test:{k}").Result(); n != 0 {
		t.Fatal("Unlock left the lock key behind")
	}
}
