package worker_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"tether/connectors/email"
	"tether/connectors/email/mailsink"
	"tether/connectors/salesforce"
	"tether/connectors/sandbox/sfdc"
	"tether/internal/syncbuf"
	"tether/jobs"
	"tether/sync/connections"
	"tether/sync/directory"
	"tether/sync/invites"
	"tether/sync/members"
	"tether/sync/onboarding"
	"tether/sync/store"
	"tether/sync/store/storetest"
	"tether/worker"
)

// sfToken is the access token of the Salesforce calls below: it must never reach a reason.
const sfToken = "00Dxx0000001gPL!AQ4AQFakeAccessToken"

// salesforceErr is the error the real Salesforce client returns for one GET /limits
// against instanceURL, through hc (nil: the default client); ctx may carry a deadline.
func salesforceErr(t *testing.T, ctx context.Context, instanceURL string, hc *http.Client) error {
	t.Helper()
	c, err := salesforce.New(salesforce.Config{InstanceURL: instanceURL, HTTPClient: hc,
		Token: func(context.Context) (string, error) { return sfToken, nil }})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Limits(ctx)
	if err == nil {
		t.Fatal("Limits succeeded, want an error")
	}
	// The import and the audit wrap it with their operation and ids.
	return fmt.Errorf("stream users (query 1 of 1): %w", err)
}

// answering is a Salesforce that answers every request with status and body.
func answering(t *testing.T, status int, body string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// closedURL is an address nothing listens on.
func closedURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return "http://" + addr
}

// undeliverable is the error the real invitation mailer returns when the server refuses
// the message with code.
func undeliverable(t *testing.T, code int) error {
	t.Helper()
	sink, err := mailsink.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sink.Close() })
	sink.FailNext(1, code)
	m, err := email.New(email.Config{Host: sink.Host(), Port: sink.Port(), TLS: email.TLSNone, From: "tether <invite@acme.example>"})
	if err != nil {
		t.Fatal(err)
	}
	err = email.InviteMailer(m, "").Send(t.Context(), onboarding.Email{To: "ann@acme.example", Subject: "Join", Text: "hi"})
	if err == nil {
		t.Fatal("send succeeded, want a refusal")
	}
	return fmt.Errorf("send invite inv1 attempt 1: %w", err)
}

