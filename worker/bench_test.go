package worker_test

import (
	"context"
	"io"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"tether/worker"
	"tether/worker/redistest"
)

// BenchmarkNoop pushes b.N no-op tasks through a bare Asynq server and through tether's
// worker (registry, logging, metrics, panic recovery, payload decoding and validation) on
// the same Redis, with the same concurrency and queues, and reports tasks/s for each. The
// tasks are enqueued before the timer starts; the timer covers start-up to the last task
// done. Compare the two with benchstat -col /impl; README.md shows the command.
func BenchmarkNoop(b *testing.B) {
	const concurrency = 10
	b.Run("impl=bare", func(b *testing.B) {
		runNoop(b, func(opt asynq.RedisClientOpt, done func()) (run func(ctx context.Context) error) {
			srv := asynq.NewServer(opt, asynq.Config{
				Concurrency: concurrency,
				Queues:      worker.DefaultQueues(),
				LogLevel:    asynq.WarnLevel,
			})
			mux := asynq.NewServeMux()
			mux.HandleFunc("bench:noop", func(ctx context.Context, t *asynq.Task) error { done(); return nil })
			return func(ctx context.Context) error {
				if err := srv.Start(mux); err != nil {
					return err
				}
				<-ctx.Done()
				srv.Shutdown()
				return nil
			}
		})
	})
	b.Run("impl=tether", func(b *testing.B) {
		runNoop(b, func(opt asynq.RedisClientOpt, done func()) (run func(ctx context.Context) error) {
			w, err := worker.New(worker.Params{
				Redis:       opt,
				Logger:      zerolog.New(io.Discard), // lines are still built and encoded
				Registerer:  prometheus.NewRegistry(),
				Concurrency: concurrency,
			})
			if err != nil {
				b.Fatal(err)
			}
			worker.Handle(w, "bench:noop", func(ctx context.Context, p orgTask) error { done(); return nil })
			return w.Run
		})
	})
}

func runNoop(b *testing.B, build func(opt asynq.RedisClientOpt, done func()) func(ctx context.Context) error) {
	opt, _ := redistest.Client(b, 9)
	client := asynq.NewClient(opt)
	defer client.Close()
	payload := []byte(`{"org_id":"org-1","note":"noop"}`)
	for i := range b.N {
		if _, err := client.Enqueue(asynq.NewTask("bench:noop", payload), asynq.TaskID("n"+strconv.Itoa(i))); err != nil {
			b.Fatal(err)
		}
	}
	var n atomic.Int64
	all := make(chan struct{})
	target := int64(b.N)
	run := build(opt, func() {
		if n.Add(1) == target {
			close(all)
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan error, 1)

	b.ResetTimer()
	go func() { stopped <- run(ctx) }()
	select {
	case <-all:
	case <-time.After(5 * time.Minute):
		b.Fatalf("only %d of %d tasks done", n.Load(), b.N)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tasks/s")
	cancel()
	if err := <-stopped; err != nil {
		b.Fatal(err)
	}
}
