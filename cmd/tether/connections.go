package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/jedib0t/go-pretty/v6/table"
	"github.com/spf13/cobra"

	"tether/sync/connections"
	"tether/sync/directory"
	"tether/sync/members"
	"tether/sync/vault"
	"tether/worker/httpapi"
)

// newConnectionsCmd is `tether connections`: the operator's view of connection upkeep.
func newConnectionsCmd(e env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "connections",
		Short: "List an org's connections with their health; refresh or verify one now",
	}
	cmd.AddCommand(newConnectionsListCmd(e), newConnectionsRunCmd(e, connections.OpRefresh), newConnectionsRunCmd(e, connections.OpVerify))
	return cmd
}

func newConnectionsListCmd(e env) *cobra.Command {
	var (
		member string
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "list ORG [--member MEMBER] [--json]",
		Short: "List an org's connections: state, who must act and why, when upkeep next calls",
		Long: `Prints each connection of the org (or of one member, --member: a membership id or an email) with its state, the
failure class and who must act (rep: reconnect; admin; operator), the provider's code and
sub-code, tether's reason, the cause when it matters (lost_during_refresh), the failures in a
row, and when upkeep next refreshes, verifies or retries it. Never a token. --json prints
the route's JSON.

Same as GET /v1/orgs/{org}/connections?member=M.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
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
			if _, err := st.GetOrg(ctx, args[0]); errors.Is(err, directory.ErrNotFound) {
				return fmt.Errorf("org %s does not exist: `tether org list` shows the orgs", args[0])
			} else if err != nil {
				return err
			}
			id := ""
			svc, err := members.New(members.Config{Store: st})
			if err != nil {
				return err
			}
			if member != "" {
				// An email, as every other member verb takes, or an id; an unknown one is
				// an error, not an empty list.
				m, err := svc.Resolve(ctx, args[0], member)
				if err != nil {
					return err
				}
				id = m.ID
			}
			cs, err := st.ListConnections(ctx, args[0], id)
			if err != nil {
				return err
			}
			if len(cs) == 0 && !asJSON {
				_, err := fmt.Fprintf(e.stdout, "org %s has no connections%s\n", args[0], map[bool]string{true: " for member " + member}[member != ""])
				return err
			}
			emails, err := svc.Emails(ctx, args[0], cs)
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(e.stdout, httpapi.ConnectionListOf(args[0], cs, emails))
			}
			printConnections(e.stdout, cs, emails)
			return nil
		},
	}
	cmd.Flags().StringVar(&member, "member", "", "only this member's connections (its membership id or email, as tether members list prints)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the JSON GET /v1/orgs/{org}/connections answers")
	return cmd
}

func newConnectionsRunCmd(e env, op string) *cobra.Command {
	what := map[string]string{
		connections.OpRefresh: `Refreshes the connection now, whatever its schedule, through the same lock per connection
as the workers (so it never races a task into a second provider call) and records the
outcome on it like a scheduled refresh: the new tokens first, then its state, who must act
and when upkeep next calls. A provider's Retry-After is still honoured: the command says
when to try again and calls nothing.`,
		connections.OpVerify: `Verifies the connection now: one cheap call at its provider proving the token works
and holds the scopes tether needs (refreshing first when the token is older than its
lifetime, and once more on a 401). The outcome is recorded on the connection.`,
	}[op]
	return &cobra.Command{
		Use:   op + " ORG CONNECTION",
		Short: map[string]string{connections.OpRefresh: "Refresh a connection now and print its state after", connections.OpVerify: "Verify a connection now and print its state after"}[op],
		Long: what + `

It runs in this process (not queued) and needs TETHER_REDIS_URL (the lock), the database and
the key ring. Same as POST /v1/orgs/{org}/connections/{id}/` + op + `.

Exit status, for scripts: 0 the ` + op + ` succeeded; 3 someone must act (the provider
answered needs_reconnect, needs_admin or misconfigured, or the connection already needed
reconnecting and nothing was called); 4 it failed in a way upkeep retries by itself
(transient, rate_limited, unknown, or the provider's Retry-After has not passed yet). Any
other failure exits 1. The outcome and the state are printed either way.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := loadConfig(cmd, e)
			if err != nil {
				return err
			}
			if err := requireRedisCLI(cfg, "connections "+op); err != nil {
				return err
			}
			d, cleanup, err := buildDeps(cmd.Context(), e, cfg, depsOptions{store: true, keyring: true})
			if err != nil {
				return err
			}
			defer cleanup()
			// The lock is on Redis: fail in seconds, not after a Sentinel client's half minute.
			if err := reachable(cmd.Context(), d); err != nil {
				return err
			}
			up, err := d.app.upkeep()
			if err != nil {
				return err
			}
			run := up.Refresh
			if op == connections.OpVerify {
				run = up.Verify
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), time.Minute)
			defer cancel()
			res, err := run(ctx, args[0], args[1], true)
			var notYet *connections.NotYetError
			switch {
			case errors.Is(err, directory.ErrNotFound):
				// An unknown org reads as the list's answer, not as a missing connection.
				if _, oerr := d.store.GetOrg(cmd.Context(), args[0]); errors.Is(oerr, directory.ErrNotFound) {
					return fmt.Errorf("org %s does not exist: `tether org list` shows the orgs", args[0])
				}
				return fmt.Errorf("org %s has no connection %s: `tether connections list %s` shows them", args[0], args[1], args[0])
			case errors.As(err, &notYet):
				return &exitError{exitConnectionRetried, fmt.Errorf("%w; run the command again after that", notYet)}
			case errors.Is(err, vault.ErrOpen), errors.Is(err, vault.ErrUnknownKey):
				return fmt.Errorf("%s connection %s: %w; %s", op, args[1], err, sealedHint)
			case err != nil:
				return fmt.Errorf("%s connection %s: %w (nothing was lost; try again, and its schedule retries it too)", op, args[1], err)
			}
			switch {
			case res.Skipped != "":
				fmt.Fprintf(e.stdout, "%s skipped: %s\n", op, res.Skipped)
			case res.Failure != nil:
				fmt.Fprintf(e.stdout, "%s failed (%s); provider called: %t\n", op, res.Failure.Class, res.Called)
			default:
				fmt.Fprintf(e.stdout, "%s ok; provider called: %t\n", op, res.Called)
			}
			if res.TimeZoneLearnt != "" {
				fmt.Fprintf(e.stdout, "member %s had no time zone: %s, as the provider records it, is now theirs (tether members set %s %s --time-zone changes it)\n",
					res.Connection.MembershipID, res.TimeZoneLearnt, args[0], res.Connection.MembershipID)
			}
			printConnections(e.stdout, []connections.Connection{res.Connection}, nil)
			return upkeepExit(op, args[1], res)
		},
	}
}

