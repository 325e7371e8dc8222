package worker

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/hibiken/asynq"

	"tether/jobs"
)

// errNoHandler is dispatch's error for a task type no handler knows.
var errNoHandler = errors.New("no handler for task type")

// Describe registers what a task of type typ is, in an admin's words (fn's Subject), for
// the sentence Asynq records when one of its attempts fails (see LastError). A type not
// described is "the TYPE task" with no command to run it again; so is a payload that does
// not decode. Give-up hooks (OnGiveUp) use the same Subject for the row's reason.
func Describe[P jobs.Payload](w *Worker, typ string, fn func(p P) Subject) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.subjects[typ] = func(payload []byte) (Subject, bool) {
		p, err := jobs.Decode[P](payload)
		if err != nil {
			return Subject{}, false
		}
		return fn(p), true
	}
}

// subject is what t is for the sentences about its attempts.
func (w *Worker) subject(t *asynq.Task) Subject {
	w.mu.RLock()
	fn := w.subjects[t.Type()]
	w.mu.RUnlock()
	if fn != nil {
		if s, ok := fn(t.Payload()); ok {
			return s
		}
	}
	return Subject{What: "the " + t.Type() + " task", OrgID: orgID(t.Payload())}
}

// recordedError is a failed attempt's error as Asynq records it: Error is a sentence
// (TaskInfo.LastErr, read by the CLI's --wait lines and the Asynq UI), Unwrap the
// handler's error, so errors.Is(err, asynq.SkipRetry), the retry delay and IsFailure
// still see what the handler returned.
type recordedError struct {
	sentence string
	err      error
}

func (e *recordedError) Error() string { return e.sentence }
func (e *recordedError) Unwrap() error { return e.err }

// attempt is one failed attempt of a task, as observe sees it.
type attempt struct {
	err               error // classified
	out               outcome
	taskID            string
	retried, maxRetry int
}

// record is a.err as Asynq must record it: wrapped with the sentence a person reads, the
// give-up's (GaveUp.Explain) for an archived task. A success or a revoked task (Asynq
// keeps no error for it) is returned as is.
func record(a attempt, s Subject) error {
	var sentence string
	switch a.out {
	case outcomeOK, outcomeRevoked:
		return a.err
	case outcomeArchived:
		sentence = GaveUp{Attempts: a.retried + 1, Err: a.err, TaskID: a.taskID, At: time.Now()}.Explain(s)
	case outcomeSnoozed:
		d := diagnose(a.err, a.taskID, s, true)
		var ra retryAfter
		errors.As(a.err, &ra) // outcomeSnoozed says it is there
		sentence = fmt.Sprintf("%s runs again in %s, without spending an attempt: %s", s.What, roundUp(ra.RetryAfter()), d.problem)
	default:
		d := diagnose(a.err, a.taskID, s, true)
		sentence = fmt.Sprintf("%s failed on attempt %d of %d: %s", s.What, a.retried+1, a.maxRetry+1, d.problem)
		if d.act != "" {
			sentence += "; " + d.act
		}
		sentence += "; tether retries it"
	}
	return &recordedError{sentence: sentence, err: a.err}
}

// roundUp rounds d up to a whole second: "in 0s" would not be true.
func roundUp(d time.Duration) time.Duration {
	return ((d + time.Second - 1) / time.Second) * time.Second
}

// recorded matches the sentences record writes.
var recorded = regexp.MustCompile(`^the .+? (gave up after \d+ attempts?(?: over \w+)?|failed on attempt \d+ of \d+|runs again in \S+, without spending an attempt): `)

// LastError is what a person reads about a task's last failed attempt (info.LastErr): the
// sentence the worker recorded; for what Asynq records on its own (the attempt outran
// its deadline, or its worker went away) a sentence saying so; anything else (a worker
// from before these sentences) is not quoted, the sentence names the log line instead.
// It never holds an error's chain. "" when no attempt failed.
func LastError(info *asynq.TaskInfo) string {
	switch {
	case info.LastErr == "":
		return ""
	case recorded.MatchString(info.LastErr):
		return info.LastErr
	case info.LastErr == context.DeadlineExceeded.Error():
		return "its last attempt did not finish within its time limit; the worker's log has where it stopped (task_id " + info.ID + ")"
	case info.LastErr == asynq.ErrLeaseExpired.Error():
		return "the worker running its last attempt went away before it finished (it stopped, or lost Redis)"
	}
	return "its last attempt failed; the worker's log has the error (task_id " + info.ID + ")"
}