func TestGaveUpExplain(t *testing.T) {
	t.Parallel()
	imp := worker.Subject{What: "the import", OrgID: "org1", Again: "start the import again with `tether invite import --org org1`"}
	hung := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	t.Cleanup(hung.Close)
	deadline, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	noDNS := &http.Client{Transport: &http.Transport{DialContext: func(_ context.Context, _, addr string) (net.Conn, error) {
		host, _, _ := net.SplitHostPort(addr)
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}}
	}}}

	tests := []struct {
		name     string
		err      error
		attempts int
		want     []string // each must appear in the sentence
	}{
		{
			name:     "Salesforce answers 500 every time",
			err:      salesforceErr(t, t.Context(), answering(t, 500, `[{"errorCode":"UNKNOWN_EXCEPTION","message":"An unexpected error occurred."}]`), nil),
			attempts: 11,
			want: []string{"the import gave up after 11 attempts: Salesforce answered HTTP 500, a failure on its side; " +
				"later, start the import again with `tether invite import --org org1`"},
		},
		{
			name:     "Salesforce refuses the request",
			err:      salesforceErr(t, t.Context(), answering(t, 400, `[{"errorCode":"INVALID_FIELD","message":"No such column"}]`), nil),
			attempts: 1,
			want:     []string{"gave up after 1 attempt: Salesforce refused tether's request (HTTP 400)", "the worker's log has the error (task_id invites:import:org1:imp1)"},
		},
		{
			name:     "Salesforce refuses the session",
			err:      salesforceErr(t, t.Context(), answering(t, 401, `[{"errorCode":"INVALID_SESSION_ID","message":"Session expired or invalid"}]`), nil),
			attempts: 3,
			want:     []string{"Salesforce refused the team-level session (HTTP 401)", "run `tether org connect-salesforce org1`, then start the import again"},
		},
		{
			name:     "Salesforce is not listening",
			err:      salesforceErr(t, t.Context(), closedURL(t), nil),
			attempts: 11,
			want:     []string{"tether could not reach Salesforce (connection refused); check that the worker can reach Salesforce, then start the import again"},
		},
		{
			name:     "Salesforce's name does not resolve",
			err:      salesforceErr(t, t.Context(), "https://acme.my.salesforce.invalid", noDNS),
			attempts: 2,
			want:     []string{"tether could not reach Salesforce (its name did not resolve)"},
		},
		{
			name:     "Salesforce does not answer in time",
			err:      salesforceErr(t, deadline, hung.URL, nil),
			attempts: 2,
			want:     []string{"tether could not reach Salesforce (no answer in time)"},
		},
		{
			name: "the team connection needs reconnecting",
			err: fmt.Errorf("%w: %w", invites.ErrNoConnection, &connections.Failure{Class: connections.FailNeedsReconnect,
				Provider: "salesforce", Op: "refresh", Code: "invalid_grant", Reason: "the grant was revoked", Status: 400}),
			attempts: 1,
			want:     []string{"the org's team-level Salesforce connection needs reconnecting; run `tether org connect-salesforce org1`, then start the import again"},
		},
		{
			name: "no team connection",
			err: &invites.Error{Code: invites.CodeNoConnection,
				Message: "org org1: no usable team-level Salesforce connection: org has no team-level Salesforce connection; connect the team-level Salesforce account and run the import again"},
			attempts: 1,
			want:     []string{"the org has no usable team-level Salesforce connection; run `tether org connect-salesforce org1`"},
		},
		{
			name:     "an import refusal keeps its own sentence",
			err:      &invites.UnknownProfilesError{Unknown: []string{"Sales Usr"}, Known: []string{"Sales User"}},
			attempts: 1,
			want:     []string{`unknown Salesforce profile "Sales Usr"; existing profiles: "Sales User"; fix the selection and start the import again`},
		},
		{
			name: "the account is disabled (needs_admin)",
			err: fmt.Errorf("refresh connection c1: %w", &connections.Failure{Class: connections.FailNeedsAdmin, Provider: "salesforce",
				Op: "refresh", Code: "invalid_grant", SubCode: "inactive user", Reason: "the Salesforce user is inactive: a Salesforce admin must reactivate it", Status: 400}),
			attempts: 1,
			want: []string{"Salesforce refused: the Salesforce user is inactive: a Salesforce admin must reactivate it; " +
				"once that is fixed, start the import again"},
		},
		{
			name: "a token refresh answered 503",
			err: fmt.Errorf("refresh connection c1: %w", &connections.Failure{Class: connections.FailTransient, Provider: "google",
				Op: "refresh", Status: 503}),
			attempts: 6,
			want:     []string{"Google answered HTTP 503, a failure on its side; later, start the import again"},
		},
		{
			name:     "the mail server refuses the address",
			err:      undeliverable(t, 550),
			attempts: 1,
			want:     []string{"the mail server refused it for good (undeliverable, SMTP 550); check the invite's email address"},
		},
		{
			name:     "the mail server keeps deferring",
			err:      undeliverable(t, 451),
			attempts: 6,
			want:     []string{"the mail server kept deferring it (SMTP 451); later, start the import again"},
		},
		{
			name:     "revokes kept failing",
			err:      &members.RevokeError{MembershipID: "m1", Failed: map[connections.Kind]string{connections.KindGoogleCalendar: "google revoke: transient"}},
			attempts: 6,
			want:     []string{"revoking tether's access failed at Google; tether deleted the tokens it kept, but those grants may still be live"},
		},
		{
			name:     "a panic",
			err:      &worker.PanicError{Value: "index out of range"},
			attempts: 3,
			want:     []string{"tether's handler crashed, which is a bug in tether; report it with the worker's log lines of task_id invites:import:org1:imp1"},
		},
		{
			name:     "something tether does not know",
			err:      fmt.Errorf("write page 3 of import imp1: %w", errors.New("pq: could not serialize access")),
			attempts: 11,
			want:     []string{"its last error is not one tether recognises; the worker's log has the error (task_id invites:import:org1:imp1); once it is fixed, start the import again"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := worker.GaveUp{Attempts: tt.attempts, Err: tt.err, TaskID: "invites:import:org1:imp1"}.Explain(imp)
			t.Log(got)
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("reason %q\nwant it to contain %q", got, w)
				}
			}
			// The chain stays in the log: no library's text, no URL, no token.
			for _, raw := range []string{"salesforce: HTTP", "dial tcp", "Get \"", "Post \"", "127.0.0.1", "http://", "email:", "pq:", sfToken, "invalid_grant"} {
				if strings.Contains(got, raw) {
					t.Errorf("reason %q holds %q from the error's chain", got, raw)
				}
			}
		})
	}
}

