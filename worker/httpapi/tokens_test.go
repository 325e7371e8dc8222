package httpapi_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"tether/sync/apitokens"
	"tether/sync/directory"
	"tether/sync/store"
	"tether/sync/store/storetest"
)

// An API token limited to one org acts there (and its imports name it in requested_by),
// gets 403 on another org, a read-only token only reads, a revoked one is refused, and no
// token reaches the operator's routes. On both backends.
func TestAPITokenScopes(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		b := setupImports(t, st)
		ctx := t.Context()
		other, err := st.CreateOrg(ctx, directory.Org{Name: "Other"})
		if err != nil {
			t.Fatal(err)
		}
		scoped, scopedSecret, err := b.tokens.Create(ctx, apitokens.CreateRequest{Name: "acme sync", OrgIDs: []string{b.org.ID}})
		if err != nil {
			t.Fatal(err)
		}
		_, readSecret, err := b.tokens.Create(ctx, apitokens.CreateRequest{Name: "dashboard", OrgIDs: []string{b.org.ID}, ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		// Only the hash is stored.
		var n int
		if err := st.DB().QueryRowContext(ctx, `SELECT count(*) FROM api_tokens WHERE secret_hash = $1`, scopedSecret).Scan(&n); err != nil || n != 0 {
			t.Fatalf("the secret itself is stored (%d rows, %v)", n, err)
		}
		do := func(secret, method, path, body string) (int, string) {
			t.Helper()
			req, _ := http.NewRequestWithContext(ctx, method, b.url+path, strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+secret)
			if body != "" {
				req.Header.Set("Content-Type", "application/json")
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			raw, _ := io.ReadAll(res.Body)
			return res.StatusCode, string(raw)
		}
		body := `{"role":"chat","emails":"a@x.com","dry_run":true}`
		code, raw := do(scopedSecret, "POST", "/v1/orgs/"+b.org.ID+"/imports", body)
		if code != http.StatusAccepted {
			t.Fatalf("scoped token on its org: %d %s", code, raw)
		}
		var imp struct {
			ID          string `json:"id"`
			RequestedBy string `json:"requested_by"`
		}
		_ = json.Unmarshal([]byte(raw), &imp)
		stored, err := st.GetImport(ctx, b.org.ID, imp.ID)
		if err != nil || stored.RequestedBy != "token:"+scoped.ID || imp.RequestedBy != stored.RequestedBy {
			t.Fatalf("import requested_by = %q (API %q), %v; want token:%s", stored.RequestedBy, imp.RequestedBy, err, scoped.ID)
		}
		for _, tc := range []struct {
			name, secret, method, path, body string
			want                             int
		}{
			{"scoped token, other org", scopedSecret, "POST", "/v1/orgs/" + other.ID + "/imports", body, http.StatusForbidden},
			{"scoped token, other org, read", scopedSecret, "GET", "/v1/orgs/" + other.ID + "/imports/" + imp.ID, "", http.StatusForbidden},
			{"token on an operator route", scopedSecret, "GET", "/v1/tokens", "", http.StatusForbidden},
			{"token creating tokens", scopedSecret, "POST", "/v1/tokens", `{"name":"x"}`, http.StatusForbidden},
			{"read-only token writes", readSecret, "POST", "/v1/orgs/" + b.org.ID + "/imports", body, http.StatusForbidden},
			{"read-only token reads", readSecret, "GET", "/v1/orgs/" + b.org.ID + "/imports/" + imp.ID, "", http.StatusOK},
			{"unknown token", apitokens.Prefix + "nope", "GET", "/v1/orgs/" + b.org.ID + "/imports/" + imp.ID, "", http.StatusUnauthorized},
		} {
			if code, raw := do(tc.secret, tc.method, tc.path, tc.body); code != tc.want {
				t.Errorf("%s: %d %s, want %d", tc.name, code, raw, tc.want)
			}
		}
		if err := b.tokens.Revoke(ctx, scoped.ID); err != nil {
			t.Fatal(err)
		}
		if code, raw := do(scopedSecret, "GET", "/v1/orgs/"+b.org.ID+"/imports/"+imp.ID, ""); code != http.StatusUnauthorized {
			t.Errorf("revoked token: %d %s, want 401", code, raw)
		}
		// The admin's own imports say so.
		var admin struct {
			RequestedBy string `json:"requested_by"`
		}
		if res := b.call(t, "POST", "/v1/orgs/"+b.org.ID+"/imports", body, &admin); res.StatusCode != 202 || admin.RequestedBy != "admin" {
			t.Errorf("admin import: %d requested_by %q", res.StatusCode, admin.RequestedBy)
		}
	})
}
