package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"tether/config"
	"tether/sync/apitokens"
	"tether/sync/connections"
	"tether/sync/events"
	"tether/sync/invites"
	"tether/sync/keys"
	"tether/sync/reminders"
	"tether/sync/store"
	"tether/sync/vault"
	"tether/worker"
	"tether/worker/httpapi"
)

// deps are what the components share within one process.
type deps struct {
	cfg     config.Config
	log     zerolog.Logger
	redis   asynq.RedisConnOpt
	store   *store.Store   // nil for the scheduler, which needs none
	keyring *vault.Keyring // nil where no tokens are handled
	reg     *prometheus.Registry
	app     *app // what the process builds once; shared by every copy of deps
}

// tuning lowers Asynq's polling intervals; zero keeps its defaults. The demo and tests use
// it for snappy pickup.
type tuning struct {
	taskCheck, delayedCheck, janitor time.Duration
}

func newLogger(cfg config.Config, w io.Writer) zerolog.Logger {
	level, err := zerolog.ParseLevel(cfg.LogLevel)
	if err != nil {
		level = zerolog.InfoLevel // Validate already refused anything else
	}
	if cfg.LogFormat == "console" {
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.TimeOnly, NoColor: true}
	}
	return zerolog.New(w).Level(level).With().Timestamp().Logger()
}

// openStore opens the configured store. With migrate it applies pending migrations;
// otherwise it refuses a schema that is behind, naming the command that fixes it.
func openStore(ctx context.Context, cfg config.Config, migrate bool) (*store.Store, error) {
	st, err := store.Open(ctx, cfg.DatabaseURL.Reveal())
	if err != nil {
		return nil, storeOpenError(cfg.DatabaseURL.Reveal(), err)
	}
	if migrate {
		if err := st.Migrate(ctx); err != nil {
			_ = st.Close()
			return nil, err
		}
		return st, nil
	}
	states, err := st.MigrationStatus(ctx)
	if err != nil {
		_ = st.Close()
		return nil, err
	}
	var pending []string
	for _, m := range states {
		if !m.Applied {
			pending = append(pending, m.Name)
		}
	}
	if len(pending) > 0 {
		_ = st.Close()
		return nil, schemaError(cfg.DatabaseURL.Reveal(), st.Backend(), pending, len(states))
	}
	return st, nil
}

// schemaError says which database is not migrated. One with no migration applied is
// most often the wrong one (sqlite:tether.db is relative to the working directory, so a
// verb run from another directory opens a new, empty file), so it says how to point at
// the right one before offering to migrate it.
func schemaError(raw, backend string, pending []string, total int) error {
	where := "the configured URL"
	if path, ok := sqlitePath(raw); ok {
		if abs, err := filepath.Abs(path); err == nil {
			path = abs
		}
		where = path
	} else if u, err := url.Parse(raw); err == nil {
		where = u.Redacted()
	}
	if len(pending) == total {
		return fmt.Errorf("the %s database at %s has no tether tables (none of its %d migrations applied): if tether runs against another database, point TETHER_DATABASE_URL (or --database-url) at it; to use this one, run `tether migrate up` first",
			backend, where, total)
	}
	return fmt.Errorf("the %s database at %s is behind (%d of %d migrations pending, from %s): run `tether migrate up`",
		backend, where, len(pending), total, pending[0])
}

// redisPing is the /readyz check on the process's probe connection.
func redisPing(a *app) httpapi.Check {
	c := a.redisClient(redisProbe)
	return httpapi.RedisCheck(func(ctx context.Context) error { return c.Ping(ctx).Err() })
}

