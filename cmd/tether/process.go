package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"syscall"

	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"tether/config"
)

// component is one long-running part of a process; it returns when ctx is done.
type component func(ctx context.Context) error

// runAll runs the components until ctx is done or one of them fails; a failure stops the
// others. It returns the first failure, or nil after a clean shutdown.
func runAll(ctx context.Context, cs ...component) error {
	g, gctx := errgroup.WithContext(ctx)
	for _, c := range cs {
		g.Go(func() error { return c(gctx) })
	}
	return g.Wait()
}

func newWorkerCmd(e env) *cobra.Command {
	return &cobra.Command{
		Use:   "worker",
		Short: "Run tasks from the critical, connections, default and low queues",
		Long: `Runs tether's task handlers on Asynq. Run as many replicas as you like against the same
Redis. Needs TETHER_REDIS_URL, TETHER_ENCRYPTION_KEYS, a migrated database and
TETHER_SMTP_URL (for trials, TETHER_MAILER=dir with TETHER_MAIL_DIR writes each email to a
file, and TETHER_MAILER=log only logs it); it
refuses to start without them, and when Redis or the database does not answer.

At start, and on TETHER_RECONCILE_SCHEDULE through the scheduler, the reconciler queues
again the task of any unfinished import and any pending invite never sent that has none
in Redis.

On SIGTERM or SIGINT it stops taking tasks and gives running ones TETHER_SHUTDOWN_TIMEOUT
to finish; any still running then go back to their queue and run again elsewhere.
/healthz, /readyz and /metrics are served on TETHER_METRICS_ADDR (default :9090); a second
worker on the same host needs its own, e.g. --metrics-addr :9092.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			cfg, err := loadConfig(cmd, e)
			if err != nil {
				return err
			}
			if err := firstErr(cfg.RequireRedis("worker"), cfg.RequireEncryptionKeys("worker"), cfg.RequireMailer("worker"),
				// Reminder emails carry connect links: without the secret every reminders:notify would fail and retry.
				cfg.RequireLinkSecret("worker")); err != nil {
				return err
			}
			// Bound before anything starts: a taken port exits at once, not after tasks ran.
			probes, err := listenProbes(cfg, "worker")
			if err != nil {
				return err
			}
			defer closeListener(probes)
			d, cleanup, err := buildDeps(ctx, e, cfg, depsOptions{store: true, keyring: true})
			if err != nil {
				return err
			}
			defer cleanup()
			return runAll(ctx, withProbes(d, probes, func(ctx context.Context) error { return runWorker(ctx, d, tuning{}) })...)
		},
	}
}

func newSchedulerCmd(e env) *cobra.Command {
	return &cobra.Command{
		Use:   "scheduler",
		Short: "Enqueue periodic tasks (events:prune, ...) on their schedules",
		Long: `Enqueues each periodic task once per slot of its schedule. Safe to run as several
replicas: each slot's task has a deterministic id, so Redis accepts one replica's enqueue
and refuses the others'. On start it also enqueues the latest slot it missed (a no-op if
that slot already ran). Needs TETHER_REDIS_URL; no database.
/healthz, /readyz and /metrics are served on TETHER_METRICS_ADDR (default :9091, beside a
worker's :9090).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			cfg, err := loadConfig(cmd, e)
			if err != nil {
				return err
			}
			if err := cfg.RequireRedis("scheduler"); err != nil {
				return err
			}
			probes, err := listenProbes(cfg, "scheduler")
			if err != nil {
				return err
			}
			defer closeListener(probes)
			d, cleanup, err := buildDeps(ctx, e, cfg, depsOptions{})
			if err != nil {
				return err
			}
			defer cleanup()
			return runAll(ctx, withProbes(d, probes, func(ctx context.Context) error { return runScheduler(ctx, d) })...)
		},
	}
}

