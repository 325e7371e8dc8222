package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"

	"tether/connectors/salesforce"
	"tether/connectors/sandbox/sandboxtest"
	"tether/connectors/sandbox/sfdc"
	"tether/jobs"
	"tether/sync/apitokens"
	"tether/sync/directory"
	"tether/sync/invites"
	"tether/sync/store"
	"tether/sync/store/storetest"
	"tether/worker"
	"tether/worker/httpapi"
	"tether/worker/redistest"
)

// dbImports is the import tests' Redis database (spare; the other API tests use 10 and 13).
const dbImports = 14

// importBundle is tether serve's handler with the import API, over a store, real Redis and
// a sandbox Salesforce org holding three active Sales Users (the tether org has 2 seats).
type importBundle struct {
	st        *store.Store
	svc       *invites.Service
	inspector *asynq.Inspector
	url       string
	handler   http.Handler // tether serve's handler, for tests that serve it themselves
	tokens    *apitokens.Service
	org       directory.Org
}

func setupImports(t *testing.T, st *store.Store) *importBundle {
	t.Helper()
	spec := sfdc.GenerateOrg(11, 0)
	for i := range 3 {
		spec.Users = append(spec.Users, sfdc.UserSpec{Username: fmt.Sprintf("rep%d@acme.example.com", i),
			Email: fmt.Sprintf("rep%d@acme.com", i), LastName: fmt.Sprint(i), Profile: sfdc.ProfileSalesUser})
	}
	sf := sandboxtest.NewSalesforceOrg(t, spec)
	dirs, err := salesforce.NewInviteDirectories(salesforce.InviteDirectoriesParams{
		Auth: func(context.Context, string) (salesforce.TeamAuth, error) {
			return salesforce.TeamAuth{InstanceURL: sf.InstanceURL,
				Token: func(context.Context) (string, error) { return sf.Grant.AccessToken, nil }}, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	redis, _ := redistest.Client(t, dbImports)
	client, inspector := asynq.NewClient(redis), asynq.NewInspector(redis)
	t.Cleanup(func() { _ = client.Close(); _ = inspector.Close() })
	inv := store.Invites{Store: st}
	svc, err := invites.New(invites.Config{Store: inv, Directories: dirs, Sender: worker.InviteSendQueue{Client: client},
		Tasks: worker.ImportTasks{Client: client}})
	if err != nil {
		t.Fatal(err)
	}
	tokens, err := apitokens.New(st)
	if err != nil {
		t.Fatal(err)
	}
	server, err := httpapi.New(httpapi.Params{Gatherer: prometheus.NewRegistry(), AdminUser: "admin", AdminPassword: "pw", Tokens: tokens,
		Imports: svc, Events: st})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(server)
	t.Cleanup(srv.Close)
	org, err := st.CreateOrg(t.Context(), directory.Org{Name: "Acme", SeatLimit: 2})
	if err != nil {
		t.Fatal(err)
	}
	return &importBundle{st: st, svc: svc, inspector: inspector, url: srv.URL, handler: server, tokens: tokens, org: org}
}

// call sends an admin request and decodes the JSON answer into out (if not nil).
func (b *importBundle) call(t *testing.T, method, path, body string, out any) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, b.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth("admin", "pw")
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: %d %s: %v", method, path, res.StatusCode, data, err)
		}
	}
	return res
}

type errorBody struct {
	Error httpapi.APIError `json:"error"`
}

