package main

import (
	"context"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"tether/sync/connections"
	"tether/sync/directory"
	"tether/sync/store"
	"tether/sync/vault"
	"tether/worker/redisstash"
	"tether/worker/redistest"
)

// An operator retires k1: k2 first in the ring, `tether keys reseal`, and `tether keys
// status` then shows k1 at 0, the pending token set parked in the Redis stash included.
func TestKeysResealCLI(t *testing.T) {
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
	opt, rdb := redistest.Client(t, 12)
	parked := store.NewID()
	sealed, _ := old.Seal([]byte(`{"access":"a","refresh":"r"}`), connections.PendingAAD(parked))
	if err := redisstash.New(rdb, "tether:stash:").Put(t.Context(), connections.StashPendingPrefix+parked, sealed); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"TETHER_DATABASE_URL": db, "TETHER_REDIS_URL": redistest.URL(opt),
		"TETHER_ENCRYPTION_KEYS": "k2:ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=," + testKeys}
	res := runTether(t, context.Background(), env, "keys", "status")
	if res.err != nil || !strings.Contains(res.stdout, "k1") || !regexp.MustCompile(`k1\s+4\s+1\s+run: tether keys reseal`).MatchString(res.stdout) {
		t.Fatalf("status before: %v\n%s", res.err, res.stdout)
	}
	res = runTether(t, context.Background(), env, "keys", "reseal", "--batch", "2")
	if res.err != nil || !strings.Contains(res.stdout, "read 2 rows") || !strings.Contains(res.stdout, "3 resealed and 1 parked token sets in the Redis stash resealed under k2") {
		t.Fatalf("reseal: %v\n%s", res.err, res.stdout)
	}
	res = runTether(t, context.Background(), env, "keys", "status")
	if res.err != nil || !regexp.MustCompile(`k2\s+4\s+1\s+primary`).MatchString(res.stdout) ||
		!regexp.MustCompile(`k1\s+0\s+0\s+unused: can be removed`).MatchString(res.stdout) {
		t.Fatalf("status after reseal: %v\n%s", res.err, res.stdout)
	}
}
