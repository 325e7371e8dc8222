package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/jedib0t/go-pretty/v6/table"
	"github.com/spf13/cobra"

	"tether/sync/connections"
	"tether/sync/directory"
	"tether/sync/members"
	"tether/sync/orgs"
	"tether/sync/store"
	"tether/worker/httpapi"
)

var _ orgs.Store = (*store.Store)(nil)

// withOrgs opens the configured store (it must be migrated), builds the org service on it
// and calls fn with it and the Salesforce login hosts the connect flow uses. The org and
// user verbs need nothing else: no Redis, no key ring.
func withOrgs(cmd *cobra.Command, e env, fn func(ctx context.Context, svc *orgs.Service, hosts directory.SalesforceHosts) error) error {
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
	ms, err := members.New(members.Config{Store: st})
	if err != nil {
		return err
	}
	svc, err := orgs.New(orgs.Config{Store: st, Members: ms, SalesforceSessionDefault: cfg.SalesforceSession})
	if err != nil {
		return err
	}
	return fn(ctx, svc, cfg.SalesforceHosts())
}

// withOrgsQueued is withOrgs for a policy change: the recompute that follows queues
// reminders, so it needs TETHER_REDIS_URL and a reachable Redis before anything changes.
func withOrgsQueued(cmd *cobra.Command, e env, fn func(ctx context.Context, svc *orgs.Service, hosts directory.SalesforceHosts) error) error {
	d, cleanup, err := queueingDeps(cmd, e, "org set --policy", depsOptions{store: true})
	if err != nil {
		return err
	}
	defer cleanup()
	svc, err := d.app.orgService()
	if err != nil {
		return err
	}
	return fn(cmd.Context(), svc, d.cfg.SalesforceHosts())
}

// orgParent returns the `org` command of root, creating it if no other file has (the
// connect verbs live in their own file).
func orgParent(root *cobra.Command) *cobra.Command {
	for _, c := range root.Commands() {
		if c.Name() == "org" {
			return c
		}
	}
	parent := &cobra.Command{Use: "org", Short: "Create, list, show and change orgs (tenants)"}
	root.AddCommand(parent)
	return parent
}

// addOrgCmds puts create, list, show and set under `org`.
func addOrgCmds(root *cobra.Command, e env) {
	orgParent(root).AddCommand(newOrgCreateCmd(e), newOrgListCmd(e), newOrgShowCmd(e), newOrgSetCmd(e), newOrgRemindersCmd(e))
}

