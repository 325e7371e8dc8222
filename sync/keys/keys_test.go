package keys_test

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	"tether/sync/connections"
	"tether/sync/directory"
	"tether/sync/keys"
	"tether/sync/reminders"
	"tether/sync/store"
	"tether/sync/store/storetest"
	"tether/sync/vault"
	"tether/worker/redisstash"
	"tether/worker/redistest"
)

func keyB64(t *testing.T) string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(b)
}

func ring(t *testing.T, spec string) *vault.Keyring {
	t.Helper()
	k, err := vault.ParseKeyring(spec)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// newStash is a token stash on real Redis, under a prefix of its own.
func newStash(t *testing.T) *redisstash.Stash {
	t.Helper()
	_, rdb := redistest.Client(t, redisDB)
	return redisstash.New(rdb, "keys-test:"+store.NewID()+":")
}

// redisDB is the Redis database these tests prefer.
const redisDB = 14

func count(t *testing.T, st []keys.KeyCount, id string) int {
	t.Helper()
	for _, c := range st {
		if c.KeyID == id {
			return c.Values
		}
	}
	return 0
}

// Rows sealed under an old key are resealed under the primary one in batches on both
// backends, in every table with sealed columns (a connection's tokens and pending set,
// each sealed with its own associated data, and the orgs' Slack tokens); the old key's
// count drops to zero, every value then opens with the primary key alone, and a second
// run changes nothing.
func TestResealEmptiesOldKey(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		t.Parallel()
		ctx := t.Context()
		k1, k2 := "k1:"+keyB64(t), "k2:"+keyB64(t)
		old := ring(t, k1)
		const n, slacks = 7, 3
		var ids, orgs []string
		for i := range n {
			org, err := st.CreateOrg(ctx, directory.Org{Name: fmt.Sprint("Org ", i)})
			if err != nil {
				t.Fatal(err)
			}
			orgs = append(orgs, org.ID)
			if i%3 == 0 { // orgs 0, 3 and 6 send Slack reminders
				sealed, err := old.SealToken(vault.NewToken(fmt.Sprint("xoxb-", i)), reminders.SlackTokenRow(org.ID))
				if err != nil {
					t.Fatal(err)
				}
				if err := st.SetSlackToken(ctx, org.ID, sealed, time.Now()); err != nil {
					t.Fatal(err)
				}
			}
			c := connections.Connection{ID: store.NewID(), Kind: connections.KindSalesforceTeam, State: connections.StateHealthy}
			if c.AccessTokenEnc, err = old.SealToken(vault.NewToken(fmt.Sprint("access-", i)), c.ID); err != nil {
				t.Fatal(err)
			}
			if i%2 == 0 { // some rows have no refresh token
				if c.RefreshTokenEnc, err = old.SealToken(vault.NewToken(fmt.Sprint("refresh-", i)), c.ID); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := st.CreateConnection(ctx, org.ID, c); err != nil {
				t.Fatal(err)
			}
			if i == 0 { // a refreshed set whose final write failed waits in the pending slot
				pending, err := old.Seal([]byte(`{"access":"pending-0"}`), connections.PendingAAD(c.ID))
				if err != nil {
					t.Fatal(err)
				}
				if err := st.SetPendingToken(ctx, org.ID, c.ID, pending, c.RefreshTokenEnc, time.Now()); err != nil {
					t.Fatal(err)
				}
			}
			ids = append(ids, c.ID)
		}
		const values = n + 4 + 1 + slacks // access, refresh, pending, Slack
		rotated := ring(t, k2+","+k1)     // k2 is primary now; k1 still opens
		svc, err := keys.New(st, newStash(t), rotated)
		if err != nil {
			t.Fatal(err)
		}
		status, err := svc.Status(ctx, 3)
		if err != nil {
			t.Fatal(err)
		}
		if count(t, status, "k1") != values || count(t, status, "k2") != 0 || !status[0].Primary || status[0].KeyID != "k2" {
			t.Fatalf("status before: %+v; want k2 primary with 0, k1 with %d", status, values)
		}
		var reports []keys.Progress
		p, err := svc.Reseal(ctx, 3, func(p keys.Progress) { reports = append(reports, p) })
		if err != nil {
			t.Fatal(err)
		}
		if p.Rows != n+slacks || p.Resealed != n+slacks || len(reports) < 3 {
			t.Fatalf("reseal: %+v after %d progress reports; want %d rows resealed, reported per batch of 3", p, len(reports), n+slacks)
		}
		status, err = svc.Status(ctx, 3)
		if err != nil {
			t.Fatal(err)
		}
		if count(t, status, "k1") != 0 || count(t, status, "k2") != values {
			t.Fatalf("status after: %+v; want k1 at 0", status)
		}
		// The old key can go: every token opens with the primary key alone.
		only := ring(t, k2)
		for i, id := range ids {
			c, err := findConnection(t, st, id)
			if err != nil {
				t.Fatal(err)
			}
			if tok, err := only.OpenToken(c.AccessTokenEnc, c.ID); err != nil || tok.Reveal() != fmt.Sprint("access-", i) {
				t.Fatalf("row %d access token under k2 alone: %v", i, err)
			}
			if want := map[bool]int64{true: 2, false: 1}[i == 0]; c.Version != want { // the pending write moved row 0's
				t.Fatalf("row %d version %d: a reseal must not move the version a refresh compares", i, c.Version)
			}
			if i == 0 {
				if raw, err := only.Open(c.PendingTokenEnc, connections.PendingAAD(c.ID)); err != nil || string(raw) != `{"access":"pending-0"}` {
					t.Fatalf("pending set under k2 alone: %v", err)
				}
			}
			if i%3 == 0 {
				cfg, err := st.SlackConfig(ctx, orgs[i])
				if err != nil {
					t.Fatal(err)
				}
				if tok, err := only.OpenToken(cfg.TokenEnc, reminders.SlackTokenRow(orgs[i])); err != nil || tok.Reveal() != fmt.Sprint("xoxb-", i) {
					t.Fatalf("org %d's Slack token under k2 alone: %v", i, err)
				}
			}
		}
		if p, err := svc.Reseal(ctx, 3, nil); err != nil || p.Resealed != 0 || p.Rows != n+slacks {
			t.Fatalf("second run: %+v, %v; want nothing to do", p, err)
		}
	})
}

