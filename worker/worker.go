package worker

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"tether/jobs"
)

// Params configures a Worker. Zero values take the defaults stated per field.
type Params struct {
	Redis asynq.RedisConnOpt // required unless RedisClient is set
	// RedisClient, when set, is the client Asynq's server uses instead of one of its own
	// dialled from Redis. tether passes the autopipeliner its refreshes use
	// (redislock.Coalesced), so Asynq's calls (a fetch, a result and an acknowledgement
	// per task) share its writes. The caller closes it, after Run returns.
	RedisClient redis.UniversalClient
	Logger      zerolog.Logger
	// Registerer receives the task metrics (tether_tasks_*). Nil: metrics are kept but not
	// registered anywhere.
	Registerer prometheus.Registerer
	// Concurrency is how many tasks run at once. Zero means 10.
	Concurrency int
	// Fetchers is how many Asynq servers share Concurrency. A server fetches one task at
	// a time, a Redis round trip each: on a loaded machine that round trip takes close to
	// a millisecond, so one server cannot keep 100 slots of 50 ms tasks busy. Zero means
	// one per 25 slots (FetchersFor); never more than Concurrency.
	Fetchers int
	// ShutdownTimeout is how long Run waits for in-flight tasks once its context is done;
	// tasks still running then are put back in their queue and run again later. Zero means
	// 25s.
	ShutdownTimeout time.Duration
	// Queues maps queue name to weight. Nil means DefaultQueues.
	Queues map[string]int
	// Polling intervals; zero keeps Asynq's defaults (1s, 5s, 8s). The demo and tests lower
	// them for snappy pickup of new, retried and completed tasks.
	TaskCheckInterval        time.Duration
	DelayedTaskCheckInterval time.Duration
	JanitorInterval          time.Duration
	// HealthCheckInterval is how often Redis is pinged to log an outage and its end, and
	// the database while it is down. Zero means 15s.
	HealthCheckInterval time.Duration
	// Database, when set, is pinged when a task fails: if it does not answer, the outage
	// is logged once (naming TETHER_DATABASE_URL) and the failures of tasks while it lasts
	// are counted, not logged one by one; its end is logged once, with how long it lasted.
	Database Pinger
	// ReminderBatch is how long a membership's group of reminder breaks waits for
	// another before they become one notify (Asynq's GroupGracePeriod, at least 1s): it
	// only merges the breaks one sweep makes at once. It is not the grace period: when the
	// first reminder goes is the org's reminder setting `grace`, which the notify applies
	// (queuing a follow-up at the due time), so a batch longer than an org's grace would
	// delay that org's reminders. Zero means 1s. ReminderMaxDelay bounds the wait; zero
	// means 1 hour.
	ReminderBatch, ReminderMaxDelay time.Duration
}

// Pinger checks a dependency is reachable (*store.Store).
type Pinger interface {
	Ping(ctx context.Context) error
}

// DefaultQueues is the queue weighting a worker runs with when Params.Queues is nil:
// jobs.Queues.
func DefaultQueues() map[string]int {
	return jobs.Queues()
}

// Worker is tether's handler registry and middleware on one or more Asynq servers (see
// Params.Fetchers) that share the slots, the handlers and the Redis client.
type Worker struct {
	p       Params
	log     zerolog.Logger
	metrics *metrics

	mu       sync.RWMutex
	handlers map[string]asynq.Handler
	giveUps  map[string]giveUp
	// subjects say what a task is, per type (Describe).
	subjects map[string]func(payload []byte) (Subject, bool)
	srvs     []*asynq.Server // one per fetcher, sharing the handlers
	redis    *outage
	db       *outage // nil without Params.Database
}

// giveUp runs when a task of its type is archived; reason is the task's last error.
type giveUp func(ctx context.Context, t *asynq.Task, reason error) error