func newOrgCreateCmd(e env) *cobra.Command {
	var (
		req   orgs.CreateRequest
		login string
	)
	cmd := &cobra.Command{
		Use:   "create --name N --seats S [--parent ORG] [--salesforce-login production|sandbox]",
		Short: "Create an org and print its id",
		Long: `Creates an org (a customer account) with a seat limit: active members plus pending
invites may not pass it. --parent makes it a client org of an existing org (an agency or
"All Clients" parent). --salesforce-login says where its Salesforce users sign in:
production (login.salesforce.com, the default) or sandbox (test.salesforce.com).

Prints the new org's id on the first line. Same as POST /v1/orgs.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			req.SalesforceLogin = login
			return withOrgs(cmd, e, func(ctx context.Context, svc *orgs.Service, hosts directory.SalesforceHosts) error {
				o, err := svc.Create(ctx, req)
				if err != nil {
					return err
				}
				fmt.Fprintln(e.stdout, o.ID)
				parent := ""
				if o.ParentOrgID != "" {
					parent = ", client of org " + o.ParentOrgID
				}
				fmt.Fprintf(e.stdout, "created org %q: %s, Salesforce %s (%s)%s\n",
					o.Name, directory.Plural(o.SeatLimit, "seat"), o.SalesforceLogin, hosts.URL(o.SalesforceLogin), parent)
				fmt.Fprintf(e.stdout, "tether org show %s shows it\n", o.ID)
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&req.Name, "name", "", "the org's name (required)")
	cmd.Flags().IntVar(&req.Seats, "seats", 0, fmt.Sprintf("seat limit, 1 to %d (required)", orgs.MaxSeats))
	cmd.Flags().StringVar(&req.ParentID, "parent", "", "id of the parent org, for a client org")
	cmd.Flags().StringVar(&login, "salesforce-login", "production", "production or sandbox")
	_ = cmd.MarkFlagRequired("name")
	_ = cmd.MarkFlagRequired("seats")
	return cmd
}

func newOrgListCmd(e env) *cobra.Command {
	var (
		f      directory.OrgFilter
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "list [--parent ORG] [--json]",
		Short: "List orgs with their seat use; --parent lists one org's client orgs",
		Long: `Lists orgs in id order: name, parent, seats used of the limit, seats free, how many
client orgs each has, and the Salesforce login. --parent ORG lists that org's client orgs
only. --json prints the route's JSON, every page's orgs in one document. Same as
GET /v1/orgs (?parent=ORG).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withOrgs(cmd, e, func(ctx context.Context, svc *orgs.Service, hosts directory.SalesforceHosts) error {
				var all []directory.OrgUsage
				for page := f; ; {
					page.Limit = 1000
					got, err := svc.List(ctx, page)
					if err != nil {
						return err
					}
					all = append(all, got...)
					if len(got) < page.Limit {
						break
					}
					page.AfterID = got[len(got)-1].Org.ID
				}
				if asJSON {
					return printJSON(e.stdout, httpapi.OrgListOf(hosts, all))
				}
				if len(all) == 0 {
					if f.ParentID != "" {
						fmt.Fprintf(e.stdout, "org %s has no client orgs\n", f.ParentID)
					} else {
						fmt.Fprintln(e.stdout, "no orgs yet: tether org create --name N --seats S creates one")
					}
					return nil
				}
				printOrgUsage(e.stdout, all, f.ParentID == "")
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&f.ParentID, "parent", "", "list this org's client orgs")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the JSON GET /v1/orgs answers, every page's orgs in one document")
	return cmd
}

func newOrgShowCmd(e env) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "show ORG [--json]",
		Short: "Show an org: seats, team Salesforce connection, last audit, pending imports, client orgs",
		Long: `Shows one org: its seats used and free, the state of its team-level Salesforce
connection, the result of its last permission audit, its imports not yet finished, and
its client orgs with their seat use. --json prints the route's JSON. Same as
GET /v1/orgs/{org}.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withOrgs(cmd, e, func(ctx context.Context, svc *orgs.Service, hosts directory.SalesforceHosts) error {
				ov, err := svc.Show(ctx, args[0])
				if err != nil {
					return err
				}
				if asJSON {
					return printJSON(e.stdout, httpapi.OverviewJSON(hosts, ov))
				}
				printOverview(e.stdout, hosts, ov)
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the JSON GET /v1/orgs/{org} answers")
	return cmd
}

func newOrgSetCmd(e env) *cobra.Command {
	var (
		seats               int
		name, parent, login string
		noParent            bool
		policy              []string
		defaultPolicy       bool
	)
	cmd := &cobra.Command{
		Use:   "set ORG [--seats S] [--name N] [--parent ORG | --no-parent] [--salesforce-login production|sandbox] [--policy ROLE=REQ,... ...] [--default-policy]",
		Short: "Change an org's seats, name, parent, Salesforce login or Action Required policy",
		Long: `Changes what is given and leaves the rest. --seats may not go below the seats in use
(active members plus pending invites): that is refused with the count, so revoke invites
or deactivate members first. A parent must exist and may not be the org or one of its
client orgs.

--policy ROLE=REQ,REQ,... says what a role needs to not be Action Required (repeat it per
role; roles not given keep theirs). ROLE is admin, custom_admin, chat or meetings; REQ is
salesforce, calendar (Google or Microsoft), conferencing (Zoom or Teams), photo, or one
kind (google_calendar, microsoft_calendar, zoom, teams); "~REQ" is recommended: shown, not
counted. "ROLE=" needs nothing. --default-policy puts every role back to the default:
  admin=salesforce  custom_admin=salesforce  chat=salesforce,calendar,~conferencing,photo
  meetings=calendar,~conferencing,photo
Every member's reasons are recomputed after a policy change, and a member who now needs
action gets a reminders:notify queued (so a policy change needs TETHER_REDIS_URL).

Same as PATCH /v1/orgs/{org}.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var ch orgs.Change
			fl := cmd.Flags()
			if fl.Changed("seats") {
				ch.Seats = &seats
			}
			if fl.Changed("name") {
				ch.Name = &name
			}
			if fl.Changed("parent") && noParent {
				return fmt.Errorf("give --parent ORG or --no-parent, not both")
			}
			if fl.Changed("parent") {
				ch.ParentID = &parent
			}
			if noParent {
				none := ""
				ch.ParentID = &none
			}
			if fl.Changed("salesforce-login") {
				ch.SalesforceLogin = &login
			}
			if defaultPolicy && len(policy) > 0 {
				return fmt.Errorf("give --policy or --default-policy, not both")
			}
			if defaultPolicy {
				ch.Policy = directory.DefaultPolicy()
			}
			for _, p := range policy {
				r, rp, err := directory.ParseRolePolicy(p)
				if err != nil {
					return err
				}
				if ch.Policy == nil {
					ch.Policy = directory.Policy{}
				}
				ch.Policy[r] = rp
			}
			with := withOrgs
			if ch.Policy != nil {
				with = withOrgsQueued
			}
			return with(cmd, e, func(ctx context.Context, svc *orgs.Service, _ directory.SalesforceHosts) error {
				o, err := svc.Update(ctx, args[0], ch)
				if err != nil {
					return err
				}
				parent := "no parent"
				if o.ParentOrgID != "" {
					parent = "client of org " + o.ParentOrgID
				}
				fmt.Fprintf(e.stdout, "org %s %q: %s seats, %s, Salesforce %s\n",
					o.ID, o.Name, seatLimit(o.SeatLimit), parent, o.SalesforceLogin)
				if ch.Policy != nil {
					fmt.Fprintf(e.stdout, "policy: %s; Action Required recomputed for every member (tether members list %s)\n", policyLine(o.Policy), o.ID)
				}
				return nil
			})
		},
	}
	cmd.Flags().IntVar(&seats, "seats", 0, "new seat limit")
	cmd.Flags().StringVar(&name, "name", "", "new name")
	cmd.Flags().StringVar(&parent, "parent", "", "new parent org id")
	cmd.Flags().BoolVar(&noParent, "no-parent", false, "remove the parent")
	cmd.Flags().StringVar(&login, "salesforce-login", "", "production or sandbox")
	cmd.Flags().StringArrayVar(&policy, "policy", nil, "ROLE=REQ,REQ,... what a role needs (repeatable), e.g. chat=salesforce,calendar,photo,~conferencing")
	cmd.Flags().BoolVar(&defaultPolicy, "default-policy", false, "put every role's policy back to the default")
	return cmd
}

