// Package jobs is the task catalogue: the contract between everything that enqueues work
// (the scheduler, the CLI, the HTTP API, the host application) and the worker that runs it.
//
// Each task family lives in its own file and follows one pattern:
//
//   - a type-name constant, "family:action" (the worker mux matches on it);
//   - a payload struct of ids only (never a token, an email body or anything secret: payloads
//     are visible in Redis, asynqmon and worker heartbeats) with a value-receiver Validate;
//   - a New…Task constructor that validates the payload and sets the queue, a deterministic
//     TaskID with a Retention (Asynq's Unique lock is released on success, so only a TaskID
//     stops a late duplicate), MaxRetry and Timeout.
//
// The worker decodes payloads with Decode, which rejects malformed JSON and anything
// Validate refuses with ErrInvalidPayload; the worker archives such tasks without retrying.
//
// The package does no I/O.
package jobs
