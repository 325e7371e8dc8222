package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"tether/sync/directory"
	"tether/sync/store"
	"tether/worker/httpapi"
)

// tether tokens create prints the secret once; list shows the scope and never the
// secret; revoke ends it; an unknown org is refused with the way to find ids.
func TestTokensCLI(t *testing.T) {
	db := "sqlite:" + filepath.Join(t.TempDir(), "tether.db")
	env := map[string]string{"TETHER_DATABASE_URL": db}
	if res := runTether(t, context.Background(), env, "migrate", "up"); res.err != nil {
		t.Fatal(res.err)
	}
	st, err := store.Open(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	org, err := st.CreateOrg(t.Context(), directory.Org{Name: "Acme"})
	_ = st.Close()
	if err != nil {
		t.Fatal(err)
	}
	res := runTether(t, context.Background(), env, "tokens", "create", "--name", "crm sync", "--org", org.ID, "--read-only")
	secret := regexp.MustCompile(`tt_[A-Za-z0-9_-]{43}`).FindString(res.stdout)
	id := regexp.MustCompile(`token ([0-9a-f]{16})`).FindStringSubmatch(res.stdout)
	if res.err != nil || secret == "" || id == nil || !strings.Contains(res.stdout, "read-only") {
		t.Fatalf("create: %v\n%s", res.err, res.stdout)
	}
	res = runTether(t, context.Background(), env, "tokens", "list")
	if res.err != nil || !strings.Contains(res.stdout, id[1]) || !strings.Contains(res.stdout, "orgs "+org.ID) || strings.Contains(res.stdout, secret) {
		t.Fatalf("list: %v\n%s", res.err, res.stdout)
	}
	// --json is the route's list, the secret and its hash never in it.
	res = runTether(t, context.Background(), env, "tokens", "list", "--json")
	var tl httpapi.TokenListJSON
	if res.err != nil || json.Unmarshal([]byte(res.stdout), &tl) != nil || len(tl.Tokens) != 1 || tl.Tokens[0].ID != id[1] ||
		tl.Tokens[0].Name != "crm sync" || !tl.Tokens[0].ReadOnly || len(tl.Tokens[0].OrgIDs) != 1 || tl.Tokens[0].OrgIDs[0] != org.ID ||
		strings.Contains(res.stdout, secret) || strings.Contains(res.stdout, "hash") {
		t.Fatalf("list --json: %v\n%s", res.err, res.stdout)
	}
	if res = runTether(t, context.Background(), env, "tokens", "revoke", id[1]); res.err != nil {
		t.Fatalf("revoke: %v", res.err)
	}
	if res = runTether(t, context.Background(), env, "tokens", "revoke", id[1]); res.err == nil || !strings.Contains(res.err.Error(), "tether tokens list") ||
		!strings.HasPrefix(res.err.Error(), "no live API token "+id[1]+":") {
		t.Fatalf("second revoke: %v; want not found with the way to list", res.err)
	}
	res = runTether(t, context.Background(), env, "tokens", "create", "--name", "x", "--org", "no-such-org")
	if res.err == nil || !strings.Contains(res.err.Error(), "tether org list") {
		t.Fatalf("create for an unknown org: %v", res.err)
	}
}