// policyLine is the org's policy on one line, every role in a fixed order.
func policyLine(p directory.Policy) string {
	var parts []string
	for _, r := range []directory.Role{directory.RoleAdmin, directory.RoleCustomAdmin, directory.RoleChat, directory.RoleMeetings} {
		parts = append(parts, string(r)+"="+p.For(r).String())
	}
	return strings.Join(parts, "  ")
}

// newTable is the plain, borderless table every verb prints. Its columns are measured in
// display width (a name in CJK or with an emoji keeps its row aligned, which
// text/tabwriter's count of characters does not).
func newTable(w io.Writer, header ...any) table.Writer {
	t := table.NewWriter()
	t.SetOutputMirror(trimLines{w})
	st := table.StyleDefault
	st.Options = table.OptionsNoBordersAndSeparators
	// Two spaces between columns, as text/tabwriter prints.
	st.Options.SeparateColumns = true
	st.Box.MiddleVertical = "  "
	st.Box.PaddingLeft, st.Box.PaddingRight = "", ""
	t.SetStyle(st)
	t.AppendHeader(header)
	return t
}

// trimLines drops the spaces go-pretty pads the last column with, so no printed line
// ends in blanks (a copied cell or a diff of two listings carries none). Render writes a
// whole table in one call, so lines are never split across writes.
type trimLines struct{ w io.Writer }

func (t trimLines) Write(p []byte) (int, error) {
	lines := bytes.Split(p, []byte("\n"))
	for i, l := range lines {
		lines[i] = bytes.TrimRight(l, " ")
	}
	if _, err := t.w.Write(bytes.Join(lines, []byte("\n"))); err != nil {
		return 0, err
	}
	return len(p), nil
}

func seatLimit(n int) string {
	if n == 0 {
		return "unlimited"
	}
	return fmt.Sprint(n)
}