// New validates p and builds a Worker. Register handlers (Handle, or Register for all of
// tether's) before calling Run.
func New(p Params) (*Worker, error) {
	if p.Redis == nil && p.RedisClient == nil {
		return nil, errors.New("worker: Params.Redis or Params.RedisClient is required")
	}
	p.Concurrency = cmp.Or(p.Concurrency, 10)
	if p.Fetchers < 0 {
		// No server at all would run nothing and say nothing.
		return nil, fmt.Errorf("worker: Params.Fetchers is %d; want 0 (one per 25 slots) or more", p.Fetchers)
	}
	p.Fetchers = min(cmp.Or(p.Fetchers, FetchersFor(p.Concurrency)), p.Concurrency)
	p.ShutdownTimeout = cmp.Or(p.ShutdownTimeout, 25*time.Second)
	if p.Queues == nil {
		p.Queues = DefaultQueues()
	}
	p.ReminderBatch = cmp.Or(p.ReminderBatch, time.Second)
	p.ReminderMaxDelay = cmp.Or(p.ReminderMaxDelay, time.Hour)
	if p.ReminderBatch < time.Second {
		return nil, fmt.Errorf("worker: the reminder batch window %s is under Asynq's minimum of 1s", p.ReminderBatch)
	}
	m, err := newMetrics(p.Registerer)
	if err != nil {
		return nil, fmt.Errorf("worker: register metrics: %w", err)
	}
	w := &Worker{p: p, log: p.Logger, metrics: m, handlers: map[string]asynq.Handler{}, giveUps: map[string]giveUp{},
		subjects: map[string]func([]byte) (Subject, bool){},
		redis:    newOutage(p.Logger, "redis", "TETHER_REDIS_URL")}
	if p.Database != nil {
		w.db = newOutage(p.Logger, "database", "TETHER_DATABASE_URL")
	}
	cfg := asynq.Config{
		Concurrency:              p.Concurrency,
		Queues:                   p.Queues,
		ShutdownTimeout:          p.ShutdownTimeout,
		RetryDelayFunc:           retryDelay,
		IsFailure:                isFailure,
		Logger:                   asynqLogger{z: p.Logger.With().Str("component", "asynq").Logger(), redis: w.redis},
		LogLevel:                 asynq.WarnLevel,
		TaskCheckInterval:        p.TaskCheckInterval,
		DelayedTaskCheckInterval: p.DelayedTaskCheckInterval,
		JanitorInterval:          p.JanitorInterval,
		// One line when Redis goes away and one when it is back, not one per check.
		HealthCheckFunc:     w.redis.observe,
		HealthCheckInterval: p.HealthCheckInterval,
		// The breaks of one membership that arrive together become one notify; the org's
		// grace (applied by the notify) makes the breaks within it one reminder.
		GroupAggregator:  asynq.GroupAggregatorFunc(jobs.AggregateReminders),
		GroupGracePeriod: p.ReminderBatch,
		GroupMaxDelay:    p.ReminderMaxDelay,
	}
	for i := range p.Fetchers {
		c := cfg
		c.Concurrency = p.Concurrency / p.Fetchers
		if i < p.Concurrency%p.Fetchers {
			c.Concurrency++
		}
		if p.RedisClient != nil {
			w.srvs = append(w.srvs, asynq.NewServerFromRedisClient(p.RedisClient, c))
		} else {
			w.srvs = append(w.srvs, asynq.NewServer(p.Redis, c))
		}
	}
	return w, nil
}

// slotsPerFetcher: a fetch loop slowed to about 1 ms a task by a busy machine still keeps
// 25 slots of 50 ms tasks full with room to spare.
const slotsPerFetcher = 25

// FetchersFor is the default number of Asynq servers for a worker running concurrency
// tasks at once: one per 25 slots.
func FetchersFor(concurrency int) int {
	return max(1, (concurrency+slotsPerFetcher-1)/slotsPerFetcher)
}

// Handle registers h for tasks of exactly type typ; h receives the raw task. Prefer the
// generic Handle function, which decodes and validates the payload. Registering a type twice
// panics (a wiring bug).
func (w *Worker) Handle(typ string, h asynq.Handler) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, dup := w.handlers[typ]; dup {
		panic("worker: handler for " + typ + " registered twice")
	}
	w.handlers[typ] = h
}

