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

// roundTrips counts the client's trips to Redis: a command, or a pipeline of them.
type roundTrips struct{ n atomic.Int64 }

func (r *roundTrips) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) { return next(ctx, network, addr) }
}

func (r *roundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error { r.n.Add(1); return next(ctx, cmd) }
}

func (r *roundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error { r.n.Add(1); return next(ctx, cmds) }
}

// LockAndGet takes the lock and reads the stash in one round trip where Lock and a Get
// take two, and returns what the stash holds (nil when nothing).
func TestLockAndGetIsOneRoundTrip(t *testing.T) {
	_, rdb := redistest.Client(t, testDB)
	ctx := context.Background()
	st := redisstash.New(rdb, "stash:")
	l := New(rdb, "lock:")
	l.Stash = st
	// The first use on a server loads the acquire scripts; count from the second.
	ls, _, err := l.LockAndGet(ctx, "warm", "k")
	if err != nil {
		t.Fatal(err)
	}
	ls.Unlock()
	if ls, err = l.Lock(ctx, "warm"); err != nil {
		t.Fatal(err)
	}
	ls.Unlock()
	rt := &roundTrips{}
	rdb.AddHook(rt)

	if err := st.Put(ctx, "pending-token:c1", []byte("sealed")); err != nil {
		t.Fatal(err)
	}
	rt.n.Store(0)
	ls, v, err := l.LockAndGet(ctx, "connection:c1", "pending-token:c1")
	if err != nil {
		t.Fatal(err)
	}
	if n := rt.n.Load(); n != 1 || string(v) != "sealed" {
		t.Fatalf("LockAndGet: %d round trips, value %q; want 1 and \"sealed\"", n, v)
	}
	ls.Unlock()
	rt.n.Store(0)
	ls, v, err = l.LockAndGet(ctx, "connection:c2", "pending-token:c2")
	if err != nil {
		t.Fatal(err)
	}
	if n := rt.n.Load(); n != 1 || v != nil {
		t.Fatalf("LockAndGet of an empty key: %d round trips, value %q; want 1 and nil", n, v)
	}
	ls.Unlock()

	rt.n.Store(0)
	ls2, err := l.Lock(ctx, "connection:c1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Get(ctx, "pending-token:c1"); err != nil {
		t.Fatal(err)
	}
	if n := rt.n.Load(); n != 2 {
		t.Fatalf("Lock then Get: %d round trips, want 2", n)
	}
	ls2.Unlock()
	if !l.Reads(st) || l.Reads(redisstash.New(rdb, "stash:")) {
		t.Fatal("Reads must accept the Locker's own Stash only")
	}
}

// The read is of the stash as it is once the lock is held: what the previous holder
// stashed before letting go is always seen by the next holder, which waited for the lock
// in LockAndGet (a read sent before the lock was taken could miss it, and the next
// holder would spend a refresh token the stashed set replaced).
func TestLockAndGetSeesWhatThePreviousHolderStashed(t *testing.T) {
	_, rdb := redistest.Client(t, testDB)
	ctx := context.Background()
	st := redisstash.New(rdb, "stash:")
	l := New(rdb, "lock:")
	l.Stash, l.Poll = st, time.Millisecond
	for i := range 50 {
		key, sk := fmt.Sprintf("connection:%d", i), fmt.Sprintf("pending-token:%d", i)
		first, v, err := l.LockAndGet(ctx, key, sk)
		if err != nil || v != nil {
			t.Fatalf("round %d: first holder: %v %q", i, err, v)
		}
		got := make(chan []byte, 1)
		go func() {
			second, v, err := l.LockAndGet(ctx, key, sk)
			if err != nil {
				t.Errorf("round %d: second holder: %v", i, err)
				got <- nil
				return
			}
			if second.Fence() <= first.Fence() {
				t.Errorf("round %d: fence %d after %d", i, second.Fence(), first.Fence())
			}
			second.Unlock()
			got <- v
		}()
		time.Sleep(time.Duration(i%4) * time.Millisecond) // the second is polling by now, mostly
		if err := st.Put(ctx, sk, []byte("set-"+key)); err != nil {
			t.Fatal(err)
		}
		first.Unlock()
		if v := <-got; string(v) != "set-"+key {
			t.Fatalf("round %d: the next holder read %q, want the stashed set", i, v)
		}
	}
}

