package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime/debug"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/rs/zerolog"
)

// observe logs one line per task (id, type, queue, org id, attempt, duration, outcome;
// never the payload), records metrics, puts a task logger in ctx (zerolog.Ctx) and turns
// the handler's error into Asynq behaviour (classify).
func (w *Worker) observe(next asynq.Handler) asynq.Handler {
	return asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error {
		id, _ := asynq.GetTaskID(ctx)
		queue, _ := asynq.GetQueueName(ctx)
		retried, _ := asynq.GetRetryCount(ctx)
		maxRetry, _ := asynq.GetMaxRetry(ctx)

		lc := w.log.With().Str("task_id", id).Str("task_type", t.Type()).Str("queue", queue).Int("retried", retried)
		if org := orgID(t.Payload()); org != "" {
			lc = lc.Str("org_id", org)
		}
		log := lc.Logger()
		ctx = log.WithContext(ctx)
		ctx = context.WithValue(ctx, resultWriterKey{}, t.ResultWriter())

		typ := t.Type()
		w.mu.RLock()
		if _, known := w.handlers[typ]; !known {
			typ = "unknown" // bounded label set: types come from Redis, not from code
		}
		w.mu.RUnlock()

		w.metrics.inFlight.Inc()
		start := time.Now()
		err := next.ProcessTask(ctx, t)
		elapsed := time.Since(start)
		w.metrics.inFlight.Dec()

		err, out := classify(err, retried, maxRetry)
		w.metrics.tasks.WithLabelValues(typ, string(out)).Inc()
		w.metrics.duration.WithLabelValues(typ).Observe(elapsed.Seconds())

		var ev *zerolog.Event
		switch {
		case out == outcomeOK:
			ev = log.Info()
		case w.db != nil && !w.pingDatabase(ctx):
			// The database is down: the outage is logged once, not by every task.
			ev = log.Warn().Err(err)
			ev.Discard()
		case out == outcomeRetry, out == outcomeSnoozed, out == outcomeRevoked:
			ev = log.Warn().Err(err)
		default:
			ev = log.Error().Err(err)
		}
		ev.Float64("duration_ms", float64(elapsed.Microseconds())/1000).Str("outcome", string(out)).Msg("task done")
		if out == outcomeArchived {
			w.runGiveUp(ctx, t, err, retried)
		}
		if out == outcomeOK || out == outcomeRevoked {
			return err // no sentence to make: spare every successful task a payload decode
		}
		// Logged above with its chain; Asynq records the sentence (TaskInfo.LastErr).
		return record(attempt{err: err, out: out, taskID: id, retried: retried, maxRetry: maxRetry}, w.subject(t))
	})
}

// runGiveUp runs the task type's give-up hook, if any, for an archived task.
func (w *Worker) runGiveUp(ctx context.Context, t *asynq.Task, err error, retried int) {
	w.mu.RLock()
	fn := w.giveUps[t.Type()]
	w.mu.RUnlock()
	if fn == nil {
		return
	}
	// The task's own context may be what ran out; the row must still be marked.
	hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	id, _ := asynq.GetTaskID(ctx)
	if herr := fn(hctx, t, GaveUp{Attempts: retried + 1, Err: err, TaskID: id, At: time.Now()}); herr != nil {
		zerolog.Ctx(ctx).Error().Err(herr).Msg("task gave up, and marking its row failed failed too; the reconciler retries it")
	}
}

// GaveUp is the reason a give-up hook receives: the task's last error and how many
// attempts were made. Error() keeps the chain, for logs; what a person reads is Explain.
type GaveUp struct {
	Attempts int
	Err      error
	TaskID   string    // for the sentence pointing at the worker's log
	At       time.Time // when it gave up; with Subject.Since, how long the retries ran
}

func (g GaveUp) Error() string {
	var p permanent
	if errors.As(g.Err, &p) && p.Permanent() || errors.Is(g.Err, asynq.SkipRetry) {
		return strings.TrimSuffix(g.Err.Error(), ": "+asynq.SkipRetry.Error())
	}
	return fmt.Sprintf("gave up after %d attempts: %s", g.Attempts, strings.TrimSuffix(g.Err.Error(), ": "+asynq.SkipRetry.Error()))
}

func (g GaveUp) Unwrap() error { return g.Err }

// orgID reads a top-level "org_id" from a JSON payload; "" when there is none or the
// payload is not JSON. Every org-scoped payload in jobs names it org_id.
func orgID(payload []byte) string {
	// One decode straight into a string (every task pays it): an org_id of another type
	// is a type error, so "".
	var p struct {
		OrgID string `json:"org_id"`
	}
	if json.Unmarshal(payload, &p) != nil {
		return ""
	}
	return p.OrgID
}

// PanicError is what a panicking handler returns instead; the task is retried like any
// failure. Stack is logged, not put in the error (it would land in Redis as LastErr).
type PanicError struct {
	Value any
	Stack []byte
}

func (e *PanicError) Error() string { return fmt.Sprintf("handler panic: %v", e.Value) }

// recoverPanics turns a handler panic into a *PanicError and logs its stack.
func recoverPanics(next asynq.Handler) asynq.Handler {
	return asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) (err error) {
		defer func() {
			if v := recover(); v != nil {
				pe := &PanicError{Value: v, Stack: debug.Stack()}
				zerolog.Ctx(ctx).Error().Str("panic", fmt.Sprint(v)).Str("stack", string(pe.Stack)).Msg("handler panicked")
				err = pe
			}
		}()
		return next.ProcessTask(ctx, t)
	})
}
