package redislock

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"tether/worker/redisstash"
	"tether/worker/redistest"
)

// coalesced is a Locker and Stash on the autopipelined client tether wires (Coalesced),
// with a hook on the client under it counting what goes to Redis.
func coalesced(t *testing.T) (*Locker, *redisstash.Stash, *redis.Client, *trips) {
	t.Helper()
	_, rdb := redistest.Client(t, testDB)
	c, err := Coalesced(rdb)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := c.(*redis.AutoPipeliner); !ok {
		t.Fatalf("Coalesced on a single Redis returned %T, want an autopipeliner", c)
	}
	t.Cleanup(func() { _ = c.Close() })
	st := redisstash.New(c, "stash:")
	l := NewWithStash(c, "lock:", st)
	l.Poll = time.Millisecond
	rt := &trips{}
	rdb.AddHook(rt)
	return l, st, rdb, rt
}

// Through the autopipeliner the lock keeps its promises: one holder at a time under
// contention, fences that rise with every acquisition, and the next holder reads what the
// previous one stashed before letting go.
func TestCoalescedKeepsExclusionFencingAndTheStash(t *testing.T) {
	l, st, _, _ := coalesced(t)
	ctx := context.Background()
	var inside, maxInside atomic.Int32
	var mu sync.Mutex
	var fences []int64
	var wrong []string
	var wg sync.WaitGroup
	for i := range 24 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ls, v, err := l.LockAndGet(ctx, "connection:x", "pending-token:x")
			if err != nil {
				t.Errorf("acquire: %v", err)
				return
			}
			n := inside.Add(1)
			for m := maxInside.Load(); n > m && !maxInside.CompareAndSwap(m, n); m = maxInside.Load() {
			}
			mu.Lock()
			// Each holder stashes its number and the next must read the last one written.
			if want := fmt.Sprint(len(fences) - 1); len(fences) > 0 && string(v) != want {
				wrong = append(wrong, fmt.Sprintf("holder %d read %q, want %q", len(fences), v, want))
			}
			fences = append(fences, ls.Fence())
			next := fmt.Sprint(len(fences) - 1)
			mu.Unlock()
			if err := st.Put(ctx, "pending-token:x", []byte(next)); err != nil {
				t.Error(err)
			}
			time.Sleep(time.Duration(i%3) * time.Millisecond)
			inside.Add(-1)
			ls.Unlock()
		}()
	}
	wg.Wait()
	if maxInside.Load() != 1 || len(fences) != 24 || len(wrong) > 0 {
		t.Fatalf("max holders at once %d, acquisitions %d, stash reads wrong: %v; want 1, 24, none", maxInside.Load(), len(fences), wrong)
	}
	for i := 1; i < len(fences); i++ {
		if fences[i] <= fences[i-1] {
			t.Fatalf("fences in acquisition order %v do not rise", fences)
		}
	}
}

// DeleteOnUnlock's keys are gone before the lock is free: a holder waiting for the lock
// never reads a key the previous holder had DeleteOnUnlock remove.
func TestCoalescedDeletesBeforeTheRelease(t *testing.T) {
	l, st, _, _ := coalesced(t)
	ctx := context.Background()
	for i := range 30 {
		key, sk := fmt.Sprintf("connection:%d", i), fmt.Sprintf("pending-token:%d", i)
		first, _, err := l.LockAndGet(ctx, key, sk)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Put(ctx, sk, []byte("applied")); err != nil {
			t.Fatal(err)
		}
		got := make(chan []byte, 1)
		go func() {
			second, v, err := l.LockAndGet(ctx, key, sk)
			if err != nil {
				t.Errorf("round %d: %v", i, err)
				got <- nil
				return
			}
			second.Unlock()
			got <- v
		}()
		time.Sleep(time.Duration(i%3) * time.Millisecond)
		first.(interface{ DeleteOnUnlock(...string) }).DeleteOnUnlock(sk, "refresh-inflight:"+key)
		first.Unlock()
		if v := <-got; v != nil {
			t.Fatalf("round %d: the next holder read %q, deleted by the previous one's Unlock", i, v)
		}
	}
}

// What the autopipeliner is for: the calls of concurrent lock cycles go to Redis in
// shared batches, far fewer trips than calls.
func TestCoalescedSharesTrips(t *testing.T) {
	l, st, _, rt := coalesced(t)
	ctx := context.Background()
	const cycles = 200
	var calls atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range cycles {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			id := fmt.Sprint(i)
			ls, _, err := l.LockAndGet(ctx, "connection:"+id, "pending-token:"+id) // 2 calls
			if err != nil {
				t.Error(err)
				return
			}
			if _, err := st.Swap(ctx, "refresh-inflight:"+id, []byte("m")); err != nil { // 1
				t.Error(err)
			}
			if err := ls.Held(ctx); err != nil { // 1
				t.Error(err)
			}
			ls.(interface{ DeleteOnUnlock(...string) }).DeleteOnUnlock("pending-token:"+id, "refresh-inflight:"+id)
			ls.Unlock() // 2: the DEL, the release
			calls.Add(6)
		}()
	}
	rt.mu.Lock()
	rt.sent = nil
	rt.mu.Unlock()
	close(start)
	wg.Wait()
	rt.mu.Lock()
	defer rt.mu.Unlock()
	sent := 0
	for _, trip := range rt.sent {
		sent += len(trip)
	}
	if calls.Load() != 6*cycles || sent < 6*cycles {
		t.Fatalf("%d calls made, %d commands seen by the client; want %d of each at least", calls.Load(), sent, 6*cycles)
	}
	if len(rt.sent) > sent/3 {
		t.Fatalf("%d commands in %d trips to Redis: want them shared, at least 3 a trip on average", sent, len(rt.sent))
	}
	t.Logf("%d commands in %d trips", sent, len(rt.sent))
}
