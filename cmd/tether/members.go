package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"maps"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/jedib0t/go-pretty/v6/table"
	"github.com/spf13/cobra"

	"tether/jobs"
	"tether/sync/directory"
	"tether/sync/members"
	"tether/sync/reminders"
	"tether/sync/store"
	"tether/worker"
	"tether/worker/httpapi"
)

var _ members.Store = (*store.Store)(nil)

// memberParts are what the members verbs use, built on one store: the members service,
// and the reminders' read side and policy editor (neither needs a mailer or Redis).
type memberParts struct {
	svc       *members.Service
	reminders reminders.Viewer
	settings  reminders.SettingsEditor
}

// withMembers opens the configured store (it must be migrated), builds the members
// verbs' parts on it and calls fn. Listing and changing members needs no Redis and no
// key ring.
func withMembers(cmd *cobra.Command, e env, fn func(ctx context.Context, parts memberParts) error) error {
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
	return fn(ctx, memberParts{svc: svc, reminders: reminders.Viewer{Store: st}, settings: reminders.SettingsEditor{Store: st}})
}

// withMembersQueued is withMembers for a verb that queues reminders: set and recompute (a
// member who gains a reason gets its reminder queued, as after a connection change) and
// org reminders' timing flags (the reminders already queued move to the new policy). The
// verb needs TETHER_REDIS_URL and a reachable Redis before it changes anything.
func withMembersQueued(cmd *cobra.Command, e env, verb string, fn func(ctx context.Context, parts memberParts) error) error {
	d, cleanup, err := queueingDeps(cmd, e, verb, depsOptions{store: true})
	if err != nil {
		return err
	}
	defer cleanup()
	svc, err := d.app.memberService()
	if err != nil {
		return err
	}
	return fn(cmd.Context(), memberParts{svc: svc, reminders: reminders.Viewer{Store: d.store},
		settings: reminders.SettingsEditor{Store: d.store, Retimer: d.app.reminderRetimer()}})
}

func filterNames() string {
	var names []string
	for _, f := range directory.MemberFilters() {
		names = append(names, string(f))
	}
	return strings.Join(names, ", ")
}