func findConnection(t *testing.T, st *store.Store, id string) (connections.Connection, error) {
	t.Helper()
	rows, err := st.ListSealed(t.Context(), keys.Connections, "", 1000)
	if err != nil {
		return connections.Connection{}, err
	}
	for _, r := range rows {
		if r.ID == id {
			return st.GetConnection(t.Context(), r.OrgID, id)
		}
	}
	return connections.Connection{}, fmt.Errorf("connection %s not listed", id)
}

// A row a writer changed after the reseal read it is left alone (the compare fails), and
// a value whose key left the ring stops the run with an error naming the row and the fix.
func TestResealComparesAndStops(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		t.Parallel()
		ctx := t.Context()
		k1, k2, k3 := "k1:"+keyB64(t), "k2:"+keyB64(t), "k3:"+keyB64(t)
		org, err := st.CreateOrg(ctx, directory.Org{Name: "Acme"})
		if err != nil {
			t.Fatal(err)
		}
		c := connections.Connection{ID: store.NewID(), Kind: connections.KindSalesforceTeam, State: connections.StateHealthy}
		c.AccessTokenEnc, _ = ring(t, k1).SealToken(vault.NewToken("a"), c.ID)
		if _, err := st.CreateConnection(ctx, org.ID, c); err != nil {
			t.Fatal(err)
		}
		rows, err := st.ListSealed(ctx, keys.Connections, "", 10)
		if err != nil || len(rows) != 1 {
			t.Fatalf("list: %v, %v", rows, err)
		}
		stale := rows[0]
		moved := stale
		moved.Sealed = append([][]byte(nil), stale.Sealed...)
		moved.Sealed[0], _ = ring(t, k2).SealToken(vault.NewToken("b"), c.ID)
		if ok, err := st.ReplaceSealed(ctx, stale, moved); err != nil || !ok {
			t.Fatalf("first replace: %v, %v", ok, err)
		}
		if ok, err := st.ReplaceSealed(ctx, stale, stale); err != nil || ok {
			t.Fatalf("replace from a stale read: %v, %v; want refused", ok, err)
		}
		svc, err := keys.New(st, newStash(t), ring(t, k3)) // k2 is gone from the ring
		if err != nil {
			t.Fatal(err)
		}
		_, err = svc.Reseal(ctx, 0, nil)
		if err == nil || !strings.Contains(err.Error(), c.ID) || !strings.Contains(err.Error(), "TETHER_ENCRYPTION_KEYS") {
			t.Fatalf("reseal with a missing key: %v; want an error naming the row and the fix", err)
		}
		status, err := svc.Status(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range status {
			if s.KeyID == "k2" && (s.InRing || s.Values != 1) {
				t.Fatalf("status of the missing key: %+v", s)
			}
		}
	})
}
