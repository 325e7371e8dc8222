package main

import (
	"errors"
	"fmt"

	"github.com/hibiken/asynq"
	"github.com/spf13/cobra"

	"tether/sync/onboarding"
	"tether/sync/store"
	"tether/worker"
)

// newInviteResendCmd is `tether invite resend`.
func newInviteResendCmd(e env) *cobra.Command {
	var org, importID string
	cmd := &cobra.Command{
		Use:   "resend --org ORG (INVITE_ID|EMAIL | --import IMPORT_ID)",
		Short: "Email a pending invitation again, with a new Join link (or every unsent one of an import)",
		Long: `Queues a new send attempt of the org's pending invite (named by id, or by email address).
The new email carries a new link; the previous link stops working once it is sent. Running
resend twice before the worker sends it queues one email, not two. An invite past its
expiry is renewed like a new invite: it takes a seat under the org's seat lock, and is
refused when the org has none left.

With --import, queues the invitation of every pending invite of that import that was never
sent (never queued, lost with Redis, or refused by the mail server) or whose delivery is
unknown (a worker died after the mail server may have accepted it: tether never resends
those by itself, since the person may already have the email), so a mail outage is
recovered in one command; it prints how many were queued, already queued, or lacked a seat.`,
		Args: func(cmd *cobra.Command, args []string) error {
			switch {
			case importID == "" && len(args) != 1:
				return errors.New("name one invite (INVITE_ID or EMAIL), or give --import IMPORT_ID")
			case importID != "" && len(args) != 0:
				return errors.New("give either an invite (INVITE_ID or EMAIL) or --import IMPORT_ID, not both")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if org == "" {
				return errors.New("--org is required (the org id the invite belongs to)")
			}
			ctx := cmd.Context()
			cfg, err := loadConfig(cmd, e)
			if err != nil {
				return err
			}
			if err := requireRedisCLI(cfg, "invite resend"); err != nil {
				return err
			}
			d, cleanup, err := buildDeps(ctx, e, cfg, depsOptions{store: true})
			if err != nil {
				return err
			}
			defer cleanup()
			r := resender(d, d.app.queueClient(), d.app.queueInspector())
			if importID != "" {
				res, err := r.ResendImport(ctx, org, importID)
				if err != nil {
					return err
				}
				fmt.Fprintf(e.stdout, "import %s: %d queued, %d already queued, %d without a free seat\n",
					res.ImportID, res.Queued, res.AlreadyQueued, res.NoSeat)
				if res.Queued+res.AlreadyQueued+res.NoSeat == 0 {
					// Sent emails are not resent in bulk: the person may have one already.
					fmt.Fprintf(e.stdout, "no pending invite of it is unsent or of unknown delivery; to email one again: tether invite resend --org %s INVITE_ID|EMAIL\n", org)
				}
				return nil
			}
			inv, attempt, err := r.Resend(ctx, org, args[0])
			if errors.Is(err, onboarding.ErrAlreadyQueued) {
				// What was asked for holds: that email is on its way, once.
				fmt.Fprintf(e.stdout, "attempt %d of invite %s to %s is already queued or being sent: nothing more to do, it is sent once\n", attempt, inv.ID, inv.Email)
				return nil
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "queued attempt %d of invite %s to %s\n", attempt, inv.ID, inv.Email)
			return nil
		},
	}
	cmd.Flags().StringVar(&org, "org", "", "org id (required)")
	cmd.Flags().StringVar(&importID, "import", "", "resend every unsent or unknown invitation of this import")
	return cmd
}

// resender is the one resend producer of a process (CLI and serve).
func resender(d deps, client *asynq.Client, in *asynq.Inspector) onboarding.Resender {
	return onboarding.Resender{Store: store.Invites{Store: d.store}, Queue: worker.InviteEnqueuer{Client: client, Inspector: in}, TTL: d.cfg.InviteTTL}
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