func TestImportAPIByProfileNameRunsAndReports(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		b := setupImports(t, st)
		var created httpapi.ImportView
		res := b.call(t, "POST", "/v1/orgs/"+b.org.ID+"/imports",
			`{"profiles":["Sales User"],"role":"chat","group":"West"}`, &created)
		if res.StatusCode != http.StatusAccepted {
			t.Fatalf("POST: %d, want 202", res.StatusCode)
		}
		if loc := res.Header.Get("Location"); loc != "/v1/orgs/"+b.org.ID+"/imports/"+created.ID {
			t.Fatalf("Location %q", loc)
		}
		// The name was resolved at create time: the stored selection holds the id.
		if created.Status != directory.ImportQueued || len(created.ProfileIDs) != 1 || !strings.HasPrefix(created.ProfileIDs[0], "00e") || len(created.ProfileNames) != 0 {
			t.Fatalf("created %+v: want queued with one resolved 00e profile id", created)
		}
		if created.GroupID == "" {
			t.Fatal("group West was not created")
		}
		info, err := b.inspector.GetTaskInfo(jobs.QueueDefault, jobs.TaskIDInvitesImport(jobs.TypeInvitesImport, b.org.ID, created.ID))
		if err != nil {
			t.Fatalf("import task not queued: %v", err)
		}
		if info.Type != jobs.TypeInvitesImport {
			t.Fatalf("queued %s", info.Type)
		}
		// The worker's part, then the status over HTTP.
		if _, err := b.svc.Run(t.Context(), b.org.ID, created.ID); err != nil {
			t.Fatal(err)
		}
		var got httpapi.ImportView
		if res := b.call(t, "GET", "/v1/orgs/"+b.org.ID+"/imports/"+created.ID, "", &got); res.StatusCode != http.StatusOK {
			t.Fatalf("GET: %d", res.StatusCode)
		}
		if got.Status != directory.ImportDone || got.Counts.Invited != 2 || got.Counts.OverSeatLimit != 1 ||
			got.Progress.Done != 3 || got.Progress.Total != 3 || got.FinishedAt == nil {
			t.Fatalf("GET %+v: want done, 2 invited, 1 over the seat limit, 3 of 3", got)
		}
		if len(got.Refused) != 1 || got.Refused[0].Reason != invites.ReasonOverSeatLimit || got.Refused[0].Email == "" {
			t.Fatalf("refused %+v", got.Refused)
		}
		if !slices.Contains(got.Errors, invites.SeatsMissingMessage(1)) {
			t.Fatalf("errors %q: want the seats-missing message", got.Errors)
		}
	})
}

// TestImportAPIMergedUserIDs: repeated user ids are merged, and the import's JSON says how
// many were given beside the distinct ones it reads.
func TestImportAPIMergedUserIDs(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		b := setupImports(t, st)
		var created httpapi.ImportView
		res := b.call(t, "POST", "/v1/orgs/"+b.org.ID+"/imports",
			`{"user_ids":["005000000000001AAA","005000000000001","005000000000002AAA"],"role":"chat"}`, &created)
		if res.StatusCode != http.StatusAccepted || len(created.UserIDs) != 2 || created.UserIDsGiven != 3 {
			t.Fatalf("POST: %d %+v, want 202 with 2 user ids of 3 given", res.StatusCode, created)
		}
	})
}

// TestImportAPIMergedProfiles: the same profile twice, or by name and by id, is read once,
// and the import's JSON says how many were given beside the distinct profile.
func TestImportAPIMergedProfiles(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		b := setupImports(t, st)
		var once httpapi.ImportView
		res := b.call(t, "POST", "/v1/orgs/"+b.org.ID+"/imports", `{"profiles":["Sales User"],"role":"chat","dry_run":true}`, &once)
		if res.StatusCode != http.StatusAccepted || len(once.ProfileIDs) != 1 || once.ProfilesGiven != 0 {
			t.Fatalf("POST one profile: %d %+v, want 202 with 1 profile id and no profiles_given", res.StatusCode, once)
		}
		for _, second := range []string{"Sales User", once.ProfileIDs[0]} {
			var created httpapi.ImportView
			res := b.call(t, "POST", "/v1/orgs/"+b.org.ID+"/imports",
				`{"profiles":["Sales User",`+strconv.Quote(second)+`],"role":"chat","dry_run":true}`, &created)
			if res.StatusCode != http.StatusAccepted || len(created.ProfileIDs)+len(created.ProfileNames) != 1 || created.ProfilesGiven != 2 {
				t.Fatalf("POST Sales User and %s: %d %+v, want 202 with 1 profile of 2 given", second, res.StatusCode, created)
			}
		}
	})
}

