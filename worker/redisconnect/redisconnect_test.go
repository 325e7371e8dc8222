package redisconnect_test

import (
	"sync"
	"testing"
	"time"

	"tether/worker/redisconnect"
	"tether/worker/redistest"
)

// A link is spent once however many callbacks race, a state is taken once, and both
// marks expire by themselves.
func TestSpendOnceTakeOnce(t *testing.T) {
	_, rdb := redistest.Client(t, 6)
	ctx := t.Context()
	s := redisconnect.New(rdb, "t:")

	var wins sync.WaitGroup
	won := make(chan bool, 8)
	for range 8 {
		wins.Add(1)
		go func() {
			defer wins.Done()
			ok, err := s.Spend(ctx, "link1", time.Now().Add(time.Hour))
			if err != nil {
				t.Error(err)
			}
			won <- ok
		}()
	}
	wins.Wait()
	close(won)
	n := 0
	for ok := range won {
		if ok {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d of 8 racing spends won, want 1", n)
	}
	if spent, err := s.Spent(ctx, "link1"); err != nil || !spent {
		t.Fatalf("Spent = %t, %v", spent, err)
	}
	if ttl := rdb.TTL(ctx, "t:spent:link1").Val(); ttl < 24*time.Hour || ttl > 26*time.Hour {
		t.Fatalf("spent mark TTL %s, want the link's hour plus a day", ttl)
	}
	if err := s.Unspend(ctx, "link1"); err != nil {
		t.Fatal(err)
	}
	if spent, _ := s.Spent(ctx, "link1"); spent {
		t.Fatal("still spent after Unspend")
	}

	if err := s.PutState(ctx, "st", []byte("v"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if v, err := s.GetState(ctx, "st"); err != nil || string(v) != "v" {
		t.Fatalf("GetState = %q, %v", v, err)
	}
	if v, err := s.TakeState(ctx, "st"); err != nil || string(v) != "v" {
		t.Fatalf("TakeState = %q, %v", v, err)
	}
	if v, err := s.TakeState(ctx, "st"); err != nil || v != nil {
		t.Fatalf("second TakeState = %q, %v; want nothing", v, err)
	}
	if v, err := s.GetState(ctx, "missing"); err != nil || v != nil {
		t.Fatalf("GetState of an unknown state = %q, %v", v, err)
	}
	if err := s.PutState(ctx, "short", []byte("v"), 50*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	time.Sleep(120 * time.Millisecond)
	if v, _ := s.GetState(ctx, "short"); v != nil {
		t.Fatal("state outlived its TTL")
	}
}