// runWorker runs tether's worker until ctx is done. It refuses to start when Redis or the
// database does not answer, and runs the reconciler once at start.
func runWorker(ctx context.Context, d deps, tune tuning) error {
	if err := reachable(ctx, d); err != nil {
		if ctx.Err() != nil {
			// Asked to stop while still checking: a shutdown, not an unreachable Redis.
			return nil
		}
		return err
	}
	gc, fromEnv := worker.TuneGC(os.Getenv) // the runtime itself reads GOGC from the process
	d.log.Info().Str("gogc", gc).Bool("from_env", fromEnv).Msg("garbage collector target")
	// Asynq's own calls ride the autopipeliner the refreshes use: at a worker's
	// concurrency they share its writes instead of taking a system call each.
	rdb, err := d.app.coalescedTokens()
	if err != nil {
		return err
	}
	queues := d.cfg.Queues()
	if left := d.cfg.QueuesLeftOut(); len(left) > 0 {
		served := slices.Sorted(maps.Keys(queues))
		d.log.Warn().Strs("queues", served).Strs("left_out", left).
			Msgf("this worker serves only %s (TETHER_WORKER_QUEUES or --queues): tasks on %s wait until a worker that serves them runs (tether worker without --queues serves all)",
				strings.Join(served, ", "), strings.Join(left, ", "))
	}
	w, err := worker.New(worker.Params{
		Redis:                    d.redis,
		RedisClient:              rdb,
		Logger:                   d.log.With().Str("component", "worker").Logger(),
		Registerer:               d.reg,
		Concurrency:              d.cfg.WorkerConcurrency,
		Fetchers:                 d.cfg.WorkerFetchers,
		Queues:                   queues,
		ShutdownTimeout:          d.cfg.ShutdownTimeout,
		TaskCheckInterval:        tune.taskCheck,
		DelayedTaskCheckInterval: tune.delayedCheck,
		JanitorInterval:          tune.janitor,
		Database:                 d.store,
	})
	if err != nil {
		return err
	}
	sender, err := inviteSender(d, "worker")
	if err != nil {
		return err
	}
	client := d.app.queueClient()
	inspector := d.app.queueInspector()
	imports, err := d.app.importParts()
	if err != nil {
		return err
	}
	audits, closeAudits, err := permissionAudits(d, client)
	if err != nil {
		return err
	}
	defer closeAudits.Close()
	deact, err := d.app.deactivator()
	if err != nil {
		return err
	}
	rec := &worker.Reconciler{Store: d.store, Queue: client, Inspector: inspector, Imports: imports.svc,
		Invites: sender, Audits: audits.Auditor, Logger: d.log.With().Str("component", "reconciler").Logger()}
	upkeep, err := d.app.upkeep()
	if err != nil {
		return err
	}
	// worker, all and demo require the mailer and the link secret before they start, so
	// this fails only as inviteSender above would.
	remind, err := d.app.reminderService()
	if err != nil {
		return err
	}
	err = worker.Register(w, worker.Services{
		Events:         events.NewService(d.store, nil),
		EventRetention: d.cfg.EventRetention,
		Invites:        sender,
		Imports:        imports.svc,
		Permissions:    audits,
		InviteExpiry:   d.store,
		Reconciler:     rec,
		Connections:    upkeep,
		Deactivator:    deact,
		Reminders:      remind,
	})
	if err != nil {
		return err
	}
	go func() {
		if _, err := rec.Reconcile(ctx); err != nil && ctx.Err() == nil {
			rec.Logger.Error().Err(err).Msg("reconcile at start failed; the scheduled run tries again")
		}
	}()
	return w.Run(ctx)
}

// reachable pings Redis and the database once, so a worker that cannot reach them exits
// with a message naming the setting instead of logging errors forever.
func reachable(ctx context.Context, d deps) error {
	ctx, cancel := context.WithTimeout(ctx, pingWait)
	defer cancel()
	if err := pingRedis(ctx, d.app.redisClient(redisProbe), d.cfg.RedisURL.Reveal()); err != nil {
		return err
	}
	if d.store != nil {
		if err := d.store.Ping(ctx); err != nil {
			return storeOpenError(d.cfg.DatabaseURL.Reveal(), err) // the same sentence as at open
		}
	}
	return nil
}

// pingWait bounds the start-up pings: a Sentinel client would retry for half a minute.
const pingWait = 5 * time.Second

// pingRedis pings rdb (the Redis at rawURL) within ctx and says in one sentence what is
// wrong when it does not answer. Bound ctx: a Sentinel client retries for half a minute.
func pingRedis(ctx context.Context, rdb redis.UniversalClient, rawURL string) error {
	err := rdb.Ping(ctx).Err()
	if err == nil {
		return nil
	}
	if e, ok := redisSentence(rawURL, err); ok {
		return e
	}
	return fmt.Errorf("cannot use Redis at %s (TETHER_REDIS_URL or --redis-url): %v", redactURL(rawURL), err)
}

