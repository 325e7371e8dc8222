package httpapi

import (
	"maps"
	"slices"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"

	"tether/jobs"
)

// queueSlots exports, per queue, the task slots of the live Asynq servers that fetch from
// it. A worker started with --queues leaves queues to others; when none is left to serve
// one, its tasks wait unseen except as a queue that only grows, so the gauge reads 0 for
// every queue of tether's that no live server names.
type queueSlots struct {
	insp *asynq.Inspector
	desc *prometheus.Desc
}

func newQueueSlots(insp *asynq.Inspector) *queueSlots {
	return &queueSlots{insp: insp, desc: prometheus.NewDesc("tether_queue_worker_slots",
		"Task slots of the live worker servers (Asynq's server list) that fetch from the queue; 0 means no worker serves it.",
		[]string{"queue"}, nil)}
}

func (c *queueSlots) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *queueSlots) Collect(ch chan<- prometheus.Metric) {
	servers, err := c.insp.Servers()
	if err != nil {
		// No reading is not a reading of 0: an alert on 0 must not fire when Redis is away.
		ch <- prometheus.NewInvalidMetric(c.desc, err)
		return
	}
	slots := map[string]int{}
	for q := range jobs.Queues() {
		slots[q] = 0
	}
	for _, s := range servers {
		if s.Status != "active" {
			continue // stopping: it fetches nothing more
		}
		for q := range s.Queues {
			slots[q] += s.Concurrency
		}
	}
	for _, q := range slices.Sorted(maps.Keys(slots)) {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(slots[q]), q)
	}
}
