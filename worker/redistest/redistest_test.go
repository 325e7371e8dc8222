package redistest

import (
	"strings"
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
			// Strict: not one key of another test may be seen, stray or the other's "k".
			if n, err := rc.DBSize(t.Context()).Result(); err != nil || n != 0 {
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

func TestParseDBs(t *testing.T) {
	for _, c := range []struct {
		in          string
		first, last int
		wantErr     bool
	}{
		{in: "", first: 1, last: 15},     // unset: the default range
		{in: "8-11", first: 8, last: 11}, // a range
		{in: "12", first: 12, last: 12},  // one database
		{in: "0-3", wantErr: true},       // database 0 holds the leases
		{in: "9-4", wantErr: true},       // backwards
		{in: "two-five", wantErr: true},  // not numbers
	} {
		first, last, err := parseDBs(c.in)
		if (err != nil) != c.wantErr || first != c.first || last != c.last {
			t.Errorf("parseDBs(%q) = %d, %d, %v; want %d, %d, error %v", c.in, first, last, err, c.first, c.last, c.wantErr)
		}
		if err != nil && !strings.Contains(err.Error(), "TETHER_TEST_REDIS_DBS") {
			t.Errorf("parseDBs(%q) error %q does not name TETHER_TEST_REDIS_DBS", c.in, err)
		}
	}
}

// A lease stays inside the configured range even when the test prefers a database
// outside it.
func TestLeaseHonoursRange(t *testing.T) {
	t.Setenv("TETHER_TEST_REDIS_DBS", "13-14")
	opt, _ := Client(t, 2)
	if opt.DB < 13 || opt.DB > 14 {
		t.Fatalf("leased db %d, want one of 13-14", opt.DB)
	}
}

// A database handed over is empty, whatever its previous holder left in it.
func TestLeaseFlushesWhatThePreviousHolderLeft(t *testing.T) {
	var db int
	t.Run("first holder", func(t *testing.T) {
		opt, rc := Client(t, 8)
		db = opt.DB
		for _, k := range []string{"a", "b", "c"} {
			if err := rc.Set(t.Context(), k, "left behind", 0).Err(); err != nil {
				t.Fatal(err)
			}
		}
	})
	t.Run("next holder", func(t *testing.T) {
		opt, rc := Client(t, db)
		if n, err := rc.DBSize(t.Context()).Result(); err != nil || n != 0 {
			t.Fatalf("leased db %d (the previous holder had %d) holds %d keys, %v; want none", opt.DB, db, n, err)
		}
	})
}

// Sentinel hands each test the master (not the replica) with database 0 flushed of what
// the test before it wrote.
func TestSentinelIsTheMasterFlushed(t *testing.T) {
	for _, name := range []string{"first", "second"} {
		t.Run(name, func(t *testing.T) {
			rc := Sentinel(t)
			ctx := t.Context()
			role, err := rc.Do(ctx, "ROLE").Slice()
			if err != nil || len(role) == 0 || role[0] != "master" {
				t.Fatalf("ROLE through the Sentinel client: %v, %v; want master", role, err)
			}
			if n, err := rc.DBSize(ctx).Result(); err != nil || n != 0 {
				t.Fatalf("the master holds %d keys (%v) when handed over, want 0", n, err)
			}
			if err := rc.Set(ctx, "left-by", name, 0).Err(); err != nil {
				t.Fatal(err)
			}
		})
	}
}
