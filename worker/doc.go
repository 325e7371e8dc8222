// Package worker runs tether's tasks on Asynq: the server (queues critical, connections,
// default and low, weighted 6:4:3:1), the handler registry, the middleware every task goes
// through (logging,
// metrics, panic recovery, payload validation, error classification) and the scheduler that
// enqueues periodic tasks.
//
// Adding a task family: define it in jobs (one file), write its handler here in one file
// (see events.go), and add one line to Register in handlers.go.
//
// Handlers are thin: decode the payload (Handle does it) and call a sync service. How a
// handler's error becomes Asynq behaviour is decided in one place, errors.go:
//
//   - an invalid payload (jobs.ErrInvalidPayload) or an error with Permanent() true is
//     archived at once with its reason (asynq.SkipRetry);
//   - an error with Obsolete() true removes the task without archiving it (asynq.RevokeTask);
//   - an error with RetryAfter() > 0 is retried after exactly that delay and does not spend
//     one of the task's retries (rate limits, a busy lock);
//   - any other error is retried with exponential backoff until MaxRetry, then archived.
//
// sync packages express these outcomes by implementing the methods on their own error
// types; they do not import this package or Asynq.
//
// What Asynq records of a failed attempt (TaskInfo.LastErr) is a sentence for a person
// (lasterror.go), about the Subject a task family gives with Describe; the chain is logged
// once, on the task's "task done" line.
package worker
