package httpapi_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/rs/zerolog"

	"tether/jobs"
	"tether/sync/directory"
	"tether/sync/permissions"
	"tether/sync/store"
	"tether/sync/store/storetest"
	"tether/worker"
	"tether/worker/httpapi"
	"tether/worker/redistest"
)

// dbAudits is this file's Redis DB: the package's other tests flush dbAPI at setup and may
// run at the same time.
const dbAudits = 13

type auditResp struct {
	status   int
	location string
	body     []byte
}

func auditDo(t *testing.T, method, url string, auth bool) auditResp {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	if auth {
		req.SetBasicAuth("admin", "s3cret")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return auditResp{status: res.StatusCode, location: res.Header.Get("Location"), body: b}
}

func decodeAs[T any](t *testing.T, r auditResp) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatalf("body %q is not JSON: %v", r.body, err)
	}
	return v
}

type errBody struct {
	Error httpapi.APIError `json:"error"`
}

// TestPermissionAuditRoutes drives both routes over HTTP on real Redis and both stores:
// admin only; JSON 404s with a code for an unknown org and for an org without a report;
// POST queues the on-demand task (202, task id, Location) and refuses a second one while
// it waits (409); GET serves the newest report with what changed since the one before.
func TestPermissionAuditRoutes(t *testing.T) {
	opt, _ := redistest.Client(t, dbAudits)
	client, inspector := asynq.NewClient(opt), asynq.NewInspector(opt)
	t.Cleanup(func() { _ = client.Close(); _ = inspector.Close() })

	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ctx := t.Context()
		s, err := httpapi.New(httpapi.Params{Logger: zerolog.Nop(), Gatherer: httpapi.NewRegistry(nil),
			AdminUser: "admin", AdminPassword: "s3cret",
			PermissionAudits: httpapi.PermissionAudits{Store: st, Queue: permissions.Requests{Store: st, Tasks: worker.AuditTasks{Client: client}}}})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(s)
		t.Cleanup(srv.Close)
		org, err := st.CreateOrg(ctx, directory.Org{Name: "Acme"})
		if err != nil {
			t.Fatal(err)
		}
		base := srv.URL + "/v1/orgs/" + org.ID + "/permission-audits"

		if r := auditDo(t, http.MethodGet, base+"/latest", false); r.status != http.StatusUnauthorized {
			t.Errorf("latest without credentials = %d, want 401", r.status)
		}
		if r := auditDo(t, http.MethodPost, base, false); r.status != http.StatusUnauthorized {
			t.Errorf("POST without credentials = %d, want 401", r.status)
		}

		r := auditDo(t, http.MethodPost, srv.URL+"/v1/orgs/no-such-org/permission-audits", true)
		if e := decodeAs[errBody](t, r); r.status != http.StatusNotFound || e.Error.Code != "org_not_found" || e.Error.Message == "" {
			t.Errorf("POST for an unknown org = %d %s, want 404 org_not_found", r.status, r.body)
		}
		r = auditDo(t, http.MethodGet, base+"/latest", true)
		if e := decodeAs[errBody](t, r); r.status != http.StatusNotFound || e.Error.Code != "no_report" {
			t.Errorf("latest before any audit = %d %s, want 404 no_report", r.status, r.body)
		}

		r = auditDo(t, http.MethodPost, base, true)
		q := decodeAs[httpapi.AuditQueued](t, r)
		if r.status != http.StatusAccepted || q.AuditID == "" || q.TaskID != jobs.TaskIDAuditPermissions(org.ID, q.AuditID) || q.OrgID != org.ID ||
			r.location != "/v1/orgs/"+org.ID+"/permission-audits/"+q.AuditID || q.Audit != r.location || q.Latest != "/v1/orgs/"+org.ID+"/permission-audits/latest" {
			t.Fatalf("POST = %d Location %q %s, want 202 with the audit's id and task id and Location to the audit", r.status, r.location, r.body)
		}
		// The audit is a row: queued, named after who asked, readable over HTTP.
		r = auditDo(t, http.MethodGet, srv.URL+q.Audit, true)
		if run := decodeAs[permissions.AuditRun](t, r); r.status != http.StatusOK || run.ID != q.AuditID || run.Status != permissions.AuditQueued || run.RequestedBy == "" {
			t.Errorf("GET %s = %d %s, want the queued audit with requested_by", q.Audit, r.status, r.body)
		}
		r = auditDo(t, http.MethodGet, base+"/no-such-audit", true)
		if e := decodeAs[errBody](t, r); r.status != http.StatusNotFound || e.Error.Code != "audit_not_found" ||
			!strings.Contains(e.Error.Message, "no-such-audit") || !strings.Contains(e.Error.Message, "POST /v1/orgs/"+org.ID+"/permission-audits") ||
			!strings.Contains(e.Error.Message, "tether permissions check --org "+org.ID) {
			t.Errorf("GET an unknown audit = %d %s, want 404 audit_not_found naming the id and where audit ids come from", r.status, r.body)
		}
		info, err := inspector.GetTaskInfo(jobs.QueueDefault, q.TaskID)
		if err != nil {
			t.Fatalf("queued task %s not in the default queue: %v", q.TaskID, err)
		}
		var p jobs.AuditPermissions
		if err := json.Unmarshal(info.Payload, &p); err != nil || info.Type != jobs.TypeAuditPermissions || p.OrgID != org.ID || p.Day != "" {
			t.Errorf("queued %s %s, want an on-demand %s of org %s", info.Type, info.Payload, jobs.TypeAuditPermissions, org.ID)
		}
		r = auditDo(t, http.MethodPost, base, true)
		if e := decodeAs[errBody](t, r); r.status != http.StatusConflict || e.Error.Code != "audit_pending" || !strings.Contains(e.Error.Message, q.AuditID) {
			t.Errorf("second POST while one waits = %d %s, want 409 audit_pending naming audit %s", r.status, r.body, q.AuditID)
		}

		// Two reports, as the worker would store them: all ok, then Marketing User lost.
		t0 := time.Date(2026, 3, 2, 6, 0, 0, 0, time.UTC)
		ok := []permissions.Check{
			{Name: permissions.CheckConnection, Required: true, Result: permissions.ResultOK, Evidence: "signed in"},
			{Name: permissions.CheckMarketingUser, Required: true, Result: permissions.ResultOK, Evidence: "UserPermissionsMarketingUser = true"},
			{Name: permissions.CheckViewSetup, Required: false, Result: permissions.ResultUnknown, Evidence: "not granted"},
		}
		first, err := st.SavePermissionReport(ctx, org.ID, permissions.Report{CreatedAt: t0, Checks: ok})
		if err != nil {
			t.Fatal(err)
		}
		lost := append([]permissions.Check(nil), ok...)
		lost[1] = permissions.Check{Name: permissions.CheckMarketingUser, Required: true, Result: permissions.ResultMissing,
			Evidence: "UserPermissionsMarketingUser = false", Fix: "Tick Marketing User on the integration user"}
		second, err := st.SavePermissionAudit(ctx, org.ID, permissions.AuditRecord{
			Report: permissions.Report{CreatedAt: t0.Add(24 * time.Hour), Checks: lost}, Lost: []string{permissions.CheckMarketingUser}})
		if err != nil {
			t.Fatal(err)
		}
		// Its alert's send began and was never recorded (a worker died mid-send).
		attempted := t0.Add(24*time.Hour + time.Second)
		if ok, err := st.BeginPermissionAlert(ctx, org.ID, permissions.CheckMarketingUser, second.CreatedAt, attempted); err != nil || !ok {
			t.Fatalf("begin the alert: %v, %v", ok, err)
		}

		r = auditDo(t, http.MethodGet, base+"/latest", true)
		if r.status != http.StatusOK {
			t.Fatalf("latest = %d %s", r.status, r.body)
		}
		got := decodeAs[httpapi.ReportJSON](t, r)
		if got.ID != second.ID || !got.CreatedAt.Equal(second.CreatedAt) || len(got.Checks) != 3 {
			t.Fatalf("latest = %s, want report %s with 3 checks", r.body, second.ID)
		}
		if c := got.Checks[1]; c.Name != permissions.CheckMarketingUser || c.Result != permissions.ResultMissing || !c.Required || c.Fix == "" || c.Evidence == "" {
			t.Errorf("marketing_user check = %+v, want missing with evidence and fix", c)
		}
		if got.Summary["ok"] != 1 || got.Summary["missing"] != 1 || got.Summary["unknown"] != 1 {
			t.Errorf("summary = %v", got.Summary)
		}
		if got.Previous == nil || got.Previous.ID != first.ID || len(got.Previous.Changes) != 1 ||
			got.Previous.Changes[0] != (httpapi.ChangeJSON{Check: permissions.CheckMarketingUser, Change: "lost", Required: true}) {
			t.Errorf("previous = %+v, want report %s and one change: marketing_user lost", got.Previous, first.ID)
		}
		if len(got.Alerts) != 1 || got.Alerts[0].Check != permissions.CheckMarketingUser || got.Alerts[0].Delivery != permissions.DeliveryAttempting ||
			got.Alerts[0].AttemptedAt == nil || !got.Alerts[0].AttemptedAt.Equal(attempted) || got.Alerts[0].SentAt != nil ||
			got.Alerts[0].ReportID != second.ID {
			t.Errorf("alerts = %+v, want marketing_user's attempting since %s", got.Alerts, attempted)
		}
		if _, err := st.SettlePermissionAlerts(ctx, org.ID, attempted.Add(permissions.StaleAlertAttempt)); err != nil {
			t.Fatal(err)
		}
		got = decodeAs[httpapi.ReportJSON](t, auditDo(t, http.MethodGet, base+"/latest", true))
		if len(got.Alerts) != 1 || got.Alerts[0].Delivery != permissions.DeliveryUnconfirmed || got.Alerts[0].SentAt == nil {
			t.Errorf("alerts after settling = %+v, want marketing_user's unconfirmed", got.Alerts)
		}
	})
}