func seatsFree(s directory.Seats) string {
	if s.Available() < 0 {
		return "-"
	}
	return fmt.Sprint(s.Available())
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func printOrgUsage(w io.Writer, us []directory.OrgUsage, withParent bool) {
	header := []any{"ID", "NAME"}
	if withParent {
		header = append(header, "PARENT")
	}
	header = append(header, "SEATS USED", "LIMIT", "FREE", "CLIENTS", "SALESFORCE")
	t := newTable(w, header...)
	for _, u := range us {
		row := table.Row{u.Org.ID, u.Org.Name}
		if withParent {
			row = append(row, orDash(u.Org.ParentOrgID))
		}
		row = append(row, fmt.Sprint(u.Seats.Used()), seatLimit(u.Seats.Limit), seatsFree(u.Seats), fmt.Sprint(u.Clients), u.Org.SalesforceLogin)
		t.AppendRow(row)
	}
	t.Render()
}

func printOverview(w io.Writer, hosts directory.SalesforceHosts, ov orgs.Overview) {
	o := ov.Org
	fmt.Fprintf(w, "org %s %q, created %s\n", o.ID, o.Name, o.CreatedAt.UTC().Format(time.RFC3339))
	if ov.Parent != nil {
		fmt.Fprintf(w, "parent: %s %q\n", ov.Parent.ID, ov.Parent.Name)
	}
	fmt.Fprintf(w, "seats: %d used of %s (%s, %s), %s free\n", ov.Seats.Used(), seatLimit(ov.Seats.Limit),
		directory.Plural(ov.Seats.Active, "active member"), directory.Plural(ov.Seats.PendingInvites, "pending invite"), seatsFree(ov.Seats))
	fmt.Fprintf(w, "salesforce login: %s (%s)\n", o.SalesforceLogin, hosts.URL(o.SalesforceLogin))
	fmt.Fprintf(w, "action required policy: %s (~ recommended, not counted)\n", policyLine(o.Policy))

	tc := ov.Team
	team := "team Salesforce connection: " + string(tc.State)
	if tc.ProviderAccountID != "" {
		team += ", integration user " + tc.ProviderAccountID
	}
	if tc.ProviderOrgID != "" {
		team += ", Salesforce org " + tc.ProviderOrgID
	}
	if tc.LastErrorCode != "" {
		team += ", last error " + tc.LastErrorCode
	}
	if !tc.NextRefreshAt.IsZero() {
		team += ", next refresh " + tc.NextRefreshAt.UTC().Format(time.RFC3339)
	}
	switch tc.State {
	case connections.StateMissing, connections.StateNeedsReconnect, connections.StateRevoked, connections.StateError:
		team += " (tether org connect-salesforce " + o.ID + " prints a link to connect it)"
	}
	fmt.Fprintln(w, team)
	fmt.Fprintln(w, sessionLine(ov.SalesforceSession))

	if a := ov.LastAudit; a == nil {
		fmt.Fprintf(w, "last permission audit: none yet (tether permissions check --org %s)\n", o.ID)
	} else {
		line := fmt.Sprintf("last permission audit: %s at %s (report %s; %d ok, %d missing, %d unknown)",
			a.Result, a.CreatedAt.UTC().Format(time.RFC3339), a.ReportID, a.Summary["ok"], a.Summary["missing"], a.Summary["unknown"])
		if len(a.Missing) > 0 {
			line += "; missing: " + strings.Join(a.Missing, ", ")
		}
		fmt.Fprintln(w, line)
	}

	if len(ov.PendingImports) == 0 {
		fmt.Fprintln(w, "pending imports: none")
	} else {
		fmt.Fprintf(w, "pending imports: %d\n", len(ov.PendingImports))
		t := newTable(w, "IMPORT", "STATUS", "ROLE", "PROGRESS", "CREATED")
		for _, imp := range ov.PendingImports {
			t.AppendRow(table.Row{imp.ID, imp.Status, imp.Role,
				fmt.Sprintf("%d/%d", imp.Progress.Done, imp.Progress.Total), imp.CreatedAt.UTC().Format(time.RFC3339)})
		}
		t.Render()
	}

	if len(ov.Clients) == 0 {
		fmt.Fprintln(w, "client orgs: none")
		return
	}
	fmt.Fprintf(w, "client orgs: %d\n", len(ov.Clients))
	printOrgUsage(w, ov.Clients, false)
}

// sessionLine says which session timeout the org's Salesforce refreshes follow and
// where it came from.
func sessionLine(s orgs.SalesforceSession) string {
	line := "salesforce session timeout: " + s.Timeout.String()
	if s.Source == orgs.SessionLearned {
		line += ", learned " + s.LearnedAt.UTC().Format(time.RFC3339) + " (introspected from a fresh access token; checked again daily)"
	} else {
		line += ", the configured default (TETHER_SALESFORCE_SESSION_TIMEOUT; learned when a Salesforce connection connects)"
	}
	if !s.CheckedAt.IsZero() && !s.CheckedAt.Equal(s.LearnedAt) {
		line += ", last checked " + s.CheckedAt.UTC().Format(time.RFC3339)
	}
	return line
}

// printJSON writes v indented, as the verbs' --json prints what their route answers.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