// quietRedis drops go-redis's own log lines.
type quietRedis struct{}

func (quietRedis) Printf(context.Context, string, ...any) {}

// runScheduler runs the periodic-task scheduler until ctx is done.
func runScheduler(ctx context.Context, d deps) error {
	entries, err := schedulerEntries(d.cfg)
	if err != nil {
		return err
	}
	// As the worker: a Redis that does not answer at start is refused in one sentence,
	// not logged "scheduler started" after one Asynq error chain per periodic task.
	if err := reachable(ctx, d); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	s, err := worker.NewScheduler(worker.SchedulerParams{
		Redis:      d.redis,
		Logger:     d.log.With().Str("component", "scheduler").Logger(),
		Registerer: d.reg,
		Entries:    entries,
	})
	if err != nil {
		return err
	}
	return s.Run(ctx)
}

// serveOptions selects what an HTTP listener serves.
type serveOptions struct {
	addr       string         // where to listen, when ln is nil
	ln         net.Listener   // already bound, so a taken port failed before any work began
	monitoring bool           // mount asynqmon behind the admin credentials
	ready      func(net.Addr) // told the bound address; may be nil
}

// runHTTP serves the API (or the probes and /metrics only) until ctx is done; /readyz
// turns 503 as soon as shutdown starts.
func runHTTP(ctx context.Context, d deps, o serveOptions) error {
	checks := []httpapi.Check{redisPing(d.app)}
	if d.store != nil {
		checks = append(checks, httpapi.DatabaseCheck(d.store.Ping))
	}
	p := httpapi.Params{
		Logger:             d.log.With().Str("component", "http").Logger(),
		Gatherer:           d.reg,
		Checks:             checks,
		AdminUser:          d.cfg.AdminUser,
		AdminPassword:      d.cfg.AdminPassword.Reveal(),
		APIToken:           d.cfg.APIToken.Reveal(),
		SecureCookie:       strings.HasPrefix(d.cfg.PublicURL, "https://"),
		TrustedOrigins:     publicOrigin(d.cfg.PublicURL),
		MaxUnauthenticated: d.cfg.HTTPMaxUnauthenticated,
		SalesforceHosts:    d.cfg.SalesforceHosts(),
	}
	if o.monitoring && d.store != nil && d.keyring != nil {
		client := d.app.queueClient()
		parts, err := d.app.importParts()
		if err != nil {
			return err
		}
		p.Imports = parts.svc
		cp, closeFlow, err := connectFlow(d, client)
		if err != nil {
			return err
		}
		defer closeFlow.Close()
		p.Join = joinHandler(d, cp)
		p.ConnectLinks = cp.links
		p.Connect = httpapi.NewConnect(httpapi.ConnectParams{Flow: cp.flow, Logger: d.log.With().Str("component", "connect").Logger(),
			SecureCookie: strings.HasPrefix(d.cfg.PublicURL, "https://")})
	}
	if o.monitoring && d.store != nil {
		client := d.app.queueClient()
		p.Reconcile = func(ctx context.Context) (string, error) { return worker.ReconcileNow(ctx, client, time.Now()) }
		p.SweepConnections = func(ctx context.Context) (string, error) { return worker.SweepConnectionsNow(ctx, client, time.Now()) }
		ts, err := apitokens.New(d.store)
		if err != nil {
			return err
		}
		p.Tokens = ts
	}
	if o.monitoring && d.store != nil && d.keyring != nil {
		// Operator refresh and verify run in the request, through the same lock and
		// health machine as the worker's tasks.
		up, err := d.app.upkeep()
		if err != nil {
			return err
		}
		p.Connections = up
		ks, err := keys.New(d.store, d.app.tokenStash(), d.keyring)
		if err != nil {
			return err
		}
		p.Keys = ks
	}
	if o.monitoring && d.store != nil {
		svc, err := d.app.orgService()
		if err != nil {
			return err
		}
		p.Orgs = svc
		ms, err := d.app.memberService()
		if err != nil {
			return err
		}
		p.Members = ms
		p.Deactivations = worker.DeactivationQueue{Client: d.app.queueClient(), Inspector: d.app.queueInspector()}
		p.Reminders = reminders.Viewer{Store: d.store}
		p.ReminderSettings = reminders.SettingsEditor{Store: d.store, Keyring: d.keyring, Retimer: d.app.reminderRetimer()}
		pa, closePA := permissionAuditAPI(d)
		defer closePA()
		p.PermissionAudits = pa
		p.InviteAdmin = invites.Admin{Store: store.Invites{Store: d.store}}
		p.Events = d.store
		p.Resends = resender(d, d.app.queueClient(), d.app.queueInspector())
	}
	if o.monitoring {
		mon := httpapi.NewMonitoring(d.redis)
		defer mon.Close()
		p.Monitoring = mon
		if !d.cfg.AdminPassword.IsSet() {
			d.log.Warn().Msg("TETHER_ADMIN_PASSWORD is not set: /monitoring answers 503 until it is")
		}
	}
	srv, err := httpapi.New(p)
	if err != nil {
		return err
	}
	httpCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	go func() {
		<-ctx.Done()
		srv.Drain()
		// Give load balancers a moment to see /readyz fail before the listener closes.
		time.Sleep(200 * time.Millisecond)
		cancel()
	}()
	timeouts := httpapi.Timeouts{ReadHeader: d.cfg.HTTPReadHeaderTimeout,
		Read: d.cfg.HTTPReadTimeout, Write: d.cfg.HTTPWriteTimeout, Idle: d.cfg.HTTPIdleTimeout}
	if o.ln != nil {
		return httpapi.Serve(httpCtx, o.ln, srv, timeouts, p.Logger, o.ready)
	}
	return httpapi.ListenAndServe(httpCtx, o.addr, srv, timeouts, p.Logger, o.ready)
}