func TestImportAPIRefusals(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		b := setupImports(t, st)
		other, err := st.CreateOrg(t.Context(), directory.Org{Name: "Other"})
		if err != nil {
			t.Fatal(err)
		}
		orgPath := "/v1/orgs/" + b.org.ID + "/imports"
		for _, tc := range []struct {
			name, path, body string
			status           int
			code             string
		}{
			{"malformed JSON", orgPath, `{"role":`, 400, "invalid_json"},
			{"unknown field", orgPath, `{"role":"chat","profile":"Sales User"}`, 400, "invalid_json"},
			{"bad role", orgPath, `{"role":"boss","profiles":["Sales User"]}`, 422, invites.CodeInvalidRole},
			{"nothing selected", orgPath, `{"role":"chat"}`, 422, invites.CodeEmptySelection},
			{"two kinds", orgPath, `{"role":"chat","profiles":["Sales User"],"emails":"a@x.com"}`, 422, invites.CodeMixedSelection},
			{"bad user id", orgPath, `{"role":"chat","user_ids":["005nope"]}`, 422, invites.CodeInvalidID},
			{"unknown org", "/v1/orgs/no-such-org/imports", `{"role":"chat","emails":"a@x.com"}`, 404, invites.CodeOrgNotFound},
			{"unknown org, new group", "/v1/orgs/no-such-org/imports", `{"role":"chat","emails":"a@x.com","group":"West"}`, 404, invites.CodeOrgNotFound},
			{"unknown org, dry run", "/v1/orgs/no-such-org/imports", `{"role":"chat","emails":"a@x.com","group":"West","dry_run":true}`, 404, invites.CodeOrgNotFound},
			// Input a store cannot keep is refused before anything is written, on both backends.
			{"NUL in group", orgPath, `{"role":"chat","emails":"a@x.com","group":"West\u0000"}`, 400, invites.CodeInvalidText},
			{"NUL in emails", orgPath, `{"role":"chat","emails":"a\u0000@x.com"}`, 400, invites.CodeInvalidText},
			{"NUL in a profile", orgPath, `{"role":"chat","profiles":["Sales\u0000User"]}`, 400, invites.CodeInvalidText},
			{"NUL in a user id", orgPath, `{"role":"chat","user_ids":["005\u0000"]}`, 400, invites.CodeInvalidText},
			{"group too long", orgPath, `{"role":"chat","emails":"a@x.com","group":"` + strings.Repeat("g", directory.MaxGroupName+1) + `"}`, 400, invites.CodeInvalidText},
			{"data after the body", orgPath, `{"role":"chat","emails":"a@x.com"} {"role":"admin","emails":"b@x.com"}`, 400, "invalid_json"},
			{"text after the body", orgPath, `{"role":"chat","emails":"a@x.com"}garbage`, 400, "invalid_json"},
		} {
			var e errorBody
			res := b.call(t, "POST", tc.path, tc.body, &e)
			if res.StatusCode != tc.status || e.Error.Code != tc.code || e.Error.Message == "" {
				t.Errorf("%s: %d %+v, want %d %s with a message", tc.name, res.StatusCode, e.Error, tc.status, tc.code)
			}
		}

		var e errorBody
		res := b.call(t, "POST", orgPath, `{"role":"chat","profiles":["Sales User","Astronauts"]}`, &e)
		if res.StatusCode != 422 || e.Error.Code != invites.CodeUnknownProfile ||
			!slices.Equal(e.Error.Values, []string{"Astronauts"}) || !slices.Contains(e.Error.Known, sfdc.ProfileSalesUser) {
			t.Fatalf("unknown profile: %d %+v, want 422 naming Astronauts and listing Sales User", res.StatusCode, e.Error)
		}
		// An unknown profile id is refused like an unknown name, not an import finding 0 users.
		e = errorBody{}
		res = b.call(t, "POST", orgPath, `{"role":"chat","profiles":["Sales User","00e000000000000"]}`, &e)
		if res.StatusCode != 422 || e.Error.Code != invites.CodeUnknownProfile || !slices.Equal(e.Error.Values, []string{"00e000000000000"}) {
			t.Fatalf("unknown profile id: %d %+v, want 422 naming the id", res.StatusCode, e.Error)
		}
		// A selection too long for one Salesforce query is a 422 at once: past the query URI
		// (checked by the connector) and past the 100,000-character SOQL limit (checked
		// before anything else).
		for _, n := range []int{400, 3000} {
			names := make([]string, n)
			for i := range names {
				names[i] = fmt.Sprintf("%q", fmt.Sprintf("A rather long profile name %012d", i))
			}
			e = errorBody{}
			res = b.call(t, "POST", orgPath, `{"role":"chat","profiles":[`+strings.Join(names, ",")+`]}`, &e)
			if res.StatusCode != 422 || e.Error.Code != invites.CodeSelectionTooLong {
				t.Fatalf("%d long profile names: %d %+v, want 422 selection_too_long", n, res.StatusCode, e.Error)
			}
		}
		// Nothing refused was stored or queued.
		if tasks, _ := b.inspector.ListPendingTasks(jobs.QueueDefault); len(tasks) != 0 {
			t.Fatalf("%d tasks queued by refused requests", len(tasks))
		}

		// Unauthenticated: refused before anything runs.
		req, _ := http.NewRequestWithContext(t.Context(), "POST", b.url+orgPath, strings.NewReader(`{"role":"chat","emails":"a@x.com"}`))
		req.SetBasicAuth("admin", "wrong")
		req.Header.Set("Content-Type", "application/json")
		r2, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		r2.Body.Close()
		if r2.StatusCode != http.StatusUnauthorized {
			t.Fatalf("wrong password: %d", r2.StatusCode)
		}

		// An import is read only through its own org.
		var created httpapi.ImportView
		if res := b.call(t, "POST", orgPath, `{"role":"meetings","emails":"a@x.com, B@y.com;a@x.com","dry_run":true}`, &created); res.StatusCode != 202 {
			t.Fatalf("email import: %d", res.StatusCode)
		}
		if created.EmailCount != 3 || !created.DryRun {
			t.Fatalf("created %+v", created)
		}
		if _, err := b.inspector.GetTaskInfo(jobs.QueueDefault, jobs.TaskIDInvitesImport(jobs.TypeInvitesImportEmails, b.org.ID, created.ID)); err != nil {
			t.Fatalf("email import task not queued: %v", err)
		}
		for _, path := range []string{
			"/v1/orgs/" + other.ID + "/imports/" + created.ID,
			"/v1/orgs/no-such-org/imports/" + created.ID,
			orgPath + "/no-such-import",
		} {
			var e errorBody
			if res := b.call(t, "GET", path, "", &e); res.StatusCode != 404 || e.Error.Code != "not_found" {
				t.Errorf("GET %s: %d %+v, want 404", path, res.StatusCode, e.Error)
			}
		}
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		if _, err := b.svc.Run(ctx, b.org.ID, created.ID); err != nil {
			t.Fatal(err)
		}
		var got httpapi.ImportView
		b.call(t, "GET", orgPath+"/"+created.ID, "", &got)
		if got.Status != directory.ImportDone || got.Counts.Invited != 2 || got.Counts.DuplicateInImport != 1 {
			t.Fatalf("dry run %+v: want 2 invited (counted) and 1 duplicate", got)
		}
	})
}
