package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"tether/worker"
)

// connectionsParent returns the `connections` command of root, creating it if no other
// file has (the refresh and verify verbs live in their own file).
func connectionsParent(root *cobra.Command) *cobra.Command {
	for _, c := range root.Commands() {
		if c.Name() == "connections" {
			return c
		}
	}
	parent := &cobra.Command{Use: "connections", Short: "Keep reps' and orgs' connections alive: sweep, refresh, verify"}
	root.AddCommand(parent)
	return parent
}

func newConnectionsSweepCmd(e env) *cobra.Command {
	return &cobra.Command{
		Use:   "sweep",
		Short: "Queue a refresh or verification of every connection due or overdue, now",
		Long: `Queues one connections:sweep at once. A worker then reads the connections whose next
refresh, verification or retry is due (through the due index, not the whole table) and
queues a connections:refresh or connections:verify task for each, as the scheduled sweep
does every 5 minutes; a connection's Retry-After is kept. This is for an operator who
will not wait for the next slot. It runs only what is due: a connection that already
failed waits for its retry (backoff, or a probe every 6 h for needs_admin, which is where
a refused OAuth client leaves it), so after fixing the client or an outage run
tether connections refresh ORG CONNECTION for each (tether connections list ORG shows them).
Over HTTP: POST /v1/connections/sweep (operator credentials).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			d, cleanup, err := queueingDeps(cmd, e, "connections sweep", depsOptions{})
			if err != nil {
				return err
			}
			defer cleanup()
			id, err := worker.SweepConnectionsNow(cmd.Context(), d.app.queueClient(), time.Now())
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(e.stdout, "queued %s: a worker queues a refresh or verification of each connection due; "+
				"a connection waiting for its retry or its 6-hourly probe is not due: after fixing an OAuth client or an outage, "+
				"run tether connections refresh ORG CONNECTION for each (tether connections list ORG shows them); "+
				"tether members list ORG --action-required shows who must act\n", id)
			return err
		},
	}
}
