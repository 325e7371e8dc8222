package worker

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are tether's own task metrics; queue sizes and latencies come from Asynq's
// x/metrics collector, registered by whoever serves /metrics.
type metrics struct {
	tasks    *prometheus.CounterVec   // type, outcome
	duration *prometheus.HistogramVec // type
	inFlight prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		tasks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tether_tasks_processed_total",
			Help: "Tasks handled by this worker, by type and outcome (ok, retry, snoozed, archived, revoked).",
		}, []string{"type", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "tether_task_duration_seconds",
			Help:    "Time spent in the handler, by task type.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 10), // 1ms .. ~4.4min
		}, []string{"type"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tether_tasks_in_flight",
			Help: "Tasks this worker is running now.",
		}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.tasks, m.duration, m.inFlight} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