// Fencing holds with LockAndGet as with Lock: one holder at a time under contention, and
// every acquisition's fence above all earlier ones, whichever way the lock was taken.
func TestLockAndGetKeepsExclusionAndFencing(t *testing.T) {
	_, rdb := redistest.Client(t, testDB)
	ctx := context.Background()
	l := New(rdb, "lock:")
	l.Stash, l.Poll = redisstash.New(rdb, "stash:"), time.Millisecond
	var inside, maxInside atomic.Int32
	var mu sync.Mutex
	var fences []int64
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var ls interface {
				Fence() int64
				Unlock()
			}
			var err error
			if i%2 == 0 {
				ls, _, err = l.LockAndGet(ctx, "connection:x", "pending-token:x")
			} else {
				ls, err = l.Lock(ctx, "connection:x")
			}
			if err != nil {
				t.Errorf("acquire: %v", err)
				return
			}
			n := inside.Add(1)
			for m := maxInside.Load(); n > m && !maxInside.CompareAndSwap(m, n); m = maxInside.Load() {
			}
			mu.Lock()
			fences = append(fences, ls.Fence())
			mu.Unlock()
			time.Sleep(time.Millisecond)
			inside.Add(-1)
			ls.Unlock()
		}()
	}
	wg.Wait()
	if maxInside.Load() != 1 || len(fences) != 16 {
		t.Fatalf("max holders at once %d, acquisitions %d; want 1 and 16", maxInside.Load(), len(fences))
	}
	for i := 1; i < len(fences); i++ {
		if fences[i] <= fences[i-1] {
			t.Fatalf("fences in acquisition order %v do not rise", fences)
		}
	}
}

// trips records what each trip to Redis sent, a connection's handshake left out.
type trips struct {
	mu   sync.Mutex
	sent [][]string
}

func (r *trips) DialHook(next redis.DialHook) redis.DialHook { return next }

func (r *trips) record(cmds []redis.Cmder) {
	var names []string
	for _, c := range cmds {
		if n := c.Name(); n != "hello" && n != "client" && n != "select" {
			names = append(names, n)
		}
	}
	if len(names) > 0 {
		r.mu.Lock()
		r.sent = append(r.sent, names)
		r.mu.Unlock()
	}
}

func (r *trips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error { r.record([]redis.Cmder{cmd}); return next(ctx, cmd) }
}

func (r *trips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error { r.record(cmds); return next(ctx, cmds) }
}

// DeleteOnUnlock's keys go in the release's round trip: one trip deletes them and lets go
// of the lock, the keys are gone and the next holder takes the lock at once; before the
// release script is loaded on the server, the keys are still deleted and the lock freed.
func TestDeleteOnUnlockRidesTheRelease(t *testing.T) {
	_, rdb := redistest.Client(t, testDB)
	ctx := context.Background()
	st := redisstash.New(rdb, "stash:")
	l := New(rdb, "lock:")
	l.Stash = st
	warm, err := l.Lock(ctx, "warm")
	if err != nil {
		t.Fatal(err)
	}
	warm.Unlock() // loads the release script
	rt := &trips{}
	rdb.AddHook(rt)
	for _, flush := range []bool{false, true} {
		ls, err := l.Lock(ctx, "connection:d")
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"pending-token:d", "refresh-inflight:d"} {
			if err := st.Put(ctx, k, []byte("v")); err != nil {
				t.Fatal(err)
			}
		}
		if flush {
			if err := rdb.ScriptFlush(ctx).Err(); err != nil {
				t.Fatal(err)
			}
		}
		ls.(interface{ DeleteOnUnlock(...string) }).DeleteOnUnlock("pending-token:d", "refresh-inflight:d")
		rt.mu.Lock()
		rt.sent = nil
		rt.mu.Unlock()
		ls.Unlock()
		rt.mu.Lock()
		got := fmt.Sprint(rt.sent)
		rt.mu.Unlock()
		if want := "[[evalsha]]"; !flush && got != want {
			t.Fatalf("Unlock with keys to delete sent %s, want %s (one round trip)", got, want)
		}
		for _, k := range []string{"pending-token:d", "refresh-inflight:d"} {
			if v, err := st.Get(ctx, k); err != nil || v != nil {
				t.Fatalf("script flushed %t: %s after Unlock: %q %v, want gone", flush, k, v, err)
			}
		}
		next, err := l.Acquire(ctx, "connection:d", time.Second, 0)
		if err != nil {
			t.Fatalf("script flushed %t: the lock after Unlock: %v, want free", flush, err)
		}
		if err := next.Release(ctx); err != nil {
			t.Fatal(err)
		}
	}
}
