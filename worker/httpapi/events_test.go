package httpapi_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"tether/sync/apitokens"
	"tether/sync/directory"
	"tether/sync/events"
	"tether/sync/store"
	"tether/sync/store/storetest"
	"tether/worker/httpapi"
)

// GET /v1/orgs/{org}/events is the org's audit log: newest first, filtered by kind (or a
// kind prefix), subject and since, paged by next_cursor; a token of the org reads it, a
// token of another org does not. On both backends.
func TestEventsAPI(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		b := setupImports(t, st)
		ctx := t.Context()
		now := time.Now().UTC()
		for i, e := range []events.Event{
			{Kind: "invite.sent", Subject: "inv-1", At: now.Add(-3 * time.Hour), Detail: map[string]any{"attempt": 1}},
			{Kind: "connection.connected", Subject: "conn-1", At: now.Add(-2 * time.Hour), Detail: map[string]any{"kind": "zoom"}},
			{Kind: "connection.connect_refused", Subject: "link-1", At: now.Add(-time.Hour)},
		} {
			e.OrgID = b.org.ID
			if err := st.AppendEvent(ctx, e); err != nil {
				t.Fatalf("event %d: %v", i, err)
			}
		}
		list := func(query string) (int, httpapi.EventPageJSON, errorBody) {
			t.Helper()
			var page httpapi.EventPageJSON
			var eb errorBody
			req, _ := http.NewRequestWithContext(ctx, "GET", b.url+"/v1/orgs/"+b.org.ID+"/events"+query, nil)
			req.SetBasicAuth("admin", "pw")
			r, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Body.Close()
			raw, _ := io.ReadAll(r.Body)
			var dst any = &eb
			if r.StatusCode == http.StatusOK {
				dst = &page
			}
			if err := json.Unmarshal(raw, dst); err != nil {
				t.Fatalf("%s: %d %s: %v", query, r.StatusCode, raw, err)
			}
			return r.StatusCode, page, eb
		}
		kinds := func(p httpapi.EventPageJSON) string {
			var s []string
			for _, e := range p.Events {
				s = append(s, e.Kind+"/"+e.Subject)
			}
			return strings.Join(s, " ")
		}
		code, p, _ := list("")
		if code != 200 || kinds(p) != "connection.connect_refused/link-1 connection.connected/conn-1 invite.sent/inv-1" ||
			p.Events[1].Detail["kind"] != "zoom" || p.Events[0].Detail == nil || p.Next != "" {
			t.Fatalf("all events: %d %+v", code, p)
		}
		for q, want := range map[string]string{
			"?kind=connection.": "connection.connect_refused/link-1 connection.connected/conn-1",
			"?kind=invite.sent": "invite.sent/inv-1",
			"?subject=conn-1":   "connection.connected/conn-1",
			"?since=150m":       "connection.connect_refused/link-1 connection.connected/conn-1",
			"?since=" + url.QueryEscape(now.Add(-90*time.Minute).Format(time.RFC3339)): "connection.connect_refused/link-1",
		} {
			if code, p, _ := list(q); code != 200 || kinds(p) != want {
				t.Errorf("%s: %d %q, want %q", q, code, kinds(p), want)
			}
		}
		// A page at a time.
		var seen []string
		for q := "?limit=2"; ; {
			code, p, eb := list(q)
			if code != 200 {
				t.Fatalf("page %s: %d %+v", q, code, eb)
			}
			seen = append(seen, kinds(p))
			if p.Next == "" {
				break
			}
			q = "?limit=2&cursor=" + url.QueryEscape(p.Next)
		}
		if fmt.Sprint(seen) != "[connection.connect_refused/link-1 connection.connected/conn-1 invite.sent/inv-1]" {
			t.Fatalf("pages %q", seen)
		}
		for q, want := range map[string]string{
			"?cursor=nope": events.CodeInvalidCursor,
			"?since=soon":  events.CodeInvalidQuery,
			"?limit=0":     "invalid_limit",
			"?limit=1001":  "invalid_limit",
		} {
			if code, _, eb := list(q); code != http.StatusBadRequest || eb.Error.Code != want || eb.Error.Message == "" {
				t.Errorf("%s: %d %+v, want 400 %s", q, code, eb, want)
			}
		}
		var eb errorBody
		if res := b.call(t, "GET", "/v1/orgs/"+store.NewID()+"/events", "", &eb); res.StatusCode != 404 || eb.Error.Code != events.CodeOrgNotFound {
			t.Errorf("unknown org: %d %+v", res.StatusCode, eb)
		}

		// A read-only token of the org reads its log; not another org's.
		other, err := st.CreateOrg(ctx, directory.Org{Name: "Other"})
		if err != nil {
			t.Fatal(err)
		}
		_, secret, err := b.tokens.Create(ctx, apitokens.CreateRequest{Name: "dashboard", OrgIDs: []string{b.org.ID}, ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		for org, want := range map[string]int{b.org.ID: 200, other.ID: 403} {
			req, _ := http.NewRequestWithContext(ctx, "GET", b.url+"/v1/orgs/"+org+"/events", nil)
			req.Header.Set("Authorization", "Bearer "+secret)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != want {
				t.Errorf("read-only token on org %s: %d, want %d", org, res.StatusCode, want)
			}
		}
	})
}
