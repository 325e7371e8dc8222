package main

import (
	"log"
	"os"
	"strings"

	"github.com/rs/zerolog"
)

// redirectStdlog sends what libraries print through the standard log package to logger as
// warnings, and returns the function that puts it back. Asynq's queue metrics collector
// prints there on every scrape that Redis does not answer; left alone, that line bypassed
// TETHER_LOG_FORMAT (json: one object a line) with a timestamp of its own.
func redirectStdlog(logger zerolog.Logger) (restore func()) {
	flags, prefix := log.Flags(), log.Prefix()
	log.SetFlags(0)
	log.SetPrefix("")
	log.SetOutput(stdlogWriter{logger})
	return func() {
		log.SetOutput(os.Stderr)
		log.SetFlags(flags)
		log.SetPrefix(prefix)
	}
}

type stdlogWriter struct{ log zerolog.Logger }

func (w stdlogWriter) Write(p []byte) (int, error) {
	w.log.Warn().Msg(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