func newServeCmd(e env) *cobra.Command {
	return &cobra.Command{
		Use:   "serve",
		Short: "Serve HTTP: probes, /metrics and the queue monitoring UI",
		Long: `Serves on TETHER_HTTP_ADDR:
  /healthz      200 while the process is up
  /readyz       200 when Redis and the database answer, 503 otherwise and while shutting down
  /metrics      Prometheus: Asynq queue metrics and tether's own
  /monitoring/  the Asynq monitoring UI (asynqmon): sign in at /monitoring/login with
                TETHER_ADMIN_USER/TETHER_ADMIN_PASSWORD
  /v1/...       the admin JSON API (orgs, users, imports, permission audits, /v1/tokens,
                /v1/keys, /v1/reconcile), behind TETHER_API_TOKEN (Authorization: Bearer), the admin user and
                password, or an org-scoped token from tether tokens create
  /join/{token} invitation links, and the Salesforce connect callback
  /connect/{token}, /oauth/callback/{provider}  connect links (team Salesforce, personal)
Needs TETHER_REDIS_URL, TETHER_ENCRYPTION_KEYS, TETHER_LINK_SECRET and a migrated database.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			cfg, err := loadConfig(cmd, e)
			if err != nil {
				return err
			}
			if err := firstErr(cfg.RequireRedis("serve"), cfg.RequireEncryptionKeys("serve"), cfg.RequireLinkSecret("serve")); err != nil {
				return err
			}
			ln, err := listen("HTTP address", cfg.HTTPAddr, "TETHER_HTTP_ADDR", "--http-addr")
			if err != nil {
				return err
			}
			defer closeListener(ln)
			d, cleanup, err := buildDeps(ctx, e, cfg, depsOptions{store: true, keyring: true, queueMetrics: true})
			if err != nil {
				return err
			}
			defer cleanup()
			return runHTTP(ctx, d, serveOptions{ln: ln, monitoring: true})
		},
	}
}

func newAllCmd(e env) *cobra.Command {
	return &cobra.Command{
		Use:   "all",
		Short: "Run worker, scheduler and serve in one process (one machine)",
		Long: `Runs the worker, the scheduler and the HTTP server in one process and applies pending
migrations on start. Without TETHER_REDIS_URL it uses an embedded in-memory Redis and warns
that queued tasks do not survive a restart. Needs TETHER_ENCRYPTION_KEYS, TETHER_LINK_SECRET
and a way to send email: TETHER_SMTP_URL, or for a trial TETHER_MAILER=dir with
TETHER_MAIL_DIR (each email written to a file) or TETHER_MAILER=log.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			cfg, err := loadConfig(cmd, e)
			if err != nil {
				return err
			}
			if err := firstErr(cfg.RequireEncryptionKeys("all"), cfg.RequireLinkSecret("all"), cfg.RequireMailer("all"), cfg.RequireAllQueues("all")); err != nil {
				return err
			}
			// Bound before the worker and scheduler start, as in worker and scheduler.
			ln, err := listen("HTTP address", cfg.HTTPAddr, "TETHER_HTTP_ADDR", "--http-addr")
			if err != nil {
				return err
			}
			defer closeListener(ln)
			d, cleanup, err := buildDeps(ctx, e, cfg, depsOptions{store: true, migrate: true, keyring: true, queueMetrics: true, embeddedRedis: true})
			if err != nil {
				return err
			}
			defer cleanup()
			return runAll(ctx,
				func(ctx context.Context) error { return runWorker(ctx, d, tuning{}) },
				func(ctx context.Context) error { return runScheduler(ctx, d) },
				func(ctx context.Context) error {
					return runHTTP(ctx, d, serveOptions{ln: ln, monitoring: true})
				},
			)
		},
	}
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// withProbes runs main with the small /healthz, /readyz and /metrics listener beside it on
// ln, the listener listenProbes bound; nil (TETHER_METRICS_ADDR=off) runs main alone.
func withProbes(d deps, ln net.Listener, main component) []component {
	cs := []component{main}
	if ln != nil {
		cs = append(cs, func(ctx context.Context) error { return runHTTP(ctx, d, serveOptions{ln: ln}) })
	}
	return cs
}

// listenProbes binds process's probe and metrics address (config.MetricsListenAddr); it
// returns a nil listener when that is off.
func listenProbes(cfg config.Config, process string) (net.Listener, error) {
	addr := cfg.MetricsListenAddr(process)
	if addr == "off" {
		return nil, nil
	}
	return listen("metrics address", addr, "TETHER_METRICS_ADDR", "--metrics-addr")
}

// listen binds addr, what ("metrics address") set by variable or flag; its error says which
// setting to change and to what, the address in use being another tether process most of
// the time.
func listen(what, addr, variable, flag string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err == nil {
		return ln, nil
	}
	if errors.Is(err, syscall.EADDRINUSE) {
		return nil, fmt.Errorf("%s %s is in use (another tether process on this host?); set %s or %s to a free address, e.g. %s",
			what, addr, variable, flag, nextPort(addr))
	}
	return nil, fmt.Errorf("cannot listen on %s %s (%s or %s): %s", what, addr, variable, flag, rootCause(err))
}

// nextPort is addr with its port one higher, a likely free neighbour to suggest.
func nextPort(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	n, err := strconv.Atoi(port)
	if err != nil || n == 0 || n >= 65535 {
		return addr
	}
	return net.JoinHostPort(host, strconv.Itoa(n+1))
}

// closeListener closes ln when the process exits before serving on it (Serve closes it
// otherwise; the second close is harmless).
func closeListener(ln net.Listener) {
	if ln != nil {
		_ = ln.Close()
	}
}
