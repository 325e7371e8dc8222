package main

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jedib0t/go-pretty/v6/table"
	"github.com/spf13/cobra"

	"tether/sync/directory"
	"tether/sync/invites"
	"tether/sync/store"
	"tether/worker/httpapi"
)

// addInviteAdmin puts the listing, revoke, cancel and skipped-rows verbs under `invite`.
func addInviteAdmin(root *cobra.Command, e env) {
	inviteParent(root).AddCommand(newInviteListCmd(e), newInviteImportsCmd(e), newInviteRevokeCmd(e),
		newInviteCancelCmd(e), newInviteSkippedCmd(e))
}

// withAdmin loads the configuration, opens the store and calls fn with the admin actions.
// They only read and write the database, so Redis is not needed: a person running
// `tether all` on its embedded Redis lists and revokes from another shell.
func withAdmin(cmd *cobra.Command, e env, org string, fn func(ctx context.Context, a invites.Admin) error) error {
	if org == "" {
		return errors.New("--org is required (the org id; list orgs with: tether org list)")
	}
	ctx := cmd.Context()
	cfg, err := loadConfig(cmd, e)
	if err != nil {
		return err
	}
	st, err := openStore(ctx, cfg, false)
	if err != nil {
		return err
	}
	defer st.Close()
	return fn(ctx, invites.Admin{Store: store.Invites{Store: st}})
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04")
}

// pageFlags are the paging flags of the listing verbs.
type pageFlags struct {
	limit  int
	cursor string
}

func (f *pageFlags) bind(cmd *cobra.Command, cursorHelp string) {
	cmd.Flags().IntVar(&f.limit, "limit", invites.DefaultPage, fmt.Sprintf("rows per page (1 to %d)", invites.MaxPage))
	cmd.Flags().StringVar(&f.cursor, "cursor", "", cursorHelp)
}

func (f pageFlags) check() error {
	if f.limit < 1 || f.limit > invites.MaxPage {
		return fmt.Errorf("--limit %d: give a number from 1 to %d", f.limit, invites.MaxPage)
	}
	return nil
}

// nextPage prints how to get the following page, if there is one.
func nextPage(e env, next, again string) {
	if next != "" {
		fmt.Fprintf(e.stdout, "\nmore: %s --cursor %s\n", again, next)
	}
}

