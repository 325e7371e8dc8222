package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"tether/sync/connect"
	"tether/sync/connections"
)

// withLinks opens the store and builds the connect-link producer (the one tether serve's
// /v1/.../connect-links routes use). It needs TETHER_LINK_SECRET and the migrated store;
// no Redis, no key ring.
func withLinks(cmd *cobra.Command, e env, fn func(ctx context.Context, links *connect.Links) error) error {
	ctx := cmd.Context()
	cfg, err := loadConfig(cmd, e)
	if err != nil {
		return err
	}
	if err := cfg.RequireLinkSecret(cmd.CommandPath()[len("tether "):]); err != nil {
		return err
	}
	st, err := openStore(ctx, cfg, false)
	if err != nil {
		return err
	}
	defer st.Close()
	links, err := connectLinks(deps{cfg: cfg, store: st})
	if err != nil {
		return err
	}
	return fn(ctx, links)
}

// printLink prints the link on its own line first (scripts take line one), then what it is.
func printLink(e env, l connect.Issued, what string) {
	fmt.Fprintln(e.stdout, l.URL)
	fmt.Fprintf(e.stdout, "%s; single use, valid until %s (%s).\n", what, l.ExpiresAt.Local().Format(time.RFC1123),
		time.Until(l.ExpiresAt).Round(time.Minute))
	fmt.Fprintln(e.stdout, "Opening it shows what will be connected; nothing happens until its button is pressed.")
}

func linkError(err error) error {
	if errors.Is(err, connect.ErrUnknownOrg) || errors.Is(err, connect.ErrUnknownMember) || errors.Is(err, connect.ErrBadRequest) ||
		errors.Is(err, connect.ErrAlreadyConnected) {
		return err
	}
	return fmt.Errorf("could not make the link: %w", err)
}

// newOrgConnectSalesforceCmd is `tether org connect-salesforce ORG`.
func newOrgConnectSalesforceCmd(e env) *cobra.Command {
	var ttl time.Duration
	cmd := &cobra.Command{
		Use:   "connect-salesforce ORG [--ttl D]",
		Short: "Print a link that connects the org's team-level Salesforce user",
		Long: `Prints a single-use link (default lifetime TETHER_TEAM_LINK_TTL, 30 minutes) for the
org's admin. Opening it shows what will be connected and why; its button signs in at the
org's Salesforce login host (production or sandbox, see tether org set --salesforce-login).
When the sign-in finishes, tether checks the Salesforce org (it must be the one already
connected, if any), seals the tokens, marks the connection healthy and queues a permission
audit at once (see tether permissions show --org ORG). Reconnecting replaces the tokens and
then revokes the old grant.

Same as POST /v1/orgs/{org}/connect-links. Needs TETHER_LINK_SECRET and TETHER_PUBLIC_URL
(the link points there: tether serve must answer at that address).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withLinks(cmd, e, func(ctx context.Context, links *connect.Links) error {
				l, err := links.Issue(ctx, connect.IssueRequest{OrgID: args[0], Kind: connections.KindSalesforceTeam, TTL: ttl})
				if err != nil {
					return linkError(err)
				}
				printLink(e, l, "Team-level Salesforce connect link for org "+l.OrgID)
				return nil
			})
		},
	}
	cmd.Flags().DurationVar(&ttl, "ttl", 0, "lifetime of the link (default TETHER_TEAM_LINK_TTL; at most 24h)")
	return cmd
}

// newMembersCmd is `tether members`.
func newMembersCmd(e env) *cobra.Command {
	cmd := &cobra.Command{Use: "members", Short: "List an org's members with Action Required, change, deactivate, connect them"}
	cmd.AddCommand(newMembersConnectLinkCmd(e), newMembersListCmd(e), newMembersSetCmd(e), newMembersRecomputeCmd(e), newMembersDeactivateCmd(e), newMembersRemindersCmd(e))
	return cmd
}

// newMembersConnectLinkCmd is `tether members connect-link ORG MEMBER KIND`.
func newMembersConnectLinkCmd(e env) *cobra.Command {
	var ttl time.Duration
	cmd := &cobra.Command{
		Use:   "connect-link ORG MEMBER KIND [--ttl D]",
		Short: "Print a link that connects one of a member's accounts",
		Long: `Prints a single-use link (default lifetime TETHER_CONNECT_LINK_TTL, 7 days) that connects
one personal account of a member. MEMBER is the membership id or the member's email. KIND is
salesforce, google_calendar, microsoft_calendar, zoom or teams. One Microsoft consent covers
both the Outlook calendar and Teams: either kind's link fills the member's one Microsoft
connection.

For salesforce, the account must be the member's own Salesforce user when tether knows it.

Same as POST /v1/orgs/{org}/members/{member}/connect-links with {"kind": KIND}.`,
		Args: cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withLinks(cmd, e, func(ctx context.Context, links *connect.Links) error {
				l, err := links.Issue(ctx, connect.IssueRequest{OrgID: args[0], MembershipID: args[1],
					Kind: connections.Kind(args[2]), TTL: ttl})
				if err != nil {
					return linkError(err)
				}
				printLink(e, l, fmt.Sprintf("%s connect link for member %s of org %s", l.Kind, l.MembershipID, l.OrgID))
				return nil
			})
		},
	}
	cmd.Flags().DurationVar(&ttl, "ttl", 0, "lifetime of the link (default TETHER_CONNECT_LINK_TTL; at most 720h, 30 days)")
	return cmd
}
