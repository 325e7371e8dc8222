package main

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jedib0t/go-pretty/v6/table"
	"github.com/jedib0t/go-pretty/v6/text"
	"github.com/spf13/cobra"

	"tether/sync/events"
	"tether/worker/httpapi"
)

// newEventsCmd is `tether events`: the org's audit log.
func newEventsCmd(e env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "events",
		Short: "Read an org's audit log: connects and refused connects, invitations, joins, audits, deactivations",
	}
	cmd.AddCommand(newEventsListCmd(e))
	return cmd
}

func newEventsListCmd(e env) *cobra.Command {
	var (
		kind, subject, since string
		pf                   pageFlags
		asJSON               bool
	)
	cmd := &cobra.Command{
		Use:   "list ORG [--kind KIND|PREFIX.] [--subject ID] [--since 24h|TIME] [--limit N] [--cursor C] [--json]",
		Short: "List an org's audit events, newest first",
		Long: `Lists the org's audit log, newest first: when, what happened (kind), what it is about
(subject: a connection, member, invite or check id) and its facts (never a token). Kinds
include connection.connected, connection.connect_refused (another account, a permission
left unticked: the grant was handed back), invite.sent, invite.send_failed,
invite.send_unknown, invite.accepted, permission_audit.requested, permissions.audited,
permissions.lost, permissions.gained, member.deactivated, member.revoke_abandoned and
member.deactivation_superseded.
--kind takes one kind, or every kind under a prefix that ends in a dot (--kind
connection.). --since takes how far back (24h, 90m) or an RFC 3339 time. Events older than
TETHER_EVENT_RETENTION (90 days) are pruned daily. --json prints the page as the route
answers it (next_cursor is --cursor).

Same as GET /v1/orgs/{org}/events?kind=&subject=&since=&limit=&cursor=.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := pf.check(); err != nil {
				return err
			}
			from, err := events.ParseSince(since, time.Now())
			if err != nil {
				return fmt.Errorf("--%w", err)
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
			p, err := events.List(ctx, st, args[0], events.Query{Kind: kind, Subject: subject, Since: from, Cursor: pf.cursor, Limit: pf.limit})
			if err != nil {
				return eventsError(err)
			}
			return printEvents(e, args[0], p, asJSON, pf, kind, subject, since)
		},
	}
	cmd.Flags().StringVar(&kind, "kind", "", "one kind (invite.sent), or every kind under a prefix ending in a dot (connection.)")
	cmd.Flags().StringVar(&subject, "subject", "", "only events about this id (a connection, member, invite or check)")
	cmd.Flags().StringVar(&since, "since", "", "only events since `WHEN`: how far back (24h, 90m) or an RFC 3339 time")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the page as GET /v1/orgs/{org}/events answers")
	pf.bind(cmd, "start below this position (the next_cursor, or the more: line, of the previous page)")
	return cmd
}

// eventsError keeps the refusal's own words (they name the fix).
func eventsError(err error) error {
	var ee *events.Error
	if errors.As(err, &ee) {
		return errors.New(ee.Message)
	}
	return err
}

func printEvents(e env, org string, p events.Page, asJSON bool, pf pageFlags, kind, subject, since string) error {
	if asJSON {
		return printJSON(e.stdout, httpapi.EventPageOf(p))
	}
	if len(p.Events) == 0 {
		what := "no events"
		if kind != "" || subject != "" || since != "" || pf.cursor != "" {
			what = "no events that match"
		}
		fmt.Fprintf(e.stdout, "org %s has %s\n", org, what)
		return nil
	}
	t := newTable(e.stdout, "AT", "KIND", "SUBJECT", "DETAIL")
	// Wrapped at spaces: a key=value is never split.
	t.SetColumnConfigs([]table.ColumnConfig{{Number: 4, WidthMax: 72, WidthMaxEnforcer: text.WrapSoft}})
	for _, ev := range p.Events {
		t.AppendRow(table.Row{ev.At.UTC().Format("2006-01-02 15:04:05"), ev.Kind, dash(ev.Subject), detailLine(ev.Detail)})
	}
	t.Render()
	again := "tether events list " + org + " --limit " + strconv.Itoa(pf.limit)
	for _, f := range [][2]string{{"--kind", kind}, {"--subject", subject}, {"--since", since}} {
		if f[1] != "" {
			again += " " + f[0] + " " + f[1]
		}
	}
	nextPage(e, p.Next, again)
	return nil
}

// detailLine is an event's facts as key=value, keys sorted, so a row reads the same on
// every run.
func detailLine(d map[string]any) string {
	keys := make([]string, 0, len(d))
	for k := range d {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		v := d[k]
		switch x := v.(type) {
		case []any:
			s := make([]string, len(x))
			for i, y := range x {
				s[i] = fmt.Sprint(y)
			}
			v = "[" + strings.Join(s, ",") + "]"
		case float64:
			v = strconv.FormatFloat(x, 'f', -1, 64)
		}
		parts = append(parts, fmt.Sprintf("%s=%v", k, v))
	}
	return dash(strings.Join(parts, " "))
}
