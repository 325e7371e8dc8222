package main

import (
	"context"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"tether/sync/connections"
	"tether/sync/directory"
	"tether/sync/store"
	"tether/sync/vault"
	"tether/worker/redisstash"
	"tether/worker/redistest"
)

// An operator retires k1: k2 first in the ring, `tether keys reseal`, and `tether keys
// status` then shows k1 at 0, the pending token sets parked in the Redis stash included:
// on one Redis, on a Redis Cluster (redis-cluster://), where the parked sets are on every
// master, and on Sentinel's master (redis-sentinel://), which tether finds by asking the
// sentinels.
func TestKeysResealCLI(t *testing.T) {
	t.Run("redis", func(t *testing.T) {
		opt, rdb := redistest.Client(t, 12)
		testKeysReseal(t, redistest.URL(opt), rdb, 1)
	})
	t.Run("cluster", func(t *testing.T) {
		testKeysReseal(t, "redis-cluster://"+strings.Join(redistest.ClusterAddrs(), ","), redistest.Cluster(t), 3)
	})
	t.Run("sentinel", func(t *testing.T) {
		testKeysReseal(t, redistest.SentinelURL(), redistest.Sentinel(t), 2)
	})
}

func testKeysReseal(t *testing.T, redisURL string, rdb redis.UniversalClient, parked int) {
	db := "sqlite:" + filepath.Join(t.TempDir(), "tether.db")
	if res := runTether(t, context.Background(), map[string]string{"TETHER_DATABASE_URL": db}, "migrate", "up"); res.err != nil {
		t.Fatal(res.err)
	}
	st, err := store.Open(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	old, err := vault.ParseKeyring(testKeys)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"A", "B", "C"} {
		org, err := st.CreateOrg(t.Context(), directory.Org{Name: name})
		if err != nil {
			t.Fatal(err)
		}
		c := connections.Connection{ID: store.NewID(), Kind: connections.KindSalesforceTeam}
		c.AccessTokenEnc, _ = old.SealToken(vault.NewToken("tok-"+name), c.ID)
		if _, err := st.CreateConnection(t.Context(), org.ID, c); err != nil {
			t.Fatal(err)
		}
	}
	_ = st.Close()
	// On a Cluster, parked sets are added until they are on every master.
	cc, _ := rdb.(*redis.ClusterClient)
	masters := map[string]bool{}
	for n := 0; n < parked || (cc != nil && len(masters) < 3); n++ {
		id := store.NewID()
		sealed, _ := old.Seal([]byte(`{"access":"a","refresh":"r"}`), connections.PendingAAD(id))
		key := connections.StashPendingPrefix + id
		if err := redisstash.New(rdb, "tether:stash:").Put(t.Context(), key, sealed); err != nil {
			t.Fatal(err)
		}
		if cc != nil {
			m, err := cc.MasterForKey(t.Context(), "tether:stash:"+key)
			if err != nil {
				t.Fatal(err)
			}
			masters[m.Options().Addr] = true
		}
		parked = max(parked, n+1)
	}
	env := map[string]string{"TETHER_DATABASE_URL": db, "TETHER_REDIS_URL": redisURL,
		"TETHER_ENCRYPTION_KEYS": "k2:ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=," + testKeys}
	res := runTether(t, context.Background(), env, "keys", "status")
	if res.err != nil || !strings.Contains(res.stdout, "k1") || !regexp.MustCompile(fmt.Sprintf(`k1\s+%d\s+%d\s+run: tether keys reseal`, 3+parked, parked)).MatchString(res.stdout) {
		t.Fatalf("status before: %v\n%s", res.err, res.stdout)
	}
	res = runTether(t, context.Background(), env, "keys", "reseal", "--batch", "2")
	if res.err != nil || !strings.Contains(res.stdout, "read 2 rows") || !strings.Contains(res.stdout, fmt.Sprintf("3 resealed and %s in the Redis stash resealed under k2", directory.Plural(parked, "parked token set"))) {
		t.Fatalf("reseal: %v\n%s", res.err, res.stdout)
	}
	res = runTether(t, context.Background(), env, "keys", "status")
	if res.err != nil || !regexp.MustCompile(fmt.Sprintf(`k2\s+%d\s+%d\s+primary`, 3+parked, parked)).MatchString(res.stdout) ||
		!regexp.MustCompile(`k1\s+0\s+0\s+unused: can be removed`).MatchString(res.stdout) {
		t.Fatalf("status after reseal: %v\n%s", res.err, res.stdout)
	}
}
