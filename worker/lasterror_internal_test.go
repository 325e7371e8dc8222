package worker

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5/pgconn"

	"tether/connectors/salesforce"
	"tether/jobs"
	"tether/sync/invites"
	"tether/sync/permissions"
)

// What Asynq records for a failed attempt is a sentence, the audit's give-up Subject for
// an audit, while errors.Is/As, the retry delay and IsFailure still see the handler's
// error, and LastError hands the sentence on as it is.
func TestRecordedErrorIsASentenceAroundTheOriginal(t *testing.T) {
	t.Parallel()
	sf500 := fmt.Errorf("run audit a1 of org org1: %w",
		&salesforce.APIError{Status: 500, Code: "UNKNOWN_EXCEPTION", Message: "An unexpected error occurred."})
	pg := fmt.Errorf("write page 3 of import imp1: %w",
		&pgconn.PgError{Severity: "ERROR", Code: "40001", Message: "could not serialize access due to concurrent update"})
	again := "run `tether permissions check --org org1` again"

	tests := []struct {
		name    string
		err     error   // the handler's
		retried int     // retries spent, of 3
		subject Subject // zero: the audit's
		want    string
	}{
		{
			name: "Salesforce answers 500, retried",
			err:  sf500,
			want: "the permission audit failed on attempt 1 of 4: Salesforce answered HTTP 500, a failure on its side; tether retries it",
		},
		{
			name:    "Salesforce answers 500 on the last attempt",
			err:     sf500,
			retried: 3,
			want:    "the permission audit gave up after 4 attempts: Salesforce answered HTTP 500, a failure on its side; later, " + again,
		},
		{
			name:    "a database error tether does not know, retried",
			err:     pg,
			retried: 1,
			want: "the permission audit failed on attempt 2 of 4: its last error is not one tether recognises; " +
				"the worker's log has the error (task_id t1); tether retries it",
		},
		{
			name: "a permanent error is archived with SkipRetry",
			err:  Permanent(pg),
			want: "the permission audit gave up after 1 attempt: its last error is not one tether recognises; " +
				"the worker's log has the error (task_id t1); once it is fixed, " + again,
		},
		{
			name: "a request limit waits without spending an attempt",
			err:  fmt.Errorf("probe: %w", &permissions.RateLimitError{Delay: 1500 * time.Millisecond}),
			want: "the permission audit runs again in 2s, without spending an attempt: Salesforce refused for the org's API request limits",
		},
		{
			name:    "an import cut short by a shutdown resumes without spending an attempt",
			err:     &invites.InterruptedError{ImportID: "imp1", Err: context.Canceled},
			subject: importSubject(jobs.TypeInvitesImport, "org1", time.Time{}),
			want:    "the import runs again in 1s, without spending an attempt: its worker stopped while it ran (a shutdown); it resumes from its checkpoint",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			classified, out := classify(tt.err, tt.retried, 3)
			if tt.subject == (Subject{}) {
				tt.subject = auditSubject("org1", time.Time{})
			}
			got := record(attempt{err: classified, out: out, taskID: "t1", retried: tt.retried, maxRetry: 3}, tt.subject)
			if got.Error() != tt.want {
				t.Errorf("recorded %q\nwant     %q", got.Error(), tt.want)
			}
			for _, raw := range []string{"salesforce: HTTP", "UNKNOWN_EXCEPTION", "SQLSTATE", "could not serialize", "run audit a1", "write page", "skip retry", "request limit exceeded", "context canceled"} {
				if strings.Contains(got.Error(), raw) {
					t.Errorf("recorded %q holds %q from the chain", got.Error(), raw)
				}
			}
			if !errors.Is(got, tt.err) {
				t.Error("errors.Is no longer finds the handler's error")
			}
			if errors.Is(got, asynq.SkipRetry) != errors.Is(classified, asynq.SkipRetry) {
				t.Errorf("SkipRetry seen %v, want %v", errors.Is(got, asynq.SkipRetry), errors.Is(classified, asynq.SkipRetry))
			}
			if isFailure(got) != isFailure(tt.err) {
				t.Errorf("IsFailure = %v, want the handler's error's %v", isFailure(got), isFailure(tt.err))
			}
			var ra retryAfter
			if errors.As(tt.err, &ra) && retryDelay(1, got, nil) != ra.RetryAfter() {
				t.Errorf("retry delay %s, want the %s asked for", retryDelay(1, got, nil), ra.RetryAfter())
			}
			if got := LastError(&asynq.TaskInfo{ID: "t1", LastErr: got.Error()}); got != tt.want {
				t.Errorf("LastError = %q, want the recorded sentence", got)
			}
		})
	}

	// A revoked task keeps no error in Asynq: nothing to word.
	if classified, out := classify(asynq.RevokeTask, 0, 3); record(attempt{err: classified, out: out}, auditSubject("org1", time.Time{})) != classified {
		t.Error("a revoked task's error was wrapped")
	}
}

