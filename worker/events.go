package worker

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/hibiken/asynq"
	"github.com/rs/zerolog"

	"tether/jobs"
)

// EventsPruner deletes audit events older than a given age (sync/events.Service).
type EventsPruner interface {
	Prune(ctx context.Context, olderThan time.Duration) (int64, error)
}

func registerEvents(w *Worker, s Services) {
	Handle(w, jobs.TypeEventsPrune, func(ctx context.Context, p jobs.EventsPrune) error {
		n, err := s.Events.Prune(ctx, s.EventRetention)
		if err != nil {
			return fmt.Errorf("prune events for slot %s: %w", p.Slot, err)
		}
		zerolog.Ctx(ctx).Info().Int64("deleted", n).Str("retention", s.EventRetention.String()).Msg("events pruned")
		writeResult(ctx, "deleted="+strconv.FormatInt(n, 10))
		return nil
	})
}

// writeResult stores a short result on the task (kept while its Retention lasts) for
// operators and the demo; failing to store it does not fail the task.
func writeResult(ctx context.Context, s string) {
	rw, ok := resultWriter(ctx)
	if !ok {
		return
	}
	if _, err := rw.Write([]byte(s)); err != nil {
		zerolog.Ctx(ctx).Warn().Err(err).Msg("write task result")
	}
}

type resultWriterKey struct{}

// resultWriter returns the current task's ResultWriter, which observe puts in ctx.
func resultWriter(ctx context.Context) (*asynq.ResultWriter, bool) {
	rw, ok := ctx.Value(resultWriterKey{}).(*asynq.ResultWriter)
	return rw, ok && rw != nil
}