// newMembersListCmd is `tether members list ORG [--filter F] [--action-required]`.
func newMembersListCmd(e env) *cobra.Command {
	var (
		filter         string
		actionRequired bool
		asJSON         bool
	)
	cmd := &cobra.Command{
		Use:   "list ORG [--filter F] [--action-required] [--json]",
		Short: "List an org's members with their connections, Action Required reasons and the counts per filter",
		Long: `Prints, for every filter (` + filterNames() + `), how many members it shows and how
many of them are Action Required, then the members of --filter (default all): role, status,
each connection's state, each reason with who must act (rep or admin), the last reminder
sent (#sequence kind channel status when) and the next one due with why, or "none:" and
why none is (fixed, the admin's problem, quiet hours until a time, ...). A reason marked
"~" is recommended: shown, not counted. --action-required lists only members that need
action. Role filters (admin, chat, meetings) leave deactivated members out; admin includes
custom admins. --json prints the route's JSON, with every page's members in one document.

Same as GET /v1/orgs/{org}/members?filter=F&action_required=true.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withMembers(cmd, e, func(ctx context.Context, parts memberParts) error {
				req := members.ListRequest{Filter: directory.MemberFilter(filter), ActionRequired: actionRequired, Limit: 1000}
				var all []members.MemberView
				var counts directory.MembershipCounts
				pendingInvites := 0
				sums := map[string]reminders.Summary{}
				for {
					p, err := parts.svc.List(ctx, args[0], req)
					if err != nil {
						return err
					}
					all = append(all, p.Members...)
					// One read of the reminders per page, as the route does.
					ms := make([]directory.Membership, len(p.Members))
					for i, m := range p.Members {
						ms[i] = m.Membership
					}
					page, err := parts.reminders.Summaries(ctx, args[0], ms)
					if err != nil {
						return err
					}
					maps.Copy(sums, page)
					counts, pendingInvites = p.Counts, p.PendingInvites
					if p.Next == "" {
						break
					}
					req.After = p.Next
				}
				if asJSON {
					req.After = ""
					return printJSON(e.stdout, httpapi.MemberListOf(args[0], req,
						members.Page{Members: all, Counts: counts, PendingInvites: pendingInvites}, sums))
				}
				printMemberCounts(e.stdout, counts)
				if pendingInvites > 0 {
					what := "invitations"
					if pendingInvites == 1 {
						what = "invitation"
					}
					fmt.Fprintf(e.stdout, "and %d %s not accepted yet: members once they join (tether invite list --org %s --status pending lists them)\n",
						pendingInvites, what, args[0])
				}
				fmt.Fprintln(e.stdout)
				what := "members"
				if actionRequired {
					what = "Action Required members"
				}
				if len(all) == 0 {
					fmt.Fprintf(e.stdout, "no %s under filter %s\n", what, directory.MemberFilter(filter))
					return nil
				}
				fmt.Fprintf(e.stdout, "%s under filter %s: %d\n", what, directory.MemberFilter(filter), len(all))
				printMembers(e.stdout, all, sums)
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&filter, "filter", string(directory.FilterAll), "one of "+filterNames())
	cmd.Flags().BoolVar(&actionRequired, "action-required", false, "list only members that need action")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the JSON GET /v1/orgs/{org}/members answers, every page's members in one document")
	return cmd
}

func printMemberCounts(w io.Writer, c directory.MembershipCounts) {
	t := newTable(w, "FILTER", "MEMBERS", "ACTION REQUIRED")
	for _, f := range directory.MemberFilters() {
		fc := c.Of(f)
		t.AppendRow(table.Row{f, fc.Members, fc.ActionRequired})
	}
	t.Render()
}

func printMembers(w io.Writer, ms []members.MemberView, sums map[string]reminders.Summary) {
	// TIME ZONE is the member's own, which quiet hours follow; "-" is the org's.
	t := newTable(w, "ID", "EMAIL", "ROLE", "STATUS", "TIME ZONE", "CONNECTIONS", "ACTION REQUIRED", "LAST REMINDER", "NEXT REMINDER")
	for _, m := range ms {
		var conns []string
		for _, c := range m.Connections {
			s := string(c.Kind) + " " + string(c.State)
			if c.Actor != "" {
				s += " (" + c.Actor + ")"
			}
			conns = append(conns, s)
		}
		t.AppendRow(table.Row{m.Membership.ID, m.Email, m.Membership.Role, m.Membership.Status, orDash(m.Membership.TimeZone),
			orDash(strings.Join(conns, ", ")), reasonsText(m.Membership), lastReminderText(sums[m.Membership.ID]),
			nextReminderText(sums[m.Membership.ID])})
	}
	t.Render()
}

// lastReminderText is "#2 reminder email sent 2026-03-02T10:05:00Z", or "-".
func lastReminderText(s reminders.Summary) string {
	if s.Last == nil {
		return "-"
	}
	r := s.Last
	return fmt.Sprintf("#%d %s %s %s %s", r.Sequence, r.Kind, r.Channel, r.Status, r.SentAt.UTC().Format(time.RFC3339))
}

// nextReminderText is "2026-03-03T08:00:00Z reminder: quiet hours until ...", or "none: why".
func nextReminderText(s reminders.Summary) string {
	if s.Next.IsZero() {
		return "none: " + orDash(s.Why)
	}
	return fmt.Sprintf("%s %s: %s", s.Next.UTC().Format(time.RFC3339), s.NextKind, s.Why)
}

// reasonsText is a membership's reasons on one line: "calendar missing (rep); ~conferencing missing (rep)".
func reasonsText(m directory.Membership) string {
	if m.Status != directory.MembershipActive {
		return "-"
	}
	if m.ActionCheckedAt.IsZero() {
		return "not computed yet (tether members recompute " + m.OrgID + ")"
	}
	if len(m.ActionRequired) == 0 {
		return "none"
	}
	var parts []string
	for _, r := range m.ActionRequired {
		s := r.Requirement
		if r.Recommended {
			s = "~" + s
		}
		s += " " + r.State
		if r.Kind != "" && r.Kind != r.Requirement {
			s += " " + r.Kind
		}
		if r.Code != "" {
			s += " [" + r.Code + "]"
		}
		parts = append(parts, s+" ("+r.Actor+")")
	}
	return strings.Join(parts, "; ")
}

// newMembersSetCmd is `tether members set ORG MEMBER [--role R] [--photo URL] [--time-zone ZONE]`.
func newMembersSetCmd(e env) *cobra.Command {
	var role, photo, zone string
	cmd := &cobra.Command{
		Use:   "set ORG MEMBER [--role R] [--photo URL] [--time-zone ZONE]",
		Short: "Change a member's role, profile photo or time zone; its Action Required reasons follow",
		Long: `Changes a member's role (admin, custom_admin, chat, meetings), profile photo URL
(--photo "" removes it) or own time zone, and recomputes the member's Action Required
reasons with the org's policy for the role; a member who now needs action gets a
reminders:notify queued, as after a connection change (so it needs TETHER_REDIS_URL).
MEMBER is the membership id or the member's email.

--time-zone is the IANA zone (Europe/Paris, America/New_York) whose quiet hours the
member's reminders keep; --time-zone "" removes it and the org's zone is used (tether
org reminders ORG --time-zone). A member imported from Salesforce has the User's
TimeZoneSidKey already; one who joined otherwise has none until it is set here. A
reminder already queued moves to the new zone's quiet hours.

Same as PATCH /v1/orgs/{org}/members/{member} with {"role": R, "photo_url": URL, "time_zone": ZONE}.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			var ch members.Change
			if cmd.Flags().Changed("role") {
				r := directory.Role(role)
				ch.Role = &r
			}
			if cmd.Flags().Changed("photo") {
				ch.PhotoURL = &photo
			}
			if cmd.Flags().Changed("time-zone") {
				ch.TimeZone = &zone
			}
			return withMembersQueued(cmd, e, "members set", func(ctx context.Context, parts memberParts) error {
				m, err := parts.svc.Update(ctx, args[0], args[1], ch)
				if err != nil {
					return err
				}
				fmt.Fprintf(e.stdout, "member %s of org %s: %s, %s, photo %s, time zone %s\n", m.ID, m.OrgID, m.Role, m.Status,
					orDash(m.PhotoURL), cmp.Or(m.TimeZone, "- (the org's)"))
				fmt.Fprintf(e.stdout, "action required: %s\n", reasonsText(m))
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&role, "role", "", "admin, custom_admin, chat or meetings")
	cmd.Flags().StringVar(&photo, "photo", "", "profile photo URL (\"\" removes it)")
	cmd.Flags().StringVar(&zone, "time-zone", "", "the member's IANA time zone for quiet hours, e.g. Europe/Paris (\"\" uses the org's)")
	return cmd
}

// newMembersRecomputeCmd is `tether members recompute ORG`.
func newMembersRecomputeCmd(e env) *cobra.Command {
	return &cobra.Command{
		Use:   "recompute ORG",
		Short: "Recompute every member's Action Required reasons (repair)",
		Long: `Applies the org's policy to every member's connections and photo again and stores the
reasons. Connection changes, connects, Joins, role and photo changes and policy changes do
this by themselves; run it after an upgrade (reasons never computed show "not computed
yet") or to repair reasons a crash left stale. Each active member whose reasons changed or
who needs action gets a reminders:notify queued, as after a connection change (the policy
sends nothing twice), so it needs TETHER_REDIS_URL. Idempotent.

Same as POST /v1/orgs/{org}/members/recompute.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withMembersQueued(cmd, e, "members recompute", func(ctx context.Context, parts memberParts) error {
				res, err := parts.svc.RecomputeOrg(ctx, args[0])
				if err != nil {
					return err
				}
				fmt.Fprintf(e.stdout, "recomputed %s of org %s: %d Action Required (tether members list %s --action-required)\n",
					directory.Plural(res.Members, "member"), args[0], res.ActionRequired, args[0])
				return nil
			})
		},
	}
}

// memberService is the process's members service: Action Required (the connection
// observer), the members list and member changes.
func (a *app) memberService() (*members.Service, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.memberServiceLocked()
}

// memberServiceLocked is memberService for a caller holding mu.
func (a *app) memberServiceLocked() (*members.Service, error) {
	if a.members != nil {
		return a.members, nil
	}
	if a.d.store == nil {
		return nil, fmt.Errorf("the members service needs the store")
	}
	// A role, photo or policy change and the repair queue reminders the way a
	// connection change does (the observer's trigger, on the same queue client).
	svc, err := members.New(members.Config{Store: a.d.store, Reminders: a.reminderTriggerLocked(), Zones: memberZones{a}})
	if err != nil {
		return nil, err
	}
	a.count("members")
	a.members = svc
	return svc, nil
}

// deactivator is the process's members:deactivate service: revokes through the same
// provider registry the connect flow uses, opens tokens with the key ring, cancels tasks
// through the process's inspector.
func (a *app) deactivator() (*members.Deactivator, error) {
	if a.d.store == nil || a.d.keyring == nil {
		return nil, fmt.Errorf("deactivation needs the store and the key ring (TETHER_ENCRYPTION_KEYS)")
	}
	oc, err := a.oauthClient()
	if err != nil {
		return nil, err
	}
	return members.NewDeactivator(members.DeactivatorConfig{Store: a.d.store, Revoker: connectProviders(a.d.cfg, oc),
		Keys: a.d.keyring, Tasks: worker.ConnectionTaskCanceller{Inspector: a.queueInspector()}})
}

// newMembersDeactivateCmd is `tether members deactivate ORG MEMBER [--wait]`.
func newMembersDeactivateCmd(e env) *cobra.Command {
	var (
		wait    bool
		timeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "deactivate ORG MEMBER [--wait] [--timeout D]",
		Short: "Deactivate a member: revoke their grants at each provider, delete the tokens, free the seat",
		Long: `Queues a members:deactivate task (critical queue). A worker then marks the membership
deactivated (its seat is free at once), revokes each of the member's connections at its
provider (Salesforce, Google and Zoom have revoke endpoints; Microsoft has none, its tokens
are deleted), deletes the tokens, cancels the connections' scheduled refresh and verify
tasks, and writes a member.deactivated event. A provider that is down does not stop the
others: its revoke is retried with backoff, and if the retries run out the tokens are
deleted anyway and a member.revoke_abandoned event names the grant still live there.
Running it again is safe. MEMBER is the membership id or the member's email; a pending
member (invited, not joined) is refused: revoke the invite instead.

Same as POST /v1/orgs/{org}/members/{member}/deactivate.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			d, cleanup, err := queueingDeps(cmd, e, "members deactivate", depsOptions{store: true})
			if err != nil {
				return err
			}
			defer cleanup()
			svc, err := d.app.memberService()
			if err != nil {
				return err
			}
			m, err := svc.Deactivatable(ctx, args[0], args[1])
			if err != nil {
				return err
			}
			q := worker.DeactivationQueue{Client: d.app.queueClient(), Inspector: d.app.queueInspector()}
			id, already, err := q.Queue(ctx, m.OrgID, m.ID)
			if err != nil {
				return err
			}
			if already {
				fmt.Fprintf(e.stdout, "the deactivation of member %s is already queued or running (task %s)\n", m.ID, id)
			} else {
				fmt.Fprintf(e.stdout, "queued the deactivation of member %s of org %s (task %s)\n", m.ID, m.OrgID, id)
			}
			if !wait {
				fmt.Fprintf(e.stdout, "when a worker has run it: tether members list %s --filter deactivated\n", m.OrgID)
				return nil
			}
			wctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			in := d.app.queueInspector()
			lastErr := ""
			for {
				ti, err := in.GetTaskInfo(jobs.QueueCritical, id)
				if err == nil {
					switch {
					case ti.State == asynq.TaskStateCompleted:
						fmt.Fprintf(e.stdout, "member %s deactivated: %s\n", m.ID, ti.Result)
						return nil
					case ti.State == asynq.TaskStateArchived:
						return fmt.Errorf("deactivation task %s: %s (the tokens left were deleted; see the member.revoke_abandoned event)",
							id, cmp.Or(worker.LastError(ti), "it gave up"))
					case ti.State == asynq.TaskStateRetry && ti.LastErr != "" && ti.LastErr != lastErr:
						lastErr = ti.LastErr
						fmt.Fprintf(e.stderr, "deactivation task %s: %s\n", id, retryLine(ti, deactivationAsked(ti), "the deactivation was asked", time.Now()))
					}
				}
				select {
				case <-wctx.Done():
					return fmt.Errorf("deactivation of member %s not finished within %s: is a worker running? (task %s; tether members list %s --filter deactivated shows it once done)", m.ID, timeout, id, m.OrgID)
				case <-time.After(200 * time.Millisecond):
				}
			}
		},
	}
	cmd.Flags().BoolVar(&wait, "wait", false, "wait for the worker to finish and print what it revoked")
	cmd.Flags().DurationVar(&timeout, "timeout", 2*time.Minute, "how long --wait waits")
	return cmd
}

// deactivationAsked is when the deactivation ti runs was queued (its payload's; no row
// holds it); zero for a task from before the payload carried it.
func deactivationAsked(ti *asynq.TaskInfo) time.Time {
	p, err := jobs.Decode[jobs.MembersDeactivate](ti.Payload)
	if err != nil || p.RequestedAt == 0 {
		return time.Time{}
	}
	return time.Unix(p.RequestedAt, 0)
}