// Handle registers fn for task type typ on w. The payload is decoded into P with
// jobs.Decode; a payload that does not decode or validate is archived with the reason and
// never retried, and fn is not called.
func Handle[P jobs.Payload](w *Worker, typ string, fn func(ctx context.Context, p P) error) {
	w.Handle(typ, asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error {
		p, err := jobs.Decode[P](t.Payload())
		if err != nil {
			return fmt.Errorf("decode %s payload: %w", typ, err)
		}
		return fn(ctx, p)
	}))
}

// OnGiveUp registers fn to run when a task of type typ is archived: a permanent error, or
// its last retry failed. Row-backed tasks use it to mark their row failed with the reason,
// so no row keeps saying running after its task is gone. fn runs with a context that
// outlives the task's deadline; its error is logged. A payload that does not decode has
// no row to mark, so fn is not called.
func OnGiveUp[P jobs.Payload](w *Worker, typ string, fn func(ctx context.Context, p P, reason error) error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.giveUps[typ] = func(ctx context.Context, t *asynq.Task, reason error) error {
		p, err := jobs.Decode[P](t.Payload())
		if err != nil {
			return nil
		}
		return fn(ctx, p, reason)
	}
}

// Types lists the registered task types.
func (w *Worker) Types() []string {
	w.mu.RLock()
	defer w.mu.RUnlock()
	out := make([]string, 0, len(w.handlers))
	for t := range w.handlers {
		out = append(out, t)
	}
	return out
}

// Run processes tasks until ctx is done, then shuts down gracefully: it stops fetching,
// waits up to ShutdownTimeout for in-flight tasks, and puts those still running back in
// their queue (their handlers' contexts are cancelled; Asynq cannot stop the goroutines, so
// handlers must honour ctx and be idempotent). Run returns nil after a clean shutdown.
func (w *Worker) Run(ctx context.Context) error {
	root := w.root()
	for i, srv := range w.srvs {
		if err := srv.Start(root); err != nil {
			w.shutdown(w.srvs[:i])
			return fmt.Errorf("start worker: %w", err)
		}
	}
	w.log.Info().Int("concurrency", w.p.Concurrency).Int("fetchers", len(w.srvs)).Any("queues", w.p.Queues).Strs("types", w.Types()).Msg("worker started")
	w.watchDatabase(ctx)
	w.log.Info().Str("timeout", w.p.ShutdownTimeout.String()).Msg("worker shutting down; waiting for in-flight tasks")
	w.shutdown(w.srvs)
	w.log.Info().Msg("worker stopped")
	return nil
}

// shutdown stops the servers at once, not one after another, so in-flight tasks get
// ShutdownTimeout in all, not that much per server.
func (w *Worker) shutdown(srvs []*asynq.Server) {
	var wg sync.WaitGroup
	for _, srv := range srvs {
		wg.Go(srv.Shutdown)
	}
	wg.Wait()
}

// watchDatabase waits for ctx; while the database is down it pings it every
// HealthCheckInterval, so its return is logged even when no task runs.
func (w *Worker) watchDatabase(ctx context.Context) {
	if w.db == nil {
		<-ctx.Done()
		return
	}
	t := time.NewTicker(cmp.Or(w.p.HealthCheckInterval, 15*time.Second))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if w.db.isDown() {
				w.pingDatabase(ctx)
			}
		}
	}
}

// pingDatabase pings the database and records the result; it reports whether the database
// answered.
func (w *Worker) pingDatabase(ctx context.Context) bool {
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	err := w.p.Database.Ping(pctx)
	w.db.observe(err)
	return err == nil
}

// root is the handler Asynq calls: middleware around the exact-type dispatch.
func (w *Worker) root() asynq.Handler {
	return w.observe(recoverPanics(asynq.HandlerFunc(w.dispatch)))
}

// dispatch routes by exact type. Asynq's ServeMux matches prefixes and retries unknown
// types 25 times; an unknown type here is archived at once.
func (w *Worker) dispatch(ctx context.Context, t *asynq.Task) error {
	w.mu.RLock()
	h, ok := w.handlers[t.Type()]
	w.mu.RUnlock()
	if !ok {
		return fmt.Errorf("%w %q: %w", errNoHandler, t.Type(), asynq.SkipRetry)
	}
	return h.ProcessTask(ctx, t)
}
