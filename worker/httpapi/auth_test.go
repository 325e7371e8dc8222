package httpapi_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/hibiken/asynq"
	"github.com/rs/zerolog"

	"tether/sync/permissions"
	"tether/sync/store/storetest"
	"tether/worker"
	"tether/worker/httpapi"
	"tether/worker/redistest"
)

// The /v1 API takes a bearer API token or the admin's basic credentials, and
// refuses in JSON like the rest of that API.
func TestAPIAuth(t *testing.T) {
	st := storetest.SQLite(t)
	opt, _ := redistest.Client(t, 13)
	client := asynq.NewClient(opt)
	t.Cleanup(func() { _ = client.Close() })
	const token = "tk_0123456789abcdef0123456789abcdef"
	serve := func(password, apiToken string) *httptest.Server {
		s, err := httpapi.New(httpapi.Params{Logger: zerolog.Nop(), Gatherer: httpapi.NewRegistry(nil),
			AdminUser: "admin", AdminPassword: password, APIToken: apiToken,
			PermissionAudits: httpapi.PermissionAudits{Store: st, Queue: permissions.Requests{Store: st, Tasks: worker.AuditTasks{Client: client}}}})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(s)
		t.Cleanup(srv.Close)
		return srv
	}
	both := serve("s3cret", token)
	none := serve("", "")

	tests := []struct {
		name     string
		srv      *httptest.Server
		auth     func(*http.Request)
		wantCode int
		wantErr  string // the JSON error code
	}{
		// An unknown org answers 404: the request got past the guard.
		{"bearer token", both, func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+token) }, 404, "org_not_found"},
		{"basic credentials", both, func(r *http.Request) { r.SetBasicAuth("admin", "s3cret") }, 404, "org_not_found"},
		{"wrong token", both, func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+token+"x") }, 401, "unauthorized"},
		{"token as basic password", both, func(r *http.Request) { r.SetBasicAuth("admin", token) }, 401, "unauthorized"},
		{"nothing", both, func(*http.Request) {}, 401, "unauthorized"},
		{"not configured", none, func(r *http.Request) { r.Header.Set("Authorization", "Bearer ") }, 503, "admin_not_configured"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, tt.srv.URL+"/v1/orgs/no-such-org/permission-audits/latest", nil)
			tt.auth(req)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			raw, _ := io.ReadAll(res.Body)
			var body struct{ Error httpapi.APIError }
			if err := json.Unmarshal(raw, &body); err != nil {
				t.Fatalf("body %q is not JSON: %v", raw, err)
			}
			if res.StatusCode != tt.wantCode || body.Error.Code != tt.wantErr {
				t.Fatalf("got %d %q (%s), want %d %q", res.StatusCode, body.Error.Code, raw, tt.wantCode, tt.wantErr)
			}
		})
	}
}
