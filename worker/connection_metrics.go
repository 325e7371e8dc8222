package worker

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"tether/sync/connections"
)

// failureClasses are the outcome labels created at zero for every provider, so a graph
// of rate() has a series before the first failure of a class.
var failureClasses = []connections.FailureClass{
	connections.FailNeedsReconnect, connections.FailNeedsAdmin, connections.FailMisconfigured,
	connections.FailTransient, connections.FailRateLimited, connections.FailUnknown,
}

// ConnectionMetrics counts connection upkeep outcomes for /metrics: refreshes and
// verifications by provider and outcome, refresh latency, and grants lost during a
// refresh. It implements connections.Metrics. Safe for concurrent use.
type ConnectionMetrics struct {
	refreshes     *prometheus.CounterVec   // provider, outcome
	verifications *prometheus.CounterVec   // provider, outcome
	latency       *prometheus.HistogramVec // provider, result (ok, failed)
	lost          *prometheus.CounterVec   // provider
}

var _ connections.Metrics = (*ConnectionMetrics)(nil)

// NewConnectionMetrics registers the upkeep metrics on reg; providers (the registry's
// names: salesforce, google, microsoft, zoom) get every series at zero up front. Register
// it once per process: a second registration on the same reg is an error.
func NewConnectionMetrics(reg prometheus.Registerer, providers []string) (*ConnectionMetrics, error) {
	m := &ConnectionMetrics{
		refreshes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tether_connection_refreshes_total",
			Help: "Token refreshes of connections, by provider and outcome (ok, or the failure class: needs_reconnect, needs_admin, misconfigured, transient, rate_limited, unknown).",
		}, []string{"provider", "outcome"}),
		verifications: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tether_connection_verifications_total",
			Help: "Verification calls of connections, by provider and outcome (ok, or the failure class).",
		}, []string{"provider", "outcome"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "tether_connection_refresh_duration_seconds",
			Help:    "Time a token refresh took at the provider, by provider and result (ok, failed).",
			Buckets: prometheus.ExponentialBuckets(0.025, 2, 10), // 25ms .. 12.8s
		}, []string{"provider", "result"}),
		lost: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tether_connection_lost_during_refresh_total",
			Help: "Grants found consumed after a refresh whose answer was lost (the connection needs the rep to reconnect), by provider.",
		}, []string{"provider"}),
	}
	for _, p := range providers {
		for _, o := range append([]connections.FailureClass{""}, failureClasses...) {
			m.refreshes.WithLabelValues(p, upkeepOutcome(o))
			m.verifications.WithLabelValues(p, upkeepOutcome(o))
		}
		m.latency.WithLabelValues(p, "ok")
		m.latency.WithLabelValues(p, "failed")
		m.lost.WithLabelValues(p)
	}
	for _, c := range []prometheus.Collector{m.refreshes, m.verifications, m.latency, m.lost} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// upkeepOutcome is the outcome label: "ok" for success, else the failure class.
func upkeepOutcome(c connections.FailureClass) string {
	if c == "" {
		return "ok"
	}
	return string(c)
}

// Refreshed counts one refresh at provider (class "" for success) and observes took.
func (m *ConnectionMetrics) Refreshed(provider string, class connections.FailureClass, took time.Duration) {
	m.refreshes.WithLabelValues(provider, upkeepOutcome(class)).Inc()
	result := "ok"
	if class != "" {
		result = "failed"
	}
	m.latency.WithLabelValues(provider, result).Observe(took.Seconds())
}

// Verified counts one verification at provider (class "" for success).
func (m *ConnectionMetrics) Verified(provider string, class connections.FailureClass) {
	m.verifications.WithLabelValues(provider, upkeepOutcome(class)).Inc()
}

// LostDuringRefresh counts one grant consumed by a refresh whose answer never arrived.
func (m *ConnectionMetrics) LostDuringRefresh(provider string) {
	m.lost.WithLabelValues(provider).Inc()
}
