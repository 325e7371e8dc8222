package main

import (
	"context"
	"fmt"

	"github.com/jedib0t/go-pretty/v6/table"
	"github.com/spf13/cobra"

	"tether/sync/directory"
	"tether/sync/orgs"
	"tether/worker/httpapi"
)

func newUsersCmd(e env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "users",
		Short: "A user's orgs and default org",
		Long: `A user is one person with one login (their lower-cased email) and may belong to
several orgs, with a role in each. USER is a user id or an email address.`,
	}
	cmd.AddCommand(newUsersMembershipsCmd(e), newUsersSetDefaultOrgCmd(e))
	return cmd
}

func newUsersMembershipsCmd(e env) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "memberships USER [--json]",
		Short: "List the orgs a user belongs to, with their role and status in each",
		Long: `Lists every org USER (a user id or an email) belongs to, with the role and membership
status there; the default org is marked. --json prints the route's JSON. Same as
GET /v1/users/{user}/memberships.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withOrgs(cmd, e, func(ctx context.Context, svc *orgs.Service, _ directory.SalesforceHosts) error {
				u, ms, err := svc.Memberships(ctx, args[0])
				if err != nil {
					return err
				}
				if asJSON {
					return printJSON(e.stdout, httpapi.MembershipsOf(u, ms))
				}
				fmt.Fprintf(e.stdout, "user %s <%s>: %s\n", u.ID, u.Email, directory.Plural(len(ms), "org"))
				if len(ms) == 0 {
					return nil
				}
				t := newTable(e.stdout, "ORG", "NAME", "ROLE", "STATUS", "DEFAULT")
				for _, m := range ms {
					def := ""
					if m.Default {
						def = "yes"
					}
					t.AppendRow(table.Row{m.Membership.OrgID, m.OrgName, m.Membership.Role, m.Membership.Status, def})
				}
				t.Render()
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the JSON GET /v1/users/{user}/memberships answers")
	return cmd
}

func newUsersSetDefaultOrgCmd(e env) *cobra.Command {
	return &cobra.Command{
		Use:   "set-default-org USER ORG",
		Short: "Mark one of a user's orgs as their default",
		Long: `Marks ORG as the org USER (a user id or an email) lands in. It must be one of their
orgs, with a membership that is not deactivated. Same as PUT /v1/users/{user}/default-org.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withOrgs(cmd, e, func(ctx context.Context, svc *orgs.Service, _ directory.SalesforceHosts) error {
				u, err := svc.SetDefaultOrg(ctx, args[0], args[1])
				if err != nil {
					return err
				}
				fmt.Fprintf(e.stdout, "default org of %s is now %s\n", u.Email, u.FavouriteOrgID)
				return nil
			})
		},
	}
}
