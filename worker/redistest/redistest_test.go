package redistest

import (
	"sync"
	"testing"
	"time"
)

// Two tests holding leases at the same time, both asking for the same
// database, get different ones.
func TestLeasesAreExclusive(t *testing.T) {
	var (
		mu      sync.Mutex
		held    = map[string]int{}
		arrived sync.WaitGroup
	)
	arrived.Add(2)
	for _, name := range []string{"a", "b"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			opt, rc := Client(t, 7)
			mu.Lock()
			held[name] = opt.DB
			mu.Unlock()
			arrived.Done()
			waitOrFail(t, &arrived)
			mu.Lock()
			defer mu.Unlock()
			if held["a"] == held["b"] {
				t.Errorf("both tests hold db %d", held["a"])
			}
			if n, err := rc.DBSize(t.Context()).Result(); err != nil || n > 1 {
				t.Errorf("leased db %d not flushed: %d keys, %v", opt.DB, n, err)
			}
			_ = rc.Set(t.Context(), "k", name, 0).Err()
		})
	}
}

func waitOrFail(t *testing.T, wg *sync.WaitGroup) {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the other test never took its lease")
	}
}