// A give-up says how long the retries ran when the subject knows when the work began (the
// row's creation, carried in the payload), and nothing about it when it does not.
func TestGaveUpSaysHowLongTheRetriesRan(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 12, 1, 14, 0, 0, 0, time.UTC)
	err := fmt.Errorf("stream users: %w", context.DeadlineExceeded)
	for _, tt := range []struct {
		since time.Time
		want  string
	}{
		{at.Add(-11*time.Hour - 52*time.Minute - 30*time.Second), "the import gave up after 11 attempts over 11h52m: "},
		{at.Add(-7*time.Minute - 10*time.Second), "the import gave up after 11 attempts over 7m: "},
		{at.Add(-40 * time.Second), "the import gave up after 11 attempts over 40s: "},
		{time.Time{}, "the import gave up after 11 attempts: "},
		{at.Add(time.Minute), "the import gave up after 11 attempts: "}, // a clock behind the row's: not said
	} {
		s := worker.Subject{What: "the import", OrgID: "org1", Again: "start it again", Since: tt.since}
		if got := (worker.GaveUp{Attempts: 11, Err: err, TaskID: "t1", At: at}).Explain(s); !strings.HasPrefix(got, tt.want) {
			t.Errorf("since %s: %q, want it to begin %q", tt.since, got, tt.want)
		}
	}
	// A first attempt's give-up (a permanent error) retried nothing: no time is said.
	s := worker.Subject{What: "the import", Since: at.Add(-time.Hour)}
	if got := (worker.GaveUp{Attempts: 1, Err: err, TaskID: "t1", At: at}).Explain(s); !strings.HasPrefix(got, "the import gave up after 1 attempt: ") {
		t.Errorf("one attempt: %q", got)
	}
}

