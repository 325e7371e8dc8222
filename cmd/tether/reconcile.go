package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"tether/worker"
)

func newReconcileCmd(e env) *cobra.Command {
	return &cobra.Command{
		Use:   "reconcile",
		Short: "Give every unfinished import and unsent invitation its task back, now",
		Long: `Queues one reconcile run at once. A worker then re-queues the task of every queued,
running or paused import and of every pending invitation never sent that has no task in
Redis (after a Redis restart without persistence, say), and marks failed the rows whose
task gave up. The scheduler runs the same on TETHER_RECONCILE_SCHEDULE and every worker
at start; this is for an operator who fixed an outage and will not wait.
Over HTTP: POST /v1/reconcile (operator credentials).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			d, cleanup, err := queueingDeps(cmd, e, "reconcile", depsOptions{})
			if err != nil {
				return err
			}
			defer cleanup()
			id, err := worker.ReconcileNow(cmd.Context(), d.app.queueClient(), time.Now())
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(e.stdout, "queued %s: a worker re-queues what has no task; `tether invite status` shows each import\n", id)
			return err
		},
	}
}