// publicOrigin is PUBLIC_URL's origin (scheme://host[:port]), trusted for unsafe requests
// when a proxy in front rewrites Host.
func publicOrigin(publicURL string) []string {
	u, err := url.Parse(publicURL)
	if err != nil || u.Host == "" {
		return nil
	}
	return []string{u.Scheme + "://" + u.Host}
}

// newRegistry returns the process's metrics registry; withQueues adds Asynq's queue
// metrics through the process's inspector and, with a store, the connection gauges
// (connections by kind and state, the sweep's lag): only serve and all export these
// system-wide readings, so worker replicas do not duplicate them.
func newRegistry(a *app, withQueues bool) (*prometheus.Registry, error) {
	if !withQueues {
		return httpapi.NewRegistry(nil), nil
	}
	reg := httpapi.NewRegistry(a.queueInspector())
	if a.d.store != nil {
		err := worker.RegisterConnectionGauges(reg, worker.ConnectionGaugesParams{Stats: a.d.store,
			Logger: a.d.log.With().Str("component", "metrics").Logger()})
		if err != nil {
			return nil, fmt.Errorf("connection gauges: %w", err)
		}
	}
	return reg, nil
}

// errNotDurable is logged loudly when all falls back to the embedded Redis.
var errNotDurable = errors.New("TETHER_REDIS_URL is not set: using an embedded in-memory Redis. Queued tasks are LOST when this process exits. Fine for trying tether; set TETHER_REDIS_URL for anything else")

func warnLoudly(w io.Writer, log zerolog.Logger, err error) {
	log.Warn().Msg(err.Error())
	if w != nil && w != io.Discard {
		fmt.Fprintf(w, "\n*** WARNING: %s ***\n\n", err)
	}
}

// errNoRedis is buildDeps's answer without TETHER_REDIS_URL; the verbs say it better first
// (requireRedisCLI names themselves and the HTTP route).
var errNoRedis = errors.New("TETHER_REDIS_URL: is not set; this command needs Redis: set TETHER_REDIS_URL (or --redis-url) to the Redis your workers use, e.g. redis://localhost:6379/0")

// depsOptions says what a verb needs built.
type depsOptions struct {
	store, migrate, keyring, queueMetrics bool
	embeddedRedis                         bool // fall back to miniredis when TETHER_REDIS_URL is unset
}

