package worker

import (
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// outage tracks whether a dependency (Redis, the database) is reachable and logs only
// when that changes: one error line when it goes away, one info line when it is back with
// how long it was gone. Errors seen while it is down are counted, not logged. Safe for
// concurrent use.
type outage struct {
	log      zerolog.Logger
	name     string // "redis"
	variable string // the setting that points at it, for the operator
	now      func() time.Time

	mu         sync.Mutex
	down       bool
	since      time.Time
	suppressed int
}

func newOutage(log zerolog.Logger, name, variable string) *outage {
	return &outage{log: log, name: name, variable: variable, now: time.Now}
}

// observe records the result of a check: nil means reachable.
func (o *outage) observe(err error) {
	if err != nil {
		o.fail(err)
		return
	}
	o.mu.Lock()
	if !o.down {
		o.mu.Unlock()
		return
	}
	o.down = false
	gone, n := o.now().Sub(o.since), o.suppressed
	o.suppressed = 0
	o.mu.Unlock()
	o.log.Info().Str("dependency", o.name).Str("down_for", gone.Round(time.Second).String()).
		Int("errors_not_logged", n).Msgf("%s is reachable again", o.name)
}

// fail records a failure; only the first of an outage is logged. It reports whether the
// failure was logged.
func (o *outage) fail(err error) bool {
	o.mu.Lock()
	if o.down {
		o.suppressed++
		o.mu.Unlock()
		return false
	}
	o.down, o.since = true, o.now()
	o.mu.Unlock()
	o.log.Error().Err(err).Str("dependency", o.name).
		Msgf("%s is unreachable (check %s and that it is up); tasks wait and resume when it is back; logging again only when it returns", o.name, o.variable)
	return true
}

// isDown reports the current state.
func (o *outage) isDown() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.down
}

// looksLikeConnectionError tells Asynq's log lines about a lost Redis connection from
// the rest; Asynq gives no structured error to its logger.
func looksLikeConnectionError(msg string) bool {
	for _, s := range []string{"dial tcp", "connection refused", "i/o timeout", "connection reset",
		"broken pipe", "no route to host", "EOF", "client is closed", "connect: "} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}