// sealedHint follows an error opening a connection's tokens: trying again cannot help, a
// key ring that holds the sealing key can.
const sealedHint = "trying again will not help: TETHER_ENCRYPTION_KEYS must hold the key the tokens were sealed with " +
	"(tether keys status counts the values per key id); if that key is lost, the connection must be made again " +
	"(tether org connect-salesforce, tether members connect-link)"

// Exit codes of `tether connections refresh` and `verify`, chosen like permissions
// show's: 3 a person must act, 4 nothing to act on yet (upkeep retries). Other failures
// exit 1.
const (
	exitConnectionNeedsAction = exitPermissionMissing
	exitConnectionRetried     = exitPermissionUnknown
)

// upkeepExit turns an operator's refresh or verify outcome, already printed, into the
// exit status scripts test: the verb ran, but a failed provider call must not exit 0.
func upkeepExit(op, id string, res connections.Result) error {
	switch {
	case res.Failure != nil && res.Failure.Class.Retried():
		return &exitError{exitConnectionRetried, fmt.Errorf("%s of connection %s failed (%s); upkeep tries again at %s",
			op, id, dash(string(res.Failure.Class)), connNext(res.Connection))}
	case res.Failure != nil:
		c := res.Connection
		c.FailureClass = res.Failure.Class
		return &exitError{exitConnectionNeedsAction, fmt.Errorf("%s of connection %s failed (%s): the %s must act, as its reason above says%s",
			op, id, res.Failure.Class, c.Actor(), teamReconnect(c))}
	case res.Skipped != "" && res.Connection.State.AwaitsReconnect():
		who := "the rep must connect it again"
		switch c := res.Connection; {
		case c.Kind.OrgLevel():
			who = "an admin of the org must connect it again" + teamReconnect(c)
		case c.State == connections.StateRevoked:
			// Only a deactivation revokes a member's connection: its rep is gone, not
			// asked to reconnect.
			who = "tether revoked it when its member was deactivated, so nothing refreshes it; were the member active again, " +
				"they would connect it anew (tether members connect-link " + c.OrgID + " " + c.MembershipID + " " + string(c.Kind) + ")"
		}
		return &exitError{exitConnectionNeedsAction, fmt.Errorf("connection %s was not %s: %s; %s",
			id, map[string]string{connections.OpRefresh: "refreshed", connections.OpVerify: "verified"}[op], res.Skipped, who)}
	}
	return nil
}

// teamReconnect names the verb that reconnects c when c is an org's team connection whose
// grant is gone; "" otherwise.
func teamReconnect(c connections.Connection) string {
	if !c.Kind.OrgLevel() || (c.FailureClass != connections.FailNeedsReconnect && !c.State.AwaitsReconnect()) {
		return ""
	}
	return " (tether org connect-salesforce " + c.OrgID + " prints a link)"
}

// printConnections prints one row per connection, then a reason line under each that has
// one.
// printConnections prints cs with each member's email (emails: membership id → email;
// a missing one shows the id).
func printConnections(w io.Writer, cs []connections.Connection, emails map[string]string) {
	t := newTable(w, "CONNECTION", "KIND", "MEMBER", "STATE", "ACTS", "CODE", "FAILURES", "LAST REFRESH", "NEXT")
	for _, c := range cs {
		member := c.MembershipID
		if e := emails[member]; e != "" {
			member = e
		}
		if member == "" {
			member = "(org)"
		}
		code := c.LastErrorCode
		if c.FailureSubCode != "" {
			code += "/" + c.FailureSubCode
		}
		t.AppendRow(table.Row{c.ID, c.Kind, member, c.State,
			dash(string(c.Actor())), dash(code), c.ConsecutiveFailures, connWhen(c.LastRefreshedAt), connNext(c)})
	}
	t.Render()
	for _, c := range cs {
		if c.FailureReason == "" {
			continue
		}
		cause := ""
		if c.FailureCause != connections.CauseNone {
			cause = " [" + string(c.FailureCause) + "]"
		}
		fmt.Fprintf(w, "  %s: %s%s\n", c.ID, strings.TrimSpace(c.FailureReason), cause)
	}
}

func connWhen(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func connNext(c connections.Connection) string {
	if c.NextRefreshAt.IsZero() {
		if c.State == connections.StateNeedsReconnect && c.Kind.OrgLevel() {
			return "never (an admin must reconnect it)"
		}
		if c.State == connections.StateNeedsReconnect {
			return "never (the rep must reconnect)"
		}
		return "-"
	}
	return connWhen(c.NextRefreshAt)
}
