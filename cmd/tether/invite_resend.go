package main

import (
	"errors"
	"fmt"

	"github.com/hibiken/asynq"
	"github.com/spf13/cobra"

	"tether/sync/onboarding"
	"tether/worker"
)

// newInviteResendCmd is `tether invite resend`.
func newInviteResendCmd(e env) *cobra.Command {
	var org string
	cmd := &cobra.Command{
		Use:   "resend --org ORG INVITE_ID|EMAIL",
		Short: "Email a pending invitation again, with a new Join link",
		Long: `Queues a new send attempt of the org's pending invite (named by id, or by email address).
The new email carries a new link; the previous link stops working once it is sent. Running
resend twice before the worker sends it queues one email, not two.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if org == "" {
				return errors.New("--org is required (the org id the invite belongs to)")
			}
			ctx := cmd.Context()
			cfg, err := loadConfig(cmd, e)
			if err != nil {
				return err
			}
			if err := cfg.RequireRedis("invite resend"); err != nil {
				return err
			}
			d, cleanup, err := buildDeps(ctx, e, cfg, depsOptions{store: true})
			if err != nil {
				return err
			}
			defer cleanup()
			client, in := asynq.NewClient(d.redis), asynq.NewInspector(d.redis)
			defer client.Close()
			defer in.Close()
			inv, attempt, err := onboarding.Resend(ctx, d.store, worker.InviteEnqueuer{Client: client, Inspector: in}, org, args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "queued attempt %d of invite %s to %s\n", attempt, inv.ID, inv.Email)
			return nil
		},
	}
	cmd.Flags().StringVar(&org, "org", "", "org id (required)")
	return cmd
}

// addInviteResend puts resend under the `invite` command, creating that command if no other
// file has.
func addInviteResend(root *cobra.Command, e env) {
	for _, c := range root.Commands() {
		if c.Name() == "invite" {
			c.AddCommand(newInviteResendCmd(e))
			return
		}
	}
	parent := &cobra.Command{Use: "invite", Short: "Manage invitations"}
	parent.AddCommand(newInviteResendCmd(e))
	root.AddCommand(parent)
}
