package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"tether/sync/events"
	"tether/sync/store"
	"tether/worker/httpapi"
)

// tether events list reads the org's audit log as the route does: a table newest first,
// a kind prefix, a "more:" line whose command prints the next page, --json as the route
// answers, and refusals that say what to give.
func TestEventsListVerb(t *testing.T) {
	ctx := context.Background()
	db := "sqlite:" + filepath.Join(t.TempDir(), "tether.db")
	vars := map[string]string{"TETHER_DATABASE_URL": db}
	if res := runTether(t, ctx, vars, "migrate", "up"); res.err != nil {
		t.Fatal(res.err)
	}
	created := runTether(t, ctx, vars, "org", "create", "--name", "Acme", "--seats", "2")
	org, _, _ := strings.Cut(created.stdout, "\n")
	if created.err != nil || org == "" {
		t.Fatalf("org create: %v %q", created.err, created.stdout)
	}
	// The audit log is written by what tether does; here it is seeded, since this is about
	// reading it.
	st, err := store.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	for i, e := range []events.Event{
		{Kind: "invite.sent", Subject: "inv-1", At: now.Add(-3 * time.Hour), Detail: map[string]any{"attempt": 1, "message_id": "invite-inv-1-1@x"}},
		{Kind: "invite.accepted", Subject: "inv-1", At: now.Add(-2 * time.Hour), Detail: map[string]any{"membership_id": "m-1"}},
		{Kind: "connection.connected", Subject: "conn-1", At: now.Add(-time.Hour), Detail: map[string]any{"kind": "zoom", "revoked": []any{"a", "b"}}},
	} {
		e.OrgID = org
		if err := st.AppendEvent(ctx, e); err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
	}
	st.Close()

	res := runTether(t, ctx, vars, "events", "list", org, "--kind", "invite.", "--limit", "1")
	if res.err != nil || !regexp.MustCompile(`(?m)^AT\s+KIND\s+SUBJECT\s+DETAIL\n\S+ \S+\s+invite\.accepted\s+inv-1\s+membership_id=m-1\n`).MatchString(res.stdout) {
		t.Fatalf("first page: %v\n%s", res.err, res.stdout)
	}
	more := regexp.MustCompile(`(?m)^more: tether (events list .* --kind invite\. --cursor (\S+))$`).FindStringSubmatch(res.stdout)
	if more == nil {
		t.Fatalf("no more: line with the next page's command:\n%s", res.stdout)
	}
	res = runTether(t, ctx, vars, strings.Fields(more[1])...)
	if res.err != nil || !strings.Contains(res.stdout, "invite.sent") || !strings.Contains(res.stdout, "attempt=1 message_id=invite-inv-1-1@x") ||
		strings.Contains(res.stdout, "invite.accepted") || strings.Contains(res.stdout, "more:") {
		t.Fatalf("the more: line's command: %v\n%s", res.err, res.stdout)
	}
	res = runTether(t, ctx, vars, "events", "list", org, "--subject", "conn-1", "--json")
	var page httpapi.EventPageJSON
	if res.err != nil || json.Unmarshal([]byte(res.stdout), &page) != nil || len(page.Events) != 1 || page.Events[0].Detail["kind"] != "zoom" {
		t.Fatalf("--json: %v\n%s", res.err, res.stdout)
	}
	if res = runTether(t, ctx, vars, "events", "list", org, "--since", "30m"); res.err != nil || res.stdout != "org "+org+" has no events that match\n" {
		t.Fatalf("--since 30m: %v %q", res.err, res.stdout)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--since", "soon"}, `--since "soon": give how far back, such as 24h or 90m, or a time such as`},
		{[]string{"--cursor", "x"}, `cursor "x" is not one a page of events gave; start without it`},
		{[]string{"--limit", "0"}, "--limit 0: give a number from 1 to 1000"},
	} {
		if res := runTether(t, ctx, vars, append([]string{"events", "list", org}, c.args...)...); res.err == nil || !strings.Contains(res.err.Error(), c.want) {
			t.Errorf("%v: %v, want %q", c.args, res.err, c.want)
		}
	}
	if res := runTether(t, ctx, vars, "events", "list", "no-such-org"); res.err == nil || !strings.Contains(res.err.Error(), `no org with id "no-such-org": tether org list`) {
		t.Errorf("unknown org: %v", res.err)
	}
}
