package worker

import (
	"fmt"

	"github.com/rs/zerolog"
)

// asynqLogger routes Asynq's own log lines into zerolog.
type asynqLogger struct{ z zerolog.Logger }

func (l asynqLogger) Debug(a ...any) { l.z.Debug().Msg(fmt.Sprint(a...)) }
func (l asynqLogger) Info(a ...any)  { l.z.Info().Msg(fmt.Sprint(a...)) }
func (l asynqLogger) Warn(a ...any)  { l.z.Warn().Msg(fmt.Sprint(a...)) }
func (l asynqLogger) Error(a ...any) { l.z.Error().Msg(fmt.Sprint(a...)) }

// Fatal logs and does not exit: only main decides to exit. Asynq calls it in tests only.
func (l asynqLogger) Fatal(a ...any) { l.z.Error().Msg(fmt.Sprint(a...)) }