// buildDeps builds the shared dependencies of a process; cleanup releases them.
func buildDeps(ctx context.Context, e env, cfg config.Config, o depsOptions) (deps, func(), error) {
	d := deps{cfg: cfg, log: newLogger(cfg, e.stderr)}
	d.app = newApp(&d)
	if e.observe != nil {
		e.observe(d.app)
	}
	var closers []func()
	cleanup := func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	fail := func(err error) (deps, func(), error) { cleanup(); return deps{}, nil, err }

	if cfg.RedisURL.IsSet() {
		opt, err := cfg.RedisConnOpt()
		if err != nil {
			return fail(err)
		}
		d.redis = opt
	} else if o.embeddedRedis {
		opt, _, stop, err := startEmbeddedRedis(ctx)
		if err != nil {
			return fail(err)
		}
		closers = append(closers, stop)
		d.redis = opt
		warnLoudly(e.stderr, d.log, errNotDurable)
	} else {
		// The verbs check requireRedisCLI first; this keeps the full sentence for one that forgot.
		return fail(errNoRedis)
	}
	if o.keyring {
		k, err := cfg.Keyring()
		if err != nil {
			return fail(err)
		}
		d.keyring = k
	}
	if o.store {
		st, err := openStore(ctx, cfg, o.migrate)
		if err != nil {
			return fail(err)
		}
		closers = append(closers, func() { _ = st.Close() })
		d.store = st
	}
	closers = append(closers, d.app.close) // before the store and Redis it uses
	if o.queueMetrics {
		closers = append(closers, redirectStdlog(d.log.With().Str("component", "asynq").Logger()))
	}
	reg, err := newRegistry(d.app, o.queueMetrics)
	if err != nil {
		return fail(err)
	}
	d.reg = reg
	return d, cleanup, nil
}

// teamTokens is the process's vault of org-level (team) Salesforce connections (see
// app.teamTokens). The closer is a no-op: the app owns it.
func (d deps) teamTokens() (*connections.Tokens, io.Closer, error) {
	t, err := d.app.teamTokens()
	if err != nil {
		return nil, nil, err
	}
	return t, nopCloser{}, nil
}

// storeOpenError says in one sentence which database could not be opened, naming
// TETHER_DATABASE_URL and the SQLite path, or the PostgreSQL URL without its password.
func storeOpenError(raw string, err error) error {
	cause := rootCause(err)
	if path, ok := sqlitePath(raw); ok {
		return fmt.Errorf("TETHER_DATABASE_URL: cannot open the SQLite database at %s (%s): check that its directory exists and is writable", path, cause)
	}
	where := "the configured URL"
	u, perr := url.Parse(raw)
	if perr == nil {
		where = u.Redacted()
	}
	if errors.Is(err, store.ErrNoDatabase) && perr == nil {
		return noDatabaseError(u)
	}
	return fmt.Errorf("TETHER_DATABASE_URL: cannot connect to PostgreSQL at %s (%s): check that it is running and that the URL is right", where, cause)
}

// noDatabaseError says that the PostgreSQL server at u answered but has no database of
// u's name, and gives the createdb command that makes it.
func noDatabaseError(u *url.URL) error {
	user := u.User.Username()
	name := strings.TrimPrefix(u.Path, "/")
	if name == "" {
		name = user // PostgreSQL's own default
	}
	var args []string
	if h := u.Hostname(); h != "" {
		args = append(args, "-h", h)
	}
	if p := u.Port(); p != "" {
		args = append(args, "-p", p)
	}
	if user != "" {
		args = append(args, "-U", user)
	}
	cmd := strings.Join(append(append([]string{"createdb"}, args...), name), " ")
	quoted := `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
	return fmt.Errorf("TETHER_DATABASE_URL: PostgreSQL at %s answers, but its database %s does not exist: create it with `%s` (or CREATE DATABASE %s), or fix the database name in the URL; then run `tether migrate up`",
		u.Redacted(), quoted, cmd, quoted)
}

// sqlitePath is the file of a sqlite: or file: store URL.
func sqlitePath(raw string) (string, bool) {
	for _, p := range []string{"sqlite:", "file:"} {
		if rest, ok := strings.CutPrefix(raw, p); ok {
			rest, _, _ = strings.Cut(rest, "?")
			return rest, true
		}
	}
	return "", false
}

// rootCause is the innermost message of err's chain, without the driver's layers: for a
// network failure, what the dial said ("connect: connection refused").
func rootCause(err error) string {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err.Error()
	}
	for {
		next := errors.Unwrap(err)
		if next == nil {
			break
		}
		err = next
	}
	msg, _, _ := strings.Cut(err.Error(), "\n")
	return strings.TrimSpace(msg)
}
