package worker

import (
	"cmp"
	"context"
	"errors"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"tether/sync/connections"
)

// ConnectionStats is what the connection gauges read; *store.Store implements it.
type ConnectionStats interface {
	// CountConnectionsByState returns how many connections of each kind are in each state.
	CountConnectionsByState(ctx context.Context) ([]connections.StateCount, error)
	// OldestOverdueConnection returns the next refresh time of the connection due longest
	// at now, and false when none is due.
	OldestOverdueConnection(ctx context.Context, now time.Time) (time.Time, bool, error)
}

// ConnectionGaugesParams configures RegisterConnectionGauges.
type ConnectionGaugesParams struct {
	Stats  ConnectionStats // required
	Logger zerolog.Logger
	// MaxAge is how long one reading of the store serves scrapes: Prometheus scraping every
	// few seconds, or several scrapers, cost one pair of queries per MaxAge. Zero means 30s.
	MaxAge time.Duration
	// Timeout bounds one reading. Zero means 5s.
	Timeout time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// knownKinds and knownStates are reported at zero when no connection has them, so a
// state that empties shows 0 rather than a vanished series. Others found in the store
// (a state added later) are reported as found.
var (
	knownKinds = []connections.Kind{connections.KindSalesforceTeam, connections.KindSalesforce,
		connections.KindGoogleCalendar, connections.KindMicrosoftCalendar, connections.KindZoom, connections.KindTeams}
	knownStates = []connections.State{connections.StateMissing, connections.StateHealthy,
		connections.StateRefreshing, connections.StateDegraded, connections.StateError,
		connections.StateNeedsReconnect, connections.StateNeedsAdmin, connections.StateRevoked}
)

// RegisterConnectionGauges registers on reg the gauges read from the store:
// tether_connections{kind,state} and tether_connection_sweep_lag_seconds (how long the
// oldest overdue connection has waited; 0 when none is), plus the time of the last good
// reading and a count of failed ones. A failed reading keeps the last good values, so a
// database hiccup shows as a stale timestamp, not as a drop to zero. Register it in one
// process kind only (serve), as the readings are system-wide.
func RegisterConnectionGauges(reg prometheus.Registerer, p ConnectionGaugesParams) error {
	if p.Stats == nil {
		return errors.New("worker: ConnectionGaugesParams.Stats is required")
	}
	c := &connectionGauges{
		p: p,
		byState: prometheus.NewDesc("tether_connections",
			"Connections by kind and state, system-wide.", []string{"kind", "state"}, nil),
		lag: prometheus.NewDesc("tether_connection_sweep_lag_seconds",
			"How long the oldest overdue connection (next refresh time passed, not revoked) has waited for its refresh; 0 when none has.", nil, nil),
		readAt: prometheus.NewDesc("tether_connection_stats_read_timestamp_seconds",
			"When the connection gauges were last read from the database (Unix time); old means the readings fail.", nil, nil),
		errors: prometheus.NewCounter(prometheus.CounterOpts{Name: "tether_connection_stats_read_errors_total",
			Help: "Failed readings of the connection gauges from the database."}),
		seen: map[connections.StateCount]bool{},
	}
	c.p.MaxAge = cmp.Or(c.p.MaxAge, 30*time.Second)
	c.p.Timeout = cmp.Or(c.p.Timeout, 5*time.Second)
	if c.p.Now == nil {
		c.p.Now = time.Now
	}
	return reg.Register(c)
}

type connectionGauges struct {
	p                    ConnectionGaugesParams
	byState, lag, readAt *prometheus.Desc
	errors               prometheus.Counter

	mu     sync.Mutex // one reading at a time; concurrent scrapes share it
	last   time.Time  // when the last good reading was taken; zero before the first
	counts []connections.StateCount
	lagSec float64
	seen   map[connections.StateCount]bool // kind+state pairs ever reported (Count 0)
}

func (c *connectionGauges) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.byState
	ch <- c.lag
	ch <- c.readAt
	c.errors.Describe(ch)
}

func (c *connectionGauges) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if now := c.p.Now(); c.last.IsZero() || now.Sub(c.last) >= c.p.MaxAge {
		c.read(now)
	}
	c.errors.Collect(ch)
	if c.last.IsZero() {
		return // nothing good read yet: absent, rather than zeros that look true
	}
	values := map[connections.StateCount]int{}
	for _, k := range knownKinds {
		for _, s := range knownStates {
			values[connections.StateCount{Kind: k, State: s}] = 0
		}
	}
	for pair := range c.seen {
		values[pair] = 0
	}
	for _, n := range c.counts {
		values[connections.StateCount{Kind: n.Kind, State: n.State}] = n.Count
	}
	for pair, n := range values {
		ch <- prometheus.MustNewConstMetric(c.byState, prometheus.GaugeValue, float64(n), string(pair.Kind), string(pair.State))
	}
	ch <- prometheus.MustNewConstMetric(c.lag, prometheus.GaugeValue, c.lagSec)
	ch <- prometheus.MustNewConstMetric(c.readAt, prometheus.GaugeValue, float64(c.last.UnixNano())/1e9)
}

// read takes a new reading at now; the caller holds mu.
func (c *connectionGauges) read(now time.Time) {
	ctx, cancel := context.WithTimeout(context.Background(), c.p.Timeout)
	defer cancel()
	counts, err := c.p.Stats.CountConnectionsByState(ctx)
	if err != nil {
		c.failed(err)
		return
	}
	oldest, overdue, err := c.p.Stats.OldestOverdueConnection(ctx, now)
	if err != nil {
		c.failed(err)
		return
	}
	c.counts, c.last, c.lagSec = counts, now, 0
	if overdue {
		c.lagSec = now.Sub(oldest).Seconds()
	}
	for _, n := range counts {
		c.seen[connections.StateCount{Kind: n.Kind, State: n.State}] = true
	}
}

func (c *connectionGauges) failed(err error) {
	c.errors.Inc()
	c.p.Logger.Warn().Err(err).Msg("reading the connection gauges for /metrics failed; serving the last good reading (see tether_connection_stats_read_timestamp_seconds)")
}
