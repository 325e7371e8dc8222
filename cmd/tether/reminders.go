package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"tether/sync/members"
	"tether/sync/reminders"
	"tether/worker/httpapi"
)

// newMembersRemindersCmd is `tether members reminders ORG MEMBER`.
func newMembersRemindersCmd(e env) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "reminders ORG MEMBER",
		Short: "Show the reminders sent to and about a member, and what is next",
		Long: `Lists every reminder, all-set note and admin alert sent for the member (sequence, kind,
channel, status, when, to whom, about what) and when the next reminder is due if nothing
changes. MEMBER is the membership id or the member's email. Sends nothing.

Status "unconfirmed" marks a send whose outcome a crash left unknown; it is never sent
again (at most once per member and sequence).

Same as GET /v1/orgs/{org}/members/{member}/reminders.`,
		Args: cobra.ExactArgs(2),
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
			svc, err := members.New(members.Config{Store: st})
			if err != nil {
				return err
			}
			m, err := svc.Resolve(ctx, args[0], args[1])
			if err != nil {
				return err
			}
			v, err := reminders.Viewer{Store: st}.View(ctx, args[0], m.ID)
			if err != nil {
				return err
			}
			out := httpapi.MemberRemindersOf(v)
			if asJSON {
				enc := json.NewEncoder(e.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(out)
			}
			fmt.Fprintf(e.stdout, "member %s of org %s: %d messages, streak %d", m.ID, args[0], len(out.Sent), out.Streak)
			if out.Escalated {
				fmt.Fprint(e.stdout, ", on the admins' daily digest")
			}
			fmt.Fprintln(e.stdout)
			for _, r := range out.Sent {
				fmt.Fprintf(e.stdout, "  #%d %-8s %-5s %-11s %s to %s: %s\n", r.Sequence, r.Kind, r.Channel, r.Status, r.SentAt,
					strings.Join(r.To, ","), orDash(strings.Join(r.Reasons, ", ")))
			}
			if out.Next != "" {
				t, _ := time.Parse(time.RFC3339, out.Next)
				fmt.Fprintf(e.stdout, "next: %s (in %s) — %s\n", out.Next, time.Until(t).Round(time.Minute), out.Why)
			} else {
				fmt.Fprintf(e.stdout, "next: none — %s\n", out.Why)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the JSON GET /v1/orgs/{org}/members/{member}/reminders answers")
	return cmd
}
