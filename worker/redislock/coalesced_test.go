package redislock

import (
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"tether/worker/redisstash"
	"tether/worker/redistest"
)

// coalesced is a Locker and Stash on the autopipelined client tether wires (Coalesced),
// over connections that count their writes to Redis.
func coalesced(t *testing.T) (*Locker, *redisstash.Stash, *writes) {
	t.Helper()
	opt, _ := redistest.Client(t, testDB)
	w := &writes{}
	var d net.Dialer
	rdb := redis.NewClient(&redis.Options{Addr: opt.Addr, DB: opt.DB,
		Dialer: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			w.dials.Add(1)
			return &countedConn{Conn: c, w: w}, nil
		}})
	t.Cleanup(func() { _ = rdb.Close() })
	l, st, _ := coalescedLocker(t, rdb)
	return l, st, w
}

// coalescedLocker is a Locker and its Stash on Coalesced(rdb), as tether wires them, and
// that client; it fails unless Coalesced gave an autopipeliner.
func coalescedLocker(t *testing.T, rdb redis.UniversalClient) (*Locker, *redisstash.Stash, redis.UniversalClient) {
	t.Helper()
	c, err := Coalesced(rdb)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := c.(*redis.AutoPipeliner); !ok {
		t.Fatalf("Coalesced(%T) = %T, want an autopipeliner", rdb, c)
	}
	t.Cleanup(func() { _ = c.Close() })
	st := redisstash.New(c, "stash:")
	l := NewWithStash(c, "lock:", st)
	l.Poll = time.Millisecond
	return l, st, c
}

// writes counts the connections dialled to Redis and their writes: the trips commands
// take.
type writes struct{ n, dials atomic.Int64 }

type countedConn struct {
	net.Conn
	w *writes
}

func (c *countedConn) Write(b []byte) (int, error) {
	c.w.n.Add(1)
	return c.Conn.Write(b)
}

// Through the autopipeliner the lock keeps its promises: one holder at a time under
// contention, fences that rise with every acquisition, and the next holder reads what the
// previous one stashed before letting go.
func TestCoalescedKeepsExclusionFencingAndTheStash(t *testing.T) {
	l, st, _ := coalesced(t)
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
	l, st, _ := coalesced(t)
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

// What the autopipeliner is for: the calls of concurrent lock cycles go to Redis over
// one connection, several to a write.
func TestCoalescedSharesTrips(t *testing.T) {
	l, st, w := coalesced(t)
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
			ls, _, err := l.LockAndGet(ctx, "connection:"+id, "pending-token:"+id) // 1 call
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
			ls.Unlock() // 1: the DELs and the release in one script
			calls.Add(4)
		}()
	}
	// Load the scripts first, so every call below is one command.
	ls, _, err := l.LockAndGet(ctx, "warm", "warm")
	if err != nil {
		t.Fatal(err)
	}
	if err := ls.Held(ctx); err != nil {
		t.Fatal(err)
	}
	ls.(interface{ DeleteOnUnlock(...string) }).DeleteOnUnlock("warm")
	ls.Unlock()
	w.n.Store(0)
	w.dials.Store(0)
	close(start)
	wg.Wait()
	sent := w.n.Load()
	if calls.Load() != 4*cycles {
		t.Fatalf("%d calls made, want %d", calls.Load(), 4*cycles)
	}
	// A plain client would take up to its pool's size of connections, one write a call.
	// How many share a write depends on timing (2 to 7 on average here), so the test asks
	// only that some do.
	if dials := w.dials.Load(); sent >= calls.Load() || dials > 2 {
		t.Fatalf("%d calls in %d writes on %d new connections: want them sharing the autopipeliner's connection and its writes",
			calls.Load(), sent, dials)
	}
	t.Logf("%d calls in %d writes on %d new connections", calls.Load(), sent, w.dials.Load())
}