// LastError never quotes what the worker did not word: Asynq's own texts become
// sentences, anything else (a chain from a worker before these sentences) points at the log.
func TestLastErrorNeverQuotesAChain(t *testing.T) {
	t.Parallel()
	tests := []struct{ lastErr, want string }{
		{"", ""},
		{"stream users (query 1 of 1): salesforce: HTTP 500 UNKNOWN_EXCEPTION: An unexpected error occurred.",
			"its last attempt failed; the worker's log has the error (task_id t1)"},
		{context.DeadlineExceeded.Error(),
			"its last attempt did not finish within its time limit; the worker's log has where it stopped (task_id t1)"},
		{asynq.ErrLeaseExpired.Error(), "the worker running its last attempt went away before it finished (it stopped, or lost Redis)"},
	}
	for _, tt := range tests {
		if got := LastError(&asynq.TaskInfo{ID: "t1", LastErr: tt.lastErr}); got != tt.want {
			t.Errorf("LastError(%q) = %q, want %q", tt.lastErr, got, tt.want)
		}
	}
}

// A described type's sentences use its Subject; another type, or a payload that does not
// decode, is "the TYPE task".
func TestSubject(t *testing.T) {
	t.Parallel()
	w := &Worker{subjects: map[string]func([]byte) (Subject, bool){}}
	Describe(w, jobs.TypeAuditPermissions, func(p jobs.AuditPermissions) Subject { return auditSubject(p.OrgID, unixTime(p.Since)) })
	tests := []struct {
		typ, payload string
		want         Subject
	}{
		{jobs.TypeAuditPermissions, `{"org_id":"org1","audit_id":"a1"}`, auditSubject("org1", time.Time{})},
		{jobs.TypeAuditPermissions, `{"org_id":"org1","audit_id":"a1","since":1796000000}`, auditSubject("org1", time.Unix(1796000000, 0))},
		{jobs.TypeAuditPermissions, `{"org_id":"org1","day":"soon"}`, Subject{What: "the " + jobs.TypeAuditPermissions + " task", OrgID: "org1"}},
		{"test:other", `{"org_id":"org2"}`, Subject{What: "the test:other task", OrgID: "org2"}},
	}
	for _, tt := range tests {
		if got := w.subject(asynq.NewTask(tt.typ, []byte(tt.payload))); got != tt.want {
			t.Errorf("subject of %s %s = %+v, want %+v", tt.typ, tt.payload, got, tt.want)
		}
	}
}

// The reconciler marks a row whose give-up hook failed with the sentence the worker had
// Asynq record; what the worker did not word (or another Subject's sentence) is not quoted.
func TestArchivedReasonUsesTheRecordedSentence(t *testing.T) {
	t.Parallel()
	s := auditSubject("org1", time.Time{})
	sentence := GaveUp{Attempts: 6, Err: fmt.Errorf("x: %w", &salesforce.APIError{Status: 503}), TaskID: "t1"}.Explain(s)
	fallback := "the permission audit gave up after 6 attempts; its last error is in the worker's log (task_id t1)"
	tests := []struct{ lastErr, want string }{
		{sentence, sentence},
		{"run audit a1: salesforce: HTTP 503", fallback},
		{"the import gave up after 6 attempts: Salesforce answered HTTP 503, a failure on its side", fallback},
		{"", fallback},
	}
	for _, tt := range tests {
		got := archivedReason(&asynq.TaskInfo{ID: "t1", Queue: "default", Retried: 5, LastErr: tt.lastErr}, s)
		if !strings.HasPrefix(got, tt.want) {
			t.Errorf("archivedReason with last error %q = %q, want it to start with %q", tt.lastErr, got, tt.want)
		}
	}
}
