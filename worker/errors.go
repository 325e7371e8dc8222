package worker

import (
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"

	"tether/jobs"
)

// permanent is implemented by errors no retry can fix (a deleted org, a revoked grant).
type permanent interface{ Permanent() bool }

// obsolete is implemented by errors saying the task no longer needs doing (the connection
// was deleted meanwhile): the task is dropped, not archived.
type obsolete interface{ Obsolete() bool }

// retryAfter is implemented by errors asking for a retry after a given delay (a provider
// rate limit, a lock held by another worker). Such a retry is not counted as a failure.
type retryAfter interface{ RetryAfter() time.Duration }

// Permanent marks err as permanent: the task is archived with err as its reason and not
// retried. For handlers; sync packages implement Permanent() on their own error types.
func Permanent(err error) error { return permanentError{err} }

type permanentError struct{ error }

func (e permanentError) Permanent() bool { return true }
func (e permanentError) Unwrap() error   { return e.error }

// RetryAfterError asks for the task to be retried after Delay without spending a retry.
type RetryAfterError struct {
	Err   error
	Delay time.Duration
}

func (e *RetryAfterError) Error() string {
	return fmt.Sprintf("%v (retry in %s)", e.Err, e.Delay)
}
func (e *RetryAfterError) Unwrap() error             { return e.Err }
func (e *RetryAfterError) RetryAfter() time.Duration { return e.Delay }

// outcome names what Asynq will do with a task's result; it labels logs and metrics.
type outcome string

const (
	outcomeOK       outcome = "ok"
	outcomeRetry    outcome = "retry"    // failed, will be retried with backoff
	outcomeSnoozed  outcome = "snoozed"  // retried after a requested delay, no retry spent
	outcomeArchived outcome = "archived" // permanent or retries exhausted
	outcomeRevoked  outcome = "revoked"  // dropped as no longer relevant
)

// classify maps a handler's error to the error Asynq must see, and names the outcome.
// retried and maxRetry come from the task's context.
func classify(err error, retried, maxRetry int) (error, outcome) {
	if err == nil {
		return nil, outcomeOK
	}
	var (
		p  permanent
		o  obsolete
		ra retryAfter
	)
	switch {
	case errors.Is(err, asynq.RevokeTask):
		return err, outcomeRevoked
	case errors.As(err, &o) && o.Obsolete():
		return fmt.Errorf("%w: %w", err, asynq.RevokeTask), outcomeRevoked
	case errors.Is(err, asynq.SkipRetry):
		return err, outcomeArchived
	case errors.Is(err, jobs.ErrInvalidPayload), errors.As(err, &p) && p.Permanent():
		return fmt.Errorf("%w: %w", err, asynq.SkipRetry), outcomeArchived
	case errors.As(err, &ra) && ra.RetryAfter() > 0:
		return err, outcomeSnoozed
	case retried >= maxRetry:
		return err, outcomeArchived
	default:
		return err, outcomeRetry
	}
}

// retryDelay honours an error's RetryAfter and otherwise uses Asynq's backoff.
func retryDelay(n int, err error, t *asynq.Task) time.Duration {
	var ra retryAfter
	if errors.As(err, &ra) && ra.RetryAfter() > 0 {
		return ra.RetryAfter()
	}
	return asynq.DefaultRetryDelayFunc(n, err, t)
}

// isFailure reports whether err spends a retry: a requested delay does not.
func isFailure(err error) bool {
	var ra retryAfter
	return !(errors.As(err, &ra) && ra.RetryAfter() > 0)
}
