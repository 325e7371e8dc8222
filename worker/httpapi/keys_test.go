package httpapi_test

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"tether/sync/apitokens"
	"tether/sync/connections"
	"tether/sync/directory"
	"tether/sync/keys"
	"tether/sync/store"
	"tether/sync/store/storetest"
	"tether/sync/vault"
	"tether/worker/httpapi"
	"tether/worker/redisstash"
	"tether/worker/redistest"
)

// The operator reseals over HTTP: GET /v1/keys counts, POST /v1/keys/reseal empties the
// old key; an API token, even one for every org, gets 403 there.
func TestKeysOverHTTP(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ctx := t.Context()
		_, rdb := redistest.Client(t, 13)
		spec := func(id string) string {
			b := make([]byte, 32)
			_, _ = rand.Read(b)
			return id + ":" + base64.StdEncoding.EncodeToString(b)
		}
		k1, k2 := spec("k1"), spec("k2")
		old, _ := vault.ParseKeyring(k1)
		org, err := st.CreateOrg(ctx, directory.Org{Name: "Acme"})
		if err != nil {
			t.Fatal(err)
		}
		c := connections.Connection{ID: store.NewID(), Kind: connections.KindSalesforceTeam}
		c.AccessTokenEnc, _ = old.SealToken(vault.NewToken("a"), c.ID)
		c.RefreshTokenEnc, _ = old.SealToken(vault.NewToken("r"), c.ID)
		if _, err := st.CreateConnection(ctx, org.ID, c); err != nil {
			t.Fatal(err)
		}
		rotated, _ := vault.ParseKeyring(k2 + "," + k1)
		ks, err := keys.New(st, redisstash.New(rdb, "keys-test:"+store.NewID()+":"), rotated)
		if err != nil {
			t.Fatal(err)
		}
		tokens, err := apitokens.New(st)
		if err != nil {
			t.Fatal(err)
		}
		_, secret, err := tokens.Create(ctx, apitokens.CreateRequest{Name: "everything"})
		if err != nil {
			t.Fatal(err)
		}
		s, err := httpapi.New(httpapi.Params{Gatherer: prometheus.NewRegistry(), AdminUser: "admin", AdminPassword: "pw", Keys: ks, Tokens: tokens})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(s)
		t.Cleanup(srv.Close)
		do := func(method, path string, auth func(*http.Request)) (int, string) {
			req, _ := http.NewRequestWithContext(ctx, method, srv.URL+path, nil)
			auth(req)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			b, _ := io.ReadAll(res.Body)
			return res.StatusCode, string(b)
		}
		admin := func(r *http.Request) { r.SetBasicAuth("admin", "pw") }
		token := func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+secret) }
		count := func() map[string]int {
			code, body := do("GET", "/v1/keys", admin)
			var out struct{ Keys []keys.KeyCount }
			if code != 200 || json.Unmarshal([]byte(body), &out) != nil {
				t.Fatalf("GET /v1/keys: %d %s", code, body)
			}
			m := map[string]int{}
			for _, k := range out.Keys {
				m[k.KeyID] = k.Values
			}
			return m
		}
		if m := count(); m["k1"] != 2 || m["k2"] != 0 {
			t.Fatalf("before: %v", m)
		}
		for _, r := range [][2]string{{"GET", "/v1/keys"}, {"POST", "/v1/keys/reseal"}} {
			if code, body := do(r[0], r[1], token); code != http.StatusForbidden {
				t.Errorf("%s %s with an API token: %d %s, want 403", r[0], r[1], code, body)
			}
		}
		if code, body := do("POST", "/v1/keys/reseal?batch=1", admin); code != 200 || !strings.Contains(body, `"resealed":1`) {
			t.Fatalf("POST /v1/keys/reseal: %d %s", code, body)
		}
		if m := count(); m["k1"] != 0 || m["k2"] != 2 {
			t.Fatalf("after: %v", m)
		}
	})
}
