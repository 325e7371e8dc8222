package worker

import (
	"errors"
	"fmt"

	"github.com/rs/zerolog"
)

// asynqLogger routes Asynq's own log lines into zerolog. Its warnings and errors about a
// lost Redis connection feed the outage tracker instead, so an outage is logged once when
// it starts and once when it ends, not every few seconds by each of Asynq's loops.
type asynqLogger struct {
	z     zerolog.Logger
	redis *outage // nil: log everything
}

func (l asynqLogger) Debug(a ...any) { l.z.Debug().Msg(fmt.Sprint(a...)) }
func (l asynqLogger) Info(a ...any)  { l.z.Info().Msg(fmt.Sprint(a...)) }
func (l asynqLogger) Warn(a ...any)  { l.problem(l.z.Warn(), fmt.Sprint(a...)) }
func (l asynqLogger) Error(a ...any) { l.problem(l.z.Error(), fmt.Sprint(a...)) }

// Fatal logs and does not exit: only main decides to exit. Asynq calls it in tests only.
func (l asynqLogger) Fatal(a ...any) { l.z.Error().Msg(fmt.Sprint(a...)) }

func (l asynqLogger) problem(ev *zerolog.Event, msg string) {
	if l.redis != nil && looksLikeConnectionError(msg) {
		l.redis.fail(errors.New(msg))
		ev.Discard()
		return
	}
	ev.Msg(msg)
}
