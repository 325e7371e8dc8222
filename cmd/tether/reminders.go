package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"tether/sync/directory"
	"tether/sync/reminders"
	"tether/sync/vault"
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

Status "unconfirmed" marks a send whose outcome is unknown (a crash, or the mail server's
answer lost after the message was handed over); it is never sent again (at most once per
member and sequence). "last Slack failure" is the last Slack message that failed and was
left to a retry, in Slack's own words (channel_not_found, not_in_channel, ...), and when.

Same as GET /v1/orgs/{org}/members/{member}/reminders.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withMembers(cmd, e, func(ctx context.Context, parts memberParts) error {
				m, err := parts.svc.Resolve(ctx, args[0], args[1])
				if err != nil {
					return err
				}
				v, err := parts.reminders.View(ctx, args[0], m.ID)
				if err != nil {
					return err
				}
				out := httpapi.MemberRemindersOf(v)
				if asJSON {
					return printJSON(e.stdout, out)
				}
				fmt.Fprintf(e.stdout, "member %s of org %s: %d %s, streak %d", m.ID, args[0], len(out.Sent), map[bool]string{true: "message", false: "messages"}[len(out.Sent) == 1], out.Streak)
				if out.Escalated {
					fmt.Fprint(e.stdout, ", on the admins' daily digest")
				}
				fmt.Fprintln(e.stdout)
				for _, r := range out.Sent {
					fmt.Fprintf(e.stdout, "  #%d %-8s %-5s %-11s %s to %s: %s", r.Sequence, r.Kind, r.Channel, r.Status, r.SentAt,
						strings.Join(r.To, ","), orDash(strings.Join(r.Reasons, ", ")))
					if r.Slack != nil {
						fmt.Fprintf(e.stdout, " (Slack channel %s, ts %s)", r.Slack.Channel, r.Slack.TS)
					}
					fmt.Fprintln(e.stdout)
				}
				if f := out.SlackFailure; f != nil {
					fmt.Fprintf(e.stdout, "last Slack failure: %s at %s (retried for 24 h after its email; shown until a Slack message gets through)\n", f.Reason, f.At)
				}
				if out.Next != "" {
					t, _ := time.Parse(time.RFC3339, out.Next)
					fmt.Fprintf(e.stdout, "next: %s (in %s) — %s\n", out.Next, time.Until(t).Round(time.Minute), out.Why)
				} else {
					fmt.Fprintf(e.stdout, "next: none — %s\n", out.Why)
				}
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the JSON GET /v1/orgs/{org}/members/{member}/reminders answers")
	return cmd
}

// newOrgRemindersCmd is `tether org reminders ORG [--grace D ...]`.
func newOrgRemindersCmd(e env) *cobra.Command {
	var (
		grace, steps, tail, minGap, quiet, tz string
		slackFile                             string
		escalate                              int
		asJSON, noSlack                       bool
	)
	cmd := &cobra.Command{
		Use:   "reminders ORG [--grace D] [--steps D,D,...] [--tail D] [--min-gap D] [--escalate-after N] [--quiet-hours HH:MM-HH:MM|none] [--time-zone ZONE]",
		Short: "Show or change an org's reconnect-reminder policy",
		Long: `Without flags, shows the org's reminder policy (defaults until changed). With flags,
changes what is given, keeps the rest, and shows the result:
  --grace D           wait after a break before the first reminder (1s to 1h; default 5m)
  --steps D,D,...     offsets of reminders 2, 3, ... from the first (default 24h,72h,168h)
  --tail D            interval after the last step (at least 1h; default 168h)
  --min-gap D         least time between two reminders to one rep (default 24h)
  --escalate-after N  unanswered reminders before the admins' digest lists the rep (default 3)
  --quiet-hours S-E   no reminders in this span of the rep's time zone (default 20:00-08:00; none)
  --time-zone ZONE    the org's IANA zone, used when the rep's is unknown (default UTC)
  --slack-token-file F  the Slack app's bot token (xoxb-...) read from file F (- for
                      stdin): reps also get each reminder as a Slack direct message; the
                      token is stored encrypted and shown only as "configured"
  --no-slack          remove the Slack token (email only)
Durations are Go durations (90s, 5m, 2h, 168h). A change of grace, steps, tail, min gap,
quiet hours or time zone moves the reminders already queued to the new policy, so it
needs TETHER_REDIS_URL. Same as GET and PATCH /v1/orgs/{org}/reminder-settings.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var ch reminders.SettingsChange
			changed, timing := false, false
			fl := cmd.Flags()
			for name, p := range map[string]**string{"grace": &ch.Grace, "steps": &ch.Steps, "tail": &ch.Tail,
				"min-gap": &ch.MinGap, "quiet-hours": &ch.QuietHours, "time-zone": &ch.TimeZone} {
				if fl.Changed(name) {
					v, _ := fl.GetString(name)
					*p = &v
					changed, timing = true, true
				}
			}
			if fl.Changed("escalate-after") {
				ch.EscalateAfter = &escalate
				changed = true
			}
			if slackFile != "" && noSlack {
				return errors.New("give --slack-token-file or --no-slack, not both")
			}
			if slackFile != "" {
				tok, err := readSecretFile(e, slackFile)
				if err != nil {
					return fmt.Errorf("--slack-token-file: %w", err)
				}
				ch.SlackToken, changed = &tok, true
			}
			if noSlack {
				none := vault.Token{}
				ch.SlackToken, changed = &none, true
			}
			// A change of when reminders go moves the ones already queued: that needs Redis.
			with := withMembers
			if timing {
				with = func(cmd *cobra.Command, e env, fn func(ctx context.Context, parts memberParts) error) error {
					return withMembersQueued(cmd, e, "org reminders", fn)
				}
			}
			return with(cmd, e, func(ctx context.Context, parts memberParts) error {
				if ch.SlackToken != nil && !ch.SlackToken.IsZero() {
					cfg, err := loadConfig(cmd, e)
					if err != nil {
						return err
					}
					if parts.settings.Keyring, err = cfg.Keyring(); err != nil {
						return fmt.Errorf("--slack-token-file: the token is stored encrypted: %w", err)
					}
				}
				var s reminders.Settings
				var err error
				if changed {
					s, err = parts.settings.Update(ctx, args[0], ch)
				} else {
					s, err = parts.settings.Get(ctx, args[0])
				}
				var se *reminders.SettingError
				switch {
				case errors.As(err, &se) && se.Field == "slack_token":
					// The API's field; the CLI reads the token from a file and removes it with --no-slack.
					return fmt.Errorf("--slack-token-file: the file does not hold a Slack bot token: give the Bot User OAuth Token of your Slack app (it starts with xoxb-); --no-slack removes the token")
				case errors.As(err, &se):
					return fmt.Errorf("--%s: %s", strings.ReplaceAll(se.Field, "_", "-"), se.Message)
				case errors.Is(err, directory.ErrNotFound):
					return fmt.Errorf("no org %s: tether org list shows the orgs", args[0])
				case err != nil:
					return err
				}
				out := httpapi.ReminderSettingsOf(args[0], s)
				if asJSON {
					return printJSON(e.stdout, out)
				}
				fmt.Fprintf(e.stdout, "reminder policy of org %s%s:\n", args[0], map[bool]string{true: " (changed)"}[changed])
				fmt.Fprintf(e.stdout, "  grace %s, then reminders at +%s, every %s after\n", out.Grace, strings.Join(out.Steps, ", +"), out.Tail)
				fmt.Fprintf(e.stdout, "  at least %s between two reminders; admins' digest after %d unanswered\n", out.MinGap, out.EscalateAfter)
				if out.QuietHours == "none" {
					// "quiet hours none in the rep's time zone" read as a zone setting.
					fmt.Fprintf(e.stdout, "  no quiet hours: reminders go at any hour; org time zone %s\n", out.TimeZone)
				} else {
					fmt.Fprintf(e.stdout, "  quiet hours %s in the rep's time zone; org time zone %s\n", out.QuietHours, out.TimeZone)
				}
				switch {
				case !out.Slack.Configured:
					fmt.Fprintln(e.stdout, "  Slack: not configured (email only)")
				case out.Slack.Problem != "":
					fmt.Fprintf(e.stdout, "  Slack: configured, but Slack refused the token since %s: %s\n", out.Slack.ProblemAt, out.Slack.Problem)
				default:
					fmt.Fprintln(e.stdout, "  Slack: configured (direct messages besides email)")
				}
				if len(out.Slack.NotFound) > 0 {
					fmt.Fprintf(e.stdout, "  Slack knows no user for: %s (email only for them)\n", strings.Join(out.Slack.NotFound, ", "))
				}
				return nil
			})
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&grace, "grace", "", "wait `D` after a break before the first reminder (a duration such as 10m)")
	fl.StringVar(&steps, "steps", "", "offsets `D,D,...` of reminders 2, 3, ... from the first (durations such as 24h,72h,168h)")
	fl.StringVar(&tail, "tail", "", "interval `D` between reminders after the last step (a duration such as 168h)")
	fl.StringVar(&minGap, "min-gap", "", "least time `D` between two reminders to one rep (a duration such as 24h)")
	fl.IntVar(&escalate, "escalate-after", 0, "`N` unanswered reminders before the admins' digest lists the rep")
	fl.StringVar(&quiet, "quiet-hours", "", "`HH:MM-HH:MM` in the rep's time zone, or none")
	fl.StringVar(&tz, "time-zone", "", "the org's IANA time zone `ZONE`, e.g. Europe/Paris")
	fl.StringVar(&slackFile, "slack-token-file", "", "file `F` holding the Slack bot token (xoxb-...), - for stdin")
	fl.BoolVar(&noSlack, "no-slack", false, "remove the Slack bot token")
	fl.BoolVar(&asJSON, "json", false, "print the policy as the API's JSON")
	return cmd
}

// readSecretFile reads a one-line secret from path, or stdin for "-"; the value never
// reaches an error message.
func readSecretFile(e env, path string) (vault.Token, error) {
	var (
		b   []byte
		err error
	)
	if path == "-" {
		b, err = io.ReadAll(io.LimitReader(e.stdin, 4096))
	} else {
		b, err = os.ReadFile(path)
	}
	if err != nil {
		return vault.Token{}, fmt.Errorf("read %s: %w", path, err)
	}
	v := strings.TrimSpace(string(b))
	if v == "" {
		return vault.Token{}, fmt.Errorf("%s is empty: put the bot token (xoxb-...) in it, or use --no-slack to remove Slack", path)
	}
	return vault.NewToken(v), nil
}
