package worker

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"tether/jobs"
)

func TestOrgID(t *testing.T) {
	tests := []struct {
		payload string
		want    string
	}{
		{`{"org_id":"o1","x":1}`, "o1"},
		{`{"org_id":42}`, ""},
		{`{"org":"o1"}`, ""},
		{`not json`, ""},
		{``, ""},
		{`["org_id"]`, ""},
	}
	for _, tt := range tests {
		if got := orgID([]byte(tt.payload)); got != tt.want {
			t.Errorf("orgID(%q) = %q, want %q", tt.payload, got, tt.want)
		}
	}
}

// FuzzOrgID: the logging middleware decodes every payload that reaches the worker, so it
// must not panic on any bytes.
func FuzzOrgID(f *testing.F) {
	f.Add([]byte(`{"org_id":"o1"}`))
	f.Add([]byte(`{"org_id":{"a":[1,2]}}`))
	f.Add([]byte{0, 1, 2})
	f.Fuzz(func(t *testing.T, data []byte) {
		_ = orgID(data)
	})
}

type retryIn time.Duration

func (r retryIn) Error() string             { return "busy" }
func (r retryIn) RetryAfter() time.Duration { return time.Duration(r) }

func TestClassify(t *testing.T) {
	tests := []struct {
		name      string
		err       error
		retried   int // retries already spent
		want      outcome
		skipRetry bool // Asynq must see SkipRetry
		revoke    bool // Asynq must see RevokeTask
	}{
		{"nil", nil, 0, outcomeOK, false, false},
		{"plain", errors.New("x"), 0, outcomeRetry, false, false},
		{"plain, last attempt", errors.New("x"), 5, outcomeArchived, false, false},
		{"invalid payload", fmt.Errorf("decode: %w", jobs.ErrInvalidPayload), 0, outcomeArchived, true, false},
		{"permanent", Permanent(errors.New("x")), 0, outcomeArchived, true, false},
		{"skip retry", fmt.Errorf("x: %w", asynq.SkipRetry), 0, outcomeArchived, true, false},
		{"rate limited", fmt.Errorf("call: %w", retryIn(time.Minute)), 0, outcomeSnoozed, false, false},
		{"zero delay is a plain failure", retryIn(0), 0, outcomeRetry, false, false},
		{"revoke", asynq.RevokeTask, 0, outcomeRevoked, false, true},
	}
	for _, tt := range tests {
		got, out := classify(tt.err, tt.retried, 5)
		if out != tt.want {
			t.Errorf("%s: outcome %s, want %s", tt.name, out, tt.want)
		}
		if errors.Is(got, asynq.SkipRetry) != tt.skipRetry {
			t.Errorf("%s: SkipRetry = %v, want %v", tt.name, errors.Is(got, asynq.SkipRetry), tt.skipRetry)
		}
		if errors.Is(got, asynq.RevokeTask) != tt.revoke {
			t.Errorf("%s: RevokeTask = %v, want %v", tt.name, errors.Is(got, asynq.RevokeTask), tt.revoke)
		}
		if tt.err != nil && !errors.Is(got, tt.err) {
			t.Errorf("%s: classified error lost the original", tt.name)
		}
	}
	if d := retryDelay(3, retryIn(42*time.Second), nil); d != 42*time.Second {
		t.Errorf("retryDelay = %s, want the requested 42s", d)
	}
	if isFailure(retryIn(time.Second)) || !isFailure(errors.New("x")) {
		t.Errorf("isFailure: a requested delay must not count, a plain error must")
	}
}