// An import whose Salesforce is not listening gives up, through the real worker, Redis and
// store: the row's reason is the sentence, the chain (with the address it dialled) is in
// the worker's log once, on the give-up's line. Both backends.
func TestImportGivesUpWithASentence(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		w := wireImportWorld(t, st, closedURL(t), sfToken, 200)
		var logs syncbuf.Buffer
		wk, err := worker.New(worker.Params{
			Redis: w.redis, Logger: zerolog.New(&logs), Registerer: prometheus.NewRegistry(), Concurrency: 2,
			TaskCheckInterval: 20 * time.Millisecond, DelayedTaskCheckInterval: 100 * time.Millisecond,
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := worker.Register(wk, complete(t, worker.Services{Imports: w.svc})); err != nil {
			t.Fatal(err)
		}
		start(t, wk)
		imp, err := w.svc.Create(t.Context(), invites.Request{OrgID: w.org.ID, Profiles: []string{sfdc.ProfileSalesUser}, Role: directory.RoleChat})
		if err != nil {
			t.Fatal(err)
		}
		task, err := jobs.NewImportTask(w.org.ID, imp.ID, imp.CreatedAt)
		if err != nil {
			t.Fatal(err)
		}
		// One attempt in all, so the last one comes without Asynq's minutes of backoff.
		if _, err := w.client.Enqueue(task, asynq.MaxRetry(0)); err != nil {
			t.Fatal(err)
		}
		var got directory.Import
		waitUntil(t, "the import to fail", func() bool {
			got, err = st.GetImport(t.Context(), w.org.ID, imp.ID)
			return err == nil && got.Status == directory.ImportFailed
		})
		taskID := jobs.TaskIDInvitesImport(jobs.TypeInvitesImport, w.org.ID, imp.ID)
		want := "the import gave up after 1 attempt: tether could not reach Salesforce (connection refused); " +
			"check that the worker can reach Salesforce, then start the import again with `tether invite import --org " + w.org.ID + "`"
		reason := strings.Join(got.Errors, "; ")
		if !strings.Contains(reason, want) {
			t.Errorf("failed import's reason %q\nwant %q", reason, want)
		}
		for _, raw := range []string{"dial tcp", "Get \"", "Post \"", "127.0.0.1", "salesforce GET", sfToken} {
			if strings.Contains(reason, raw) {
				t.Errorf("reason %q holds %q", reason, raw)
			}
		}
		// Asynq records the same sentence, which the CLI's status lines print.
		var info *asynq.TaskInfo
		waitUntil(t, "the task to be archived", func() bool {
			info, err = w.inspector.GetTaskInfo(jobs.QueueDefault, taskID)
			return err == nil && info.State == asynq.TaskStateArchived
		})
		if !strings.HasPrefix(info.LastErr, want) || !strings.Contains(reason, info.LastErr) {
			t.Errorf("archived task's last error %q\nwant the row's reason %q", info.LastErr, reason)
		}
		// The chain is logged once, on the archived task's line, which the reason's
		// commands do not need but an operator does.
		var chain []string
		for _, line := range strings.Split(logs.String(), "\n") {
			if strings.Contains(line, "dial tcp") {
				chain = append(chain, line)
			}
		}
		if len(chain) != 1 || !strings.Contains(chain[0], `"outcome":"archived"`) || !strings.Contains(chain[0], taskID) ||
			!strings.Contains(chain[0], "connection refused") {
			t.Errorf("log lines with the chain: %q, want the archived task's one", chain)
		}
		if strings.Contains(logs.String(), sfToken) {
			t.Error("the worker logged the access token")
		}
	})
}

// An import whose task was archived while its row could not be marked: the reconciler
// has only Asynq's last error text, so the reason says where it is instead of pasting it.
func TestReconcilerMarksArchivedImportWithASentence(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		w := wireImportWorld(t, st, closedURL(t), sfToken, 200)
		imp, err := w.svc.Create(t.Context(), invites.Request{OrgID: w.org.ID, Profiles: []string{sfdc.ProfileSalesUser}, Role: directory.RoleChat})
		if err != nil {
			t.Fatal(err)
		}
		task, err := jobs.NewImportTask(w.org.ID, imp.ID, imp.CreatedAt)
		if err != nil {
			t.Fatal(err)
		}
		info, err := w.client.Enqueue(task)
		if err != nil {
			t.Fatal(err)
		}
		// No worker ran it: archived as a give-up whose row write failed leaves it.
		if err := w.inspector.ArchiveTask(info.Queue, info.ID); err != nil {
			t.Fatal(err)
		}
		res, err := w.reconciler(&sendLog{}).Reconcile(t.Context())
		if err != nil || res.MarkedFailed != 1 {
			t.Fatalf("reconcile: %+v %v, want the import marked failed", res, err)
		}
		got, err := st.GetImport(t.Context(), w.org.ID, imp.ID)
		if err != nil {
			t.Fatal(err)
		}
		want := "the import gave up after 1 attempt; its last error is in the worker's log (task_id " + info.ID +
			") and, while the archived task is kept, in the Asynq UI (/monitoring/, queue default, archived); " +
			"once it is fixed, start the import again with `tether invite import --org " + w.org.ID + "`"
		if got.Status != directory.ImportFailed || !strings.Contains(strings.Join(got.Errors, "; "), want) {
			t.Errorf("import %s with errors %q\nwant failed with %q", got.Status, got.Errors, want)
		}
	})
}