// newInviteListCmd is `tether invite list`.
func newInviteListCmd(e env) *cobra.Command {
	var (
		org, status, importID string
		pf                    pageFlags
		asJSON                bool
	)
	cmd := &cobra.Command{
		Use:   "list --org ORG [--status pending|accepted|expired|revoked|unsent|sent|failed|unknown] [--import ID] [--limit N] [--cursor C] [--json]",
		Short: "List an org's invites, a page at a time",
		Long: `Lists the org's invites in id order (oldest first): id, email, role, status, expiry,
emails sent, where the latest email is (DELIVERY: unsent, sent, failed, unknown) and the
send error: why it failed for good, or why the latest attempt failed while it is retried. --status takes an invite status or a delivery; "unknown" lists pending
invites whose email's worker died after the mail server may have accepted it (tether
never sends those again by itself: resend them with tether invite resend). When more
remain, the last line gives the command for the next page (--cursor is the last id shown).
--json prints the page as GET /v1/orgs/{org}/invites answers (next_cursor is --cursor).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := pf.check(); err != nil {
				return err
			}
			return withAdmin(cmd, e, org, func(ctx context.Context, a invites.Admin) error {
				p, err := a.ListInvites(ctx, org, directory.InviteFilter{Status: directory.InviteStatus(status),
					ImportID: importID, AfterID: pf.cursor, Limit: pf.limit})
				if err != nil {
					return err
				}
				if asJSON {
					return printJSON(e.stdout, httpapi.InvitePageOf(p))
				}
				if len(p.Invites) == 0 {
					fmt.Fprintf(e.stdout, "org %s has no invites that match\n", org)
					return nil
				}
				t := newTable(e.stdout, "ID", "EMAIL", "ROLE", "STATUS", "EXPIRES", "SENT", "DELIVERY", "IMPORT", "SEND ERROR")
				for _, i := range p.Invites {
					t.AppendRow(table.Row{i.ID, i.Email, i.Role, i.Status, stamp(i.ExpiresAt), i.SentCount, i.Delivery(), dash(i.ImportID), dash(sendError(i))})
				}
				t.Render()
				again := "tether invite list --org " + org
				if status != "" {
					again += " --status " + status
				}
				if importID != "" {
					again += " --import " + importID
				}
				nextPage(e, p.Next, again+" --limit "+strconv.Itoa(pf.limit))
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&org, "org", "", "org id (required)")
	cmd.Flags().StringVar(&status, "status", "", "only invites in this status (pending, accepted, expired, revoked) or pending ones whose email is unsent, sent, failed or unknown")
	cmd.Flags().StringVar(&importID, "import", "", "only invites of this import")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the page as GET /v1/orgs/{org}/invites answers")
	pf.bind(cmd, "start after this invite id (the last id of the previous page)")
	return cmd
}

// sendError is the SEND ERROR column: why the send failed for good, else why the latest
// attempt failed while it is retried.
func sendError(i directory.Invite) string {
	if i.SendError != "" {
		return i.SendError
	}
	return i.LastSendError
}

// newInviteImportsCmd is `tether invite imports`.
func newInviteImportsCmd(e env) *cobra.Command {
	var (
		org    string
		pf     pageFlags
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "imports --org ORG [--limit N] [--cursor C] [--json]",
		Short: "List an org's imports, newest first",
		Long: `Lists the org's imports, newest first: id, status, when, rows done of total, invited and
not invited. Show one with: tether invite status IMPORT_ID --org ORG. --json prints the
page as GET /v1/orgs/{org}/imports answers (next_cursor is --cursor).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := pf.check(); err != nil {
				return err
			}
			return withAdmin(cmd, e, org, func(ctx context.Context, a invites.Admin) error {
				p, err := a.ListImports(ctx, org, pf.cursor, pf.limit)
				if err != nil {
					return err
				}
				if asJSON {
					return printJSON(e.stdout, httpapi.ImportPageOf(p))
				}
				if len(p.Imports) == 0 {
					fmt.Fprintf(e.stdout, "org %s has no imports\n", org)
					return nil
				}
				t := newTable(e.stdout, "ID", "STATUS", "CREATED", "DONE", "INVITED", "NOT INVITED", "DRY RUN")
				for _, i := range p.Imports {
					invited := i.Counts.Invited + i.Counts.AddedMultiAccount
					t.AppendRow(table.Row{i.ID, i.Status, stamp(i.CreatedAt), fmt.Sprintf("%d/%d", i.Progress.Done, i.Progress.Total),
						invited, i.Counts.Found + i.Counts.NotFound - invited, i.DryRun})
				}
				t.Render()
				nextPage(e, p.Next, "tether invite imports --org "+org+" --limit "+strconv.Itoa(pf.limit))
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&org, "org", "", "org id (required)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the page as GET /v1/orgs/{org}/imports answers")
	pf.bind(cmd, "start after this import id (the last id of the previous page)")
	return cmd
}

// newInviteRevokeCmd is `tether invite revoke`: one invite, or every pending invite of an
// import.
func newInviteRevokeCmd(e env) *cobra.Command {
	var (
		org, importID string
		dryRun        bool
	)
	const forms = "tether invite revoke INVITE_ID --org ORG (one invite) or tether invite revoke --import IMPORT_ID --org ORG (every pending invite of an import)"
	cmd := &cobra.Command{
		Use:   "revoke (INVITE_ID | --import IMPORT_ID [--dry-run]) --org ORG",
		Short: "Revoke a pending invite, or every pending invite of an import: links stop working, seats are free",
		Long: `Revokes the org's pending invite: its link stops working, its seat is free, and its
invitation email, if not sent yet, is never sent.

With --import, revokes every pending invite of that import the same way (a page of ` + strconv.Itoa(invites.RevokePage) + ` at
a time), for an import cancelled with tether invite cancel whose invites should not go
out. Accepted invites (members) are never touched; revoked and expired ones are left as
they are. It prints how many were revoked, how many of their emails (not sent yet) that stops, and
how many were left alone. An import still queued, running or paused is refused: cancel
it first. Running it again revokes what is left (after a crash, say) and reports the rest
as already revoked. --dry-run changes nothing and prints what it would do.`,
		Args: func(cmd *cobra.Command, args []string) error {
			switch {
			case importID == "" && len(args) != 1:
				return fmt.Errorf("name one INVITE_ID or give --import IMPORT_ID: %s", forms)
			case importID != "" && len(args) != 0:
				return fmt.Errorf("give an invite id or --import, not both: %s", forms)
			case dryRun && importID == "":
				return fmt.Errorf("--dry-run goes with --import IMPORT_ID: %s", forms)
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return withAdmin(cmd, e, org, func(ctx context.Context, a invites.Admin) error {
				if importID != "" {
					res, err := a.RevokeImport(ctx, org, importID, dryRun)
					if err != nil {
						return err
					}
					verb := "revoked"
					if dryRun {
						verb = "dry run, nothing changed: would revoke"
					}
					are := "are"
					if res.EmailsStopped == 1 {
						are = "is"
					}
					fmt.Fprintf(e.stdout, "import %s: %s %s (%s not sent yet %s stopped); left alone: %d accepted, %d already revoked, %d expired\n",
						res.ImportID, verb, directory.Plural(res.Revoked, "pending invite"), directory.Plural(res.EmailsStopped, "invitation email"), are,
						res.Accepted, res.AlreadyRevoked, res.Expired)
					return nil
				}
				inv, err := a.RevokeInvite(ctx, org, args[0])
				if err != nil {
					return err
				}
				fmt.Fprintf(e.stdout, "revoked invite %s to %s\n", inv.ID, inv.Email)
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&org, "org", "", "org id (required)")
	cmd.Flags().StringVar(&importID, "import", "", "revoke every pending invite of this import (cancel a running import first)")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "with --import: change nothing, print how many would be revoked")
	return cmd
}

// newInviteCancelCmd is `tether invite cancel`.
func newInviteCancelCmd(e env) *cobra.Command {
	var org string
	cmd := &cobra.Command{
		Use:   "cancel IMPORT_ID --org ORG",
		Short: "Cancel a queued, running or paused import",
		Long: `Cancels the import. A running import stops at its next page (the page in hand is not
written); the invites it already created stay pending: revoke them all
with one command, tether invite revoke --import IMPORT_ID --org ORG, or let them expire.`,
		Args: exactArg("IMPORT_ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withAdmin(cmd, e, org, func(ctx context.Context, a invites.Admin) error {
				imp, err := a.CancelImport(ctx, org, args[0])
				if err != nil {
					return err
				}
				fmt.Fprintf(e.stdout, "cancelled import %s after %d of %d rows\n", imp.ID, imp.Progress.Done, imp.Progress.Total)
				if n := imp.Counts.Invited; n > 0 && !imp.DryRun {
					// Cancel stops the reading, not what it made: someone expecting it to stop
					// the emails must be told.
					made := fmt.Sprintf("the %d invites it made stay pending and their invitation emails are still sent", n)
					if n == 1 {
						made = "the 1 invite it made stays pending and its invitation email is still sent"
					}
					fmt.Fprintf(e.stdout, "%s: list them with tether invite list --org %s --import %s, revoke them all with tether invite revoke --import %s --org %s\n",
						made, org, imp.ID, imp.ID, org)
				}
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&org, "org", "", "org id (required)")
	return cmd
}

// newInviteSkippedCmd is `tether invite skipped`.
func newInviteSkippedCmd(e env) *cobra.Command {
	var (
		org    string
		asCSV  bool
		pf     pageFlags
		cursor int
	)
	cmd := &cobra.Command{
		Use:   "skipped IMPORT_ID --org ORG [--csv] [--limit N] [--cursor C]",
		Short: "List the rows an import did not invite, and why (or all of them as CSV)",
		Long: `Lists every row the import did not invite, in import order, with its reason
(skipped_invalid_email, skipped_no_email, duplicate_in_import, already_member,
already_invited, over_seat_limit, not_found, skipped_inactive, skipped_not_standard).
SEQ is the row's place in the import counted from 0, the same number --cursor takes, the
CSV's seq column and GET /v1/orgs/{org}/imports/{id}/skipped's seq. --csv writes all of them
as CSV (seq, salesforce_user_id, email, name, reason) to standard output, a page at a time:
tether invite skipped IMPORT_ID --org ORG --csv > skipped.csv`,
		Args: exactArg("IMPORT_ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := pf.check(); err != nil {
				return err
			}
			after := -1
			if pf.cursor != "" {
				n, err := strconv.Atoi(pf.cursor)
				if err != nil || n < 0 {
					return fmt.Errorf("--cursor %q: give the number printed after \"more:\" by the previous page", pf.cursor)
				}
				after = n
			}
			cursor = after
			return withAdmin(cmd, e, org, func(ctx context.Context, a invites.Admin) error {
				if asCSV {
					return httpapi.WriteSkippedCSV(csv.NewWriter(e.stdout), func(fn func(directory.SkippedRow) error) error {
						return a.EachSkipped(ctx, org, args[0], fn)
					})
				}
				p, err := a.ListSkipped(ctx, org, args[0], cursor, pf.limit)
				if err != nil {
					return err
				}
				if len(p.Rows) == 0 && cursor >= 0 {
					fmt.Fprintf(e.stdout, "import %s has no skipped rows after cursor %d\n", args[0], cursor)
					return nil
				}
				if len(p.Rows) == 0 {
					fmt.Fprintf(e.stdout, "import %s skipped no rows\n", args[0])
					return nil
				}
				t := newTable(e.stdout, "SEQ", "SALESFORCE ID", "EMAIL", "NAME", "REASON")
				for _, r := range p.Rows {
					t.AppendRow(table.Row{r.Seq, dash(r.SalesforceUserID), dash(r.Email), dash(r.Name), r.Reason})
				}
				t.Render()
				if p.Next >= 0 {
					nextPage(e, strconv.Itoa(p.Next), "tether invite skipped "+args[0]+" --org "+org+" --limit "+strconv.Itoa(pf.limit))
				}
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&org, "org", "", "org id (required)")
	cmd.Flags().BoolVar(&asCSV, "csv", false, "write every skipped row as CSV to standard output")
	pf.bind(cmd, "continue after this row (the number printed after \"more:\")")
	return cmd
}

// exactArg requires exactly one argument and names it when it is missing.
func exactArg(name string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != 1 {
			return fmt.Errorf("%s: give exactly one %s (got %d arguments)", cmd.CommandPath(), name, len(args))
		}
		return nil
	}
}
