package redislock

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"tether/worker/redisstash"
	"tether/worker/redistest"
)

// On a Redis Cluster the lock and its fence share a slot (the hash tag) and the stash's
// keys are in other slots, so LockAndGet reads the stash in a second call and an Unlock
// with keys to delete deletes them first. Exclusion, rising fences, Preceded, the next
// holder's read of what the last one stashed and the deletes all hold as on one Redis.
func TestClusterLockKeepsExclusionFencingAndTheStash(t *testing.T) {
	cc := redistest.Cluster(t)
	ctx := t.Context()
	st := redisstash.New(cc, "stash:")
	l := NewWithStash(cc, "lock:", st)
	l.Poll = time.Millisecond
	if l.oneNode() {
		t.Fatal("a Cluster client was taken for a single Redis: one script would touch keys of several slots")
	}
	if a, b := cc.ClusterKeySlot(ctx, "lock:{connection:c}").Val(), cc.ClusterKeySlot(ctx, st.Key("pending-token:c")).Val(); a == b {
		t.Fatalf("the lock and the stash key share slot %d: the test would not cover the Cluster's path", a)
	}
	if c, err := Coalesced(cc); err != nil || c != cc {
		t.Fatalf("Coalesced(a Cluster client) = %T, %v; want the client as it is", c, err)
	}
	keepsExclusionFencingAndTheStash(t, l, st)
}

// keepsExclusionFencingAndTheStash: 16 holders contend for one lock, half through
// LockAndGet, each stashing and deleting on Unlock a key of its own; one holds it at a
// time, fences rise and each is preceded by the last, and the next holder reads what the
// last one stashed.
func keepsExclusionFencingAndTheStash(t *testing.T, l *Locker, st *redisstash.Stash) {
	ctx := t.Context()
	type held struct{ fence, preceded int64 }
	var (
		mu    sync.Mutex
		order []held
		in    int
		most  int
		wg    sync.WaitGroup
	)
	for i := range 16 {
		wg.Go(func() {
			var ls interface {
				Fence() int64
				Preceded() int64
				Unlock()
			}
			key := fmt.Sprintf("pending-token:c%d", i)
			if i%2 == 0 {
				lease, v, err := l.LockAndGet(ctx, "connection:c", "pending-token:c")
				if err != nil {
					t.Errorf("LockAndGet: %v", err)
					return
				}
				if v != nil && string(v) != "set" {
					t.Errorf("LockAndGet read %q, want nothing or what a holder stashed", v)
				}
				ls = lease.(interface {
					Fence() int64
					Preceded() int64
					Unlock()
				})
			} else {
				lease, err := l.Lock(ctx, "connection:c")
				if err != nil {
					t.Errorf("Lock: %v", err)
					return
				}
				ls = lease.(interface {
					Fence() int64
					Preceded() int64
					Unlock()
				})
			}
			mu.Lock()
			in++
			most = max(most, in)
			order = append(order, held{ls.Fence(), ls.Preceded()})
			mu.Unlock()
			if err := st.Put(ctx, key, []byte("v")); err != nil {
				t.Error(err)
			}
			time.Sleep(time.Millisecond)
			mu.Lock()
			in--
			mu.Unlock()
			// Keys of other slots to delete with the release: the Cluster's two calls.
			ls.(interface{ DeleteOnUnlock(...string) }).DeleteOnUnlock(key)
			ls.Unlock()
			if v, err := st.Get(ctx, key); err != nil || v != nil {
				t.Errorf("%s after Unlock: %q, %v; want gone", key, v, err)
			}
		})
	}
	wg.Wait()
	if most != 1 || len(order) != 16 {
		t.Fatalf("most holders at once %d, acquisitions %d; want 1 and 16", most, len(order))
	}
	for i := 1; i < len(order); i++ {
		if order[i].fence <= order[i-1].fence || order[i].preceded != order[i-1].fence {
			t.Fatalf("acquisition %d: fence %d, preceded %d after a fence of %d: want a higher fence preceded by the last",
				i, order[i].fence, order[i].preceded, order[i-1].fence)
		}
	}

	// What a holder stashed, the next holder's LockAndGet reads (after the lock is held).
	first, _, err := l.LockAndGet(ctx, "connection:c", "pending-token:c")
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan []byte, 1)
	go func() {
		next, v, err := l.LockAndGet(ctx, "connection:c", "pending-token:c")
		if err != nil {
			t.Errorf("next holder: %v", err)
			got <- nil
			return
		}
		next.Unlock()
		got <- v
	}()
	time.Sleep(5 * time.Millisecond) // the next holder is polling by now
	if err := st.Put(ctx, "pending-token:c", []byte("set")); err != nil {
		t.Fatal(err)
	}
	first.Unlock()
	if v := <-got; string(v) != "set" {
		t.Fatalf("the next holder read %q, want the set the last one stashed", v)
	}
}
