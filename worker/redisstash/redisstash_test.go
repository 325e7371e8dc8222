package redisstash

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"tether/worker/redistest"
)

const testDB = 11

// backends runs a test on a database of the test Redis, on the test Redis Cluster, where a
// stash's keys spread over three masters, and on the test Sentinel's master through a
// failover client.
func backends(t *testing.T, fn func(t *testing.T, rdb redis.UniversalClient)) {
	t.Run("redis", func(t *testing.T) {
		_, rdb := redistest.Client(t, testDB)
		fn(t, rdb)
	})
	t.Run("cluster", func(t *testing.T) { fn(t, redistest.Cluster(t)) })
	t.Run("sentinel", func(t *testing.T) { fn(t, redistest.Sentinel(t)) })
}

// What is put comes back byte for byte (sealed values are binary), replaced by a later
// put, and gone after a delete; a missing key is nil, nil and deleting it is no error.
func TestPutGetDelete(t *testing.T) { backends(t, testPutGetDelete) }

func testPutGetDelete(t *testing.T, rdb redis.UniversalClient) {
	ctx := t.Context()
	s := New(rdb, "stash:")
	sealed := []byte{0x00, 0xff, 'x', 0x00, 0x80}
	if got, err := s.Get(ctx, "k"); got != nil || err != nil {
		t.Fatalf("get of a missing key: %q, %v; want nil, nil", got, err)
	}
	if err := s.Put(ctx, "k", sealed); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Get(ctx, "k"); err != nil || !bytes.Equal(got, sealed) {
		t.Fatalf("get: %q, %v; want %q", got, err, sealed)
	}
	if raw, _ := rdb.Get(ctx, "stash:k").Bytes(); !bytes.Equal(raw, sealed) {
		t.Fatalf("stored under stash:k: %q, want the value as given", raw)
	}
	if err := s.Put(ctx, "k", []byte("newer")); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Get(ctx, "k"); string(got) != "newer" {
		t.Fatalf("after a second put: %q, want newer", got)
	}
	if err := s.Delete(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Get(ctx, "k"); got != nil || err != nil {
		t.Fatalf("get after delete: %q, %v; want nil, nil", got, err)
	}
	if err := s.Delete(ctx, "k"); err != nil {
		t.Fatalf("delete of a missing key: %v", err)
	}
}

// Stashes with different prefixes never see each other's keys.
func TestPrefixesAreSeparate(t *testing.T) {
	_, rdb := redistest.Client(t, testDB)
	ctx := t.Context()
	a, b := New(rdb, "a:"), New(rdb, "b:")
	if err := a.Put(ctx, "k", []byte("a's")); err != nil {
		t.Fatal(err)
	}
	if got, err := b.Get(ctx, "k"); got != nil || err != nil {
		t.Fatalf("b sees a's key: %q, %v", got, err)
	}
	if err := b.Delete(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if got, _ := a.Get(ctx, "k"); string(got) != "a's" {
		t.Fatalf("b's delete removed a's key: %q", got)
	}
}

// A parked token set must outlive an outage and the refresh-token idle window: 30
// days unless TTL says otherwise, and it does expire.
func TestValuesExpire(t *testing.T) {
	_, rdb := redistest.Client(t, testDB)
	ctx := t.Context()
	def := New(rdb, "d:")
	if err := def.Put(ctx, "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	if ttl := rdb.PTTL(ctx, "d:k").Val(); ttl < 30*24*time.Hour-time.Minute || ttl > 30*24*time.Hour {
		t.Fatalf("default TTL %v, want 30 days", ttl)
	}
	short := New(rdb, "s:")
	short.TTL = 50 * time.Millisecond
	if err := short.Put(ctx, "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, err := short.Get(ctx, "k")
		if err != nil {
			t.Fatal(err)
		}
		if got == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a value with a 50ms TTL was still there after 5s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Redis being unreachable is an error naming the operation and key, never a silent
// nil: a lost stash read would make the token service replay a dead refresh token.
func TestUnreachableRedisIsAnError(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", DialTimeout: 100 * time.Millisecond, MaxRetries: -1})
	t.Cleanup(func() { _ = rdb.Close() })
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	s := New(rdb, "x:")
	if err := s.Put(ctx, "k", []byte("v")); err == nil || !strings.Contains(err.Error(), "redisstash: put k") {
		t.Fatalf("put: %v", err)
	}
	if got, err := s.Get(ctx, "k"); err == nil || got != nil || !strings.Contains(err.Error(), "redisstash: get k") {
		t.Fatalf("get: %q, %v", got, err)
	}
	if err := s.Delete(ctx, "k"); err == nil || !strings.Contains(err.Error(), "redisstash: delete k") {
		t.Fatalf("delete: %v", err)
	}
}

// Swap returns what was there (nil the first time) and leaves the new value with a TTL;
// DeleteAll removes every key given, under the prefix, missing ones included.
func TestSwapDeleteAll(t *testing.T) { backends(t, testSwapDeleteAll) }

func testSwapDeleteAll(t *testing.T, rdb redis.UniversalClient) {
	ctx := t.Context()
	s := New(rdb, "swap:")
	if prev, err := s.Swap(ctx, "m", []byte{0x00, 0x01}); prev != nil || err != nil {
		t.Fatalf("first swap: %q, %v; want nil, nil", prev, err)
	}
	if prev, err := s.Swap(ctx, "m", []byte("second")); err != nil || !bytes.Equal(prev, []byte{0x00, 0x01}) {
		t.Fatalf("second swap: %q, %v; want the first value", prev, err)
	}
	if ttl := rdb.PTTL(ctx, "swap:m").Val(); ttl <= 0 {
		t.Fatalf("swapped key's TTL %v, want one (a mark must not outlive the stash's TTL)", ttl)
	}
	if err := s.Put(ctx, "p", []byte("pending")); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteAll(ctx, "m", "p", "never-set"); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"swap:m", "swap:p"} { // one by one: a Cluster has them on different nodes
		if n := rdb.Exists(ctx, k).Val(); n != 0 {
			t.Fatalf("%s left after DeleteAll", k)
		}
	}
}

// Each finds every key under a prefix by SCAN (a glob character in the prefix is literal),
// nothing else; Replace swaps a value only while it is the one read and keeps its expiry.
func TestEachAndReplace(t *testing.T) { backends(t, testEachAndReplace) }

func testEachAndReplace(t *testing.T, rdb redis.UniversalClient) {
	ctx := t.Context()
	s := New(rdb, "st*:")
	for i, k := range []string{"p:1", "p:2", "p:3", "q:1"} {
		if err := s.Put(ctx, k, []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := New(rdb, "stX:").Put(ctx, "p:9", []byte("other stash")); err != nil {
		t.Fatal(err)
	}
	got := map[string]byte{}
	if err := s.Each(ctx, "p:", func(k string, v []byte) error { got[k] = v[0]; return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got["p:1"] != 0 || got["p:2"] != 1 || got["p:3"] != 2 {
		t.Fatalf("each p: = %v, want p:1..3 of this stash only", got)
	}
	if ok, err := s.Replace(ctx, "p:1", []byte("stale"), []byte("new")); err != nil || ok {
		t.Fatalf("replace from a stale read: %v, %v; want refused", ok, err)
	}
	if ok, err := s.Replace(ctx, "gone", nil, []byte("new")); err != nil || ok {
		t.Fatalf("replace of a missing key: %v, %v; want refused", ok, err)
	}
	if ok, err := s.Replace(ctx, "p:1", []byte{0}, []byte("new")); err != nil || !ok {
		t.Fatalf("replace: %v, %v", ok, err)
	}
	if v, _ := s.Get(ctx, "p:1"); string(v) != "new" {
		t.Fatalf("after replace: %q", v)
	}
	if ttl := rdb.PTTL(ctx, s.Key("p:1")).Val(); ttl < 29*24*time.Hour {
		t.Fatalf("replace lost the expiry: %v", ttl)
	}
}

// On a Cluster a stash's keys land on every master; Each (keys reseal walks the stash with
// it) finds all of them, and one DeleteAll of keys in many slots removes every one.
func TestClusterEachAndDeleteAllCoverEveryMaster(t *testing.T) {
	cc := redistest.Cluster(t)
	ctx := t.Context()
	s := New(cc, "stash:")
	masters := map[string]bool{}
	var keys []string
	for i := range 30 {
		k := fmt.Sprintf("pending-token:%d", i)
		keys = append(keys, k)
		if err := s.Put(ctx, k, []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
		m, err := cc.MasterForKey(ctx, s.Key(k))
		if err != nil {
			t.Fatal(err)
		}
		masters[m.Options().Addr] = true
	}
	if len(masters) != 3 {
		t.Fatalf("30 keys on %d masters, want all 3 (the test would not cover the scan of each)", len(masters))
	}
	seen := map[string]bool{}
	if err := s.Each(ctx, "pending-token:", func(k string, v []byte) error { seen[k] = true; return nil }); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 30 {
		t.Fatalf("Each found %d of the 30 keys", len(seen))
	}
	if err := s.DeleteAll(ctx, keys...); err != nil {
		t.Fatalf("DeleteAll of keys in many slots: %v", err)
	}
	for _, k := range keys {
		if v, err := s.Get(ctx, k); err != nil || v != nil {
			t.Fatalf("%s after DeleteAll: %q, %v; want gone", k, v, err)
		}
	}
}