// TestPermissionAuditFirstReportHasNoPrevious: an org's only report carries previous: null.
func TestPermissionAuditFirstReportHasNoPrevious(t *testing.T) {
	st := storetest.SQLite(t)
	opt, _ := redistest.Client(t, dbAudits)
	client := asynq.NewClient(opt) // never used: GET only
	t.Cleanup(func() { _ = client.Close() })
	s, err := httpapi.New(httpapi.Params{Logger: zerolog.Nop(), Gatherer: httpapi.NewRegistry(nil), AdminUser: "admin", AdminPassword: "s3cret",
		PermissionAudits: httpapi.PermissionAudits{Store: st, Queue: permissions.Requests{Store: st, Tasks: worker.AuditTasks{Client: client}}}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	org, err := st.CreateOrg(t.Context(), directory.Org{Name: "Acme"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.SavePermissionReport(t.Context(), org.ID, permissions.Report{Checks: []permissions.Check{
		{Name: permissions.CheckConnection, Required: true, Result: permissions.ResultOK}}}); err != nil {
		t.Fatal(err)
	}
	r := auditDo(t, http.MethodGet, srv.URL+"/v1/orgs/"+org.ID+"/permission-audits/latest", true)
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(r.body, &raw); err != nil || r.status != http.StatusOK {
		t.Fatalf("latest = %d %s", r.status, r.body)
	}
	if string(raw["previous"]) != "null" {
		t.Errorf("previous = %s, want null for the first report", raw["previous"])
	}
}
