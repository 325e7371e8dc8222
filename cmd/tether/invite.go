package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	gprogress "github.com/jedib0t/go-pretty/v6/progress"
	"github.com/jedib0t/go-pretty/v6/table"
	"github.com/spf13/cobra"

	"tether/jobs"
	"tether/sync/directory"
	"tether/sync/invites"
	"tether/worker"
	"tether/worker/httpapi"
)

// inviteParent returns the `invite` command of root, creating it if no other file has.
func inviteParent(root *cobra.Command) *cobra.Command {
	for _, c := range root.Commands() {
		if c.Name() == "invite" {
			return c
		}
	}
	parent := &cobra.Command{Use: "invite", Short: "Manage invitations"}
	root.AddCommand(parent)
	return parent
}

// addInviteImport puts import, emails and status under the `invite` command.
func addInviteImport(root *cobra.Command, e env) {
	inviteParent(root).AddCommand(newInviteImportCmd(e), newInviteEmailsCmd(e), newInviteStatusCmd(e))
}

// importClient is what the import verbs share: the producer and a way to read imports.
type importClient struct {
	d       deps
	starter *invites.Service
	tasks   worker.TaskInspector
	// poll is how often --wait reads the import. Zero means 500ms.
	poll time.Duration
	// pickup is how long --wait lets a queued import wait for a worker before saying so.
	// Zero means 10s.
	pickup time.Duration
}

// withImports builds deps (store and Redis; the key ring too when configured, so profile
// names resolve before anything is queued) and calls fn.
func withImports(cmd *cobra.Command, e env, verb string, fn func(ctx context.Context, c importClient) error) error {
	ctx := cmd.Context()
	cfg, err := loadConfig(cmd, e)
	if err != nil {
		return err
	}
	if err := requireRedisCLI(cfg, verb); err != nil {
		return err
	}
	d, cleanup, err := buildDeps(ctx, e, cfg, depsOptions{store: true, keyring: cfg.EncryptionKeys.IsSet()})
	if err != nil {
		return err
	}
	defer cleanup()
	parts, err := d.app.importParts()
	if err != nil {
		return err
	}
	return fn(ctx, importClient{d: d, starter: parts.svc, tasks: d.app.queueInspector()})
}

// importFlags are the flags every import-starting verb shares.
type importFlags struct {
	org, role, group string
	dryRun, wait     bool
	timeout          time.Duration
}

func (f *importFlags) bind(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.org, "org", "", "org id (required)")
	cmd.Flags().StringVar(&f.role, "role", "", "role of the invitees: admin, custom_admin, chat or meetings (required)")
	cmd.Flags().StringVar(&f.group, "group", "", "group to put the invitees in (created if missing)")
	cmd.Flags().BoolVar(&f.dryRun, "dry-run", false, "count what the import would do; write nothing but the import")
	cmd.Flags().BoolVar(&f.wait, "wait", false, "wait for the worker to finish, showing progress, then print the summary")
	cmd.Flags().DurationVar(&f.timeout, "timeout", 0, "with --wait, stop waiting after this long (e.g. 10m); 0 waits until the import ends")
}

func (f importFlags) check() error {
	switch {
	case f.org == "":
		return errors.New("--org is required (the org id to invite into)")
	case f.role == "":
		return errors.New("--role is required: admin, custom_admin, chat or meetings")
	}
	return nil
}

// start queues the import and, with --wait, follows it to the end.
func (c importClient) start(ctx context.Context, e env, f importFlags, req invites.Request) error {
	req.OrgID, req.Role, req.Group, req.DryRun = f.org, directory.Role(f.role), f.group, f.dryRun
	imp, err := c.starter.Start(ctx, req)
	var nq *invites.NotQueuedError
	if errors.As(err, &nq) {
		return err // says the import is stored and the reconciler will queue it
	}
	if err != nil {
		return err
	}
	if !f.wait {
		if n := mergedIDs(imp); n != "" {
			fmt.Fprintln(e.stdout, n)
		}
		fmt.Fprintf(e.stdout, "queued import %s; follow it with: tether invite status %s --org %s\n", imp.ID, imp.ID, imp.OrgID)
		return nil
	}
	fmt.Fprintf(e.stderr, "queued import %s\n", imp.ID)
	imp, err = c.follow(ctx, e, imp, f.timeout)
	if err != nil {
		return err
	}
	printSummary(e.stdout, imp)
	if imp.Status == directory.ImportFailed {
		return fmt.Errorf("import %s failed: %s", imp.ID, strings.Join(imp.Errors, "; "))
	}
	return nil
}

// follow polls the import until it is done or failed, drawing its progress on stderr.
// timeout > 0 bounds the wait. While the import stays queued past c.pickup it says, once,
// whether its task waits for a worker or is missing from Redis; when it stops early it says
// what happens to the import, from its task's real state.
func (c importClient) follow(ctx context.Context, e env, imp directory.Import, timeout time.Duration) (directory.Import, error) {
	bar := newProgress(e.stderr)
	poll := cmp.Or(c.poll, 500*time.Millisecond)
	pickup := cmp.Or(c.pickup, 10*time.Second)
	if timeout > 0 {
		pickup = min(pickup, timeout/2)
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	began, warned := time.Now(), false
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		cur, err := c.starter.Get(ctx, imp.OrgID, imp.ID)
		if err != nil && ctx.Err() == nil {
			return imp, err
		}
		if err == nil {
			imp = cur
		}
		bar.show(imp)
		if imp.Status.Finished() {
			bar.end()
			return imp, nil
		}
		if !warned && imp.Status == directory.ImportQueued && time.Since(began) >= pickup {
			warned = true
			bar.end()
			fmt.Fprintf(e.stderr, "no worker has picked up import %s after %s: %s\n", imp.ID, pickup.Round(time.Second), c.taskState(imp))
		}
		select {
		case <-ctx.Done():
			bar.end()
			return imp, fmt.Errorf("stopped waiting for import %s after %s; it is %s and %s", imp.ID,
				time.Since(began).Round(time.Second), imp.Status, c.taskState(imp))
		case <-t.C:
		}
	}
}

// taskState says, for a person, what the import's task is doing in Redis: it never claims
// the import goes on when it has no task.
func (c importClient) taskState(imp directory.Import) string {
	follow := fmt.Sprintf("follow it with: tether invite status %s --org %s --wait", imp.ID, imp.OrgID)
	if c.tasks == nil {
		return follow
	}
	typ := jobs.TypeInvitesImport
	if len(imp.Selection.Emails) > 0 {
		typ = jobs.TypeInvitesImportEmails
	}
	info, err := c.tasks.GetTaskInfo(jobs.QueueDefault, jobs.TaskIDInvitesImport(typ, imp.OrgID, imp.ID))
	switch {
	case errors.Is(err, asynq.ErrTaskNotFound) || errors.Is(err, asynq.ErrQueueNotFound):
		return "its task is not in Redis (never queued, or lost with Redis): the reconciler queues it again when a worker starts and every TETHER_RECONCILE_SCHEDULE; make sure `tether worker` and `tether scheduler` run against this Redis"
	case err != nil:
		return "its task could not be read from Redis (check TETHER_REDIS_URL); " + follow
	case info.State == asynq.TaskStatePending:
		return "its task is queued and waits for a worker: is `tether worker` running against this Redis (TETHER_REDIS_URL)? " + follow
	case info.State == asynq.TaskStateArchived:
		return gaveUpLine(info, "the import")
	case info.State == asynq.TaskStateRetry || info.State == asynq.TaskStateScheduled:
		since, what := imp.StartedAt, "the import started"
		if since.IsZero() {
			since, what = imp.CreatedAt, "the import was queued"
		}
		return retryLine(info, since, what, time.Now()) + "; " + follow
	default:
		return "its task is " + info.State.String() + " in a worker; " + follow
	}
}

// newInviteImportCmd is `tether invite import`.
func newInviteImportCmd(e env) *cobra.Command {
	var (
		f        importFlags
		profiles []string
		users    []string
	)
	cmd := &cobra.Command{
		Use:   "import --org ORG (--profile NAME|ID ... | --user ID ...) --role ROLE [--group NAME] [--dry-run] [--wait]",
		Short: "Invite the Salesforce users of chosen profiles, or chosen Salesforce users",
		Long: `Queues an import of Salesforce users as pending invites, read through the org's team-level
Salesforce connection. Select users by profile (name or 00e... id; only active standard users
are read) or by user id (005...; every id is accounted for). Profile names are checked
against Salesforce before anything is queued when this process has the key ring
(TETHER_ENCRYPTION_KEYS); otherwise the worker checks them.

With --wait it shows the progress and ends with the summary: one row per reason, the rows
that were refused and, if the seat limit was reached, how many seats are missing.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := f.check(); err != nil {
				return err
			}
			if len(profiles) == 0 && len(users) == 0 {
				return errors.New("select users with --profile NAME|ID or --user ID")
			}
			return withImports(cmd, e, "invite import", func(ctx context.Context, c importClient) error {
				return c.start(ctx, e, f, invites.Request{Profiles: profiles, UserIDs: users})
			})
		},
	}
	f.bind(cmd)
	cmd.Flags().StringArrayVar(&profiles, "profile", nil, "Salesforce profile name or id (repeatable)")
	cmd.Flags().StringArrayVar(&users, "user", nil, "Salesforce user id (repeatable)")
	return cmd
}

// newInviteEmailsCmd is `tether invite emails`.
func newInviteEmailsCmd(e env) *cobra.Command {
	var f importFlags
	cmd := &cobra.Command{
		Use:   `emails --org ORG --role ROLE [--group NAME] [--dry-run] [--wait] "a@x.com, b@y.com"`,
		Short: "Invite a list of email addresses",
		Long: `Queues an import of plain email addresses as pending invites. Addresses are separated by
commas, semicolons, spaces or line breaks (one argument or several); "-" reads them from
standard input. Malformed addresses are counted and listed, not invited: see them with
tether invite skipped IMPORT_ID --org ORG (--csv for a file).`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := f.check(); err != nil {
				return err
			}
			text := strings.Join(args, "\n")
			if text == "-" {
				b, err := io.ReadAll(e.stdin)
				if err != nil {
					return fmt.Errorf("read addresses from standard input: %w", err)
				}
				text = string(b)
			}
			return withImports(cmd, e, "invite emails", func(ctx context.Context, c importClient) error {
				return c.start(ctx, e, f, invites.Request{Emails: invites.SplitEmails(text)})
			})
		},
	}
	f.bind(cmd)
	return cmd
}

// newInviteStatusCmd is `tether invite status`.
func newInviteStatusCmd(e env) *cobra.Command {
	var org string
	var wait, asJSON bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "status IMPORT_ID --org ORG [--wait [--timeout D]] [--json]",
		Short: "Show an import's status, counters, refused rows and progress",
		Long: `Prints the import's status and summary. --org is required: every read is scoped by org.
With --wait it follows a running import to its end first; --timeout bounds the wait. While
the import stays queued it says whether a worker has picked its task up, and if it stops
waiting it says what its task is doing (queued, retrying, missing from Redis). --json prints
the import as GET /v1/orgs/{org}/imports/{id} answers (progress and waiting notes stay on
standard error).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if org == "" {
				return errors.New("--org is required (the org id the import belongs to)")
			}
			return withImports(cmd, e, "invite status", func(ctx context.Context, c importClient) error {
				imp, err := c.starter.Get(ctx, org, args[0])
				if errors.Is(err, directory.ErrNotFound) {
					// An import of another org is not found either: say which pair was asked.
					return fmt.Errorf("no import %s in org %s (list them with: tether invite imports --org %s)", args[0], org, org)
				}
				if err != nil {
					return err
				}
				if wait {
					if imp, err = c.follow(ctx, e, imp, timeout); err != nil {
						return err
					}
				}
				if asJSON {
					return printJSON(e.stdout, httpapi.ViewOf(imp))
				}
				printSummary(e.stdout, imp)
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&org, "org", "", "org id (required)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the JSON GET /v1/orgs/{org}/imports/{id} answers")
	cmd.Flags().BoolVar(&wait, "wait", false, "follow a running import to its end")
	cmd.Flags().DurationVar(&timeout, "timeout", 0, "with --wait, stop waiting after this long (e.g. 10m); 0 waits until the import ends")
	return cmd
}

// printSummary writes the import's status, one row per non-zero reason, the refused rows
// and the errors (among them "N seats missing").
func printSummary(w io.Writer, imp directory.Import) {
	dry := ""
	if imp.DryRun {
		dry = " (dry run: nothing was written)"
	}
	fmt.Fprintf(w, "import %s: %s%s, %d of %d rows\n", imp.ID, imp.Status, dry, imp.Progress.Done, imp.Progress.Total)
	if n := mergedIDs(imp); n != "" {
		fmt.Fprintln(w, n)
	}
	if imp.Status == directory.ImportPaused {
		fmt.Fprintf(w, "paused until %s: %s\n", imp.PausedUntil.UTC().Format(time.RFC3339), imp.PausedReason)
	}
	c := imp.Counts
	rows := []struct {
		reason string
		n      int
	}{
		{"invited", c.Invited}, {"added_multi_account", c.AddedMultiAccount},
		{"already_member", c.AlreadyMember}, {"already_invited", c.AlreadyInvited},
		{"duplicate_in_import", c.DuplicateInImport}, {"skipped_inactive", c.SkippedInactive},
		{"skipped_not_standard", c.SkippedNotStandard}, {"skipped_no_email", c.SkippedNoEmail},
		{"skipped_invalid_email", c.SkippedInvalidEmail}, {"over_seat_limit", c.OverSeatLimit},
		{"not_found", c.NotFound},
	}
	t := newTable(w, "REASON", "COUNT")
	for _, r := range rows {
		if r.n > 0 {
			t.AppendRow(table.Row{r.reason, r.n})
		}
	}
	t.AppendRow(table.Row{"found", c.Found})
	t.Render()
	if m := imp.Emails; m != nil {
		fmt.Fprintf(w, "\nemails: %d sent, %d queued, %d failed, %d unknown\n", m.Sent, m.Unsent, m.Failed, m.Unknown)
		if m.Unsent > 0 && imp.Status.Finished() && !imp.DryRun {
			// The import ends before its emails leave: say where to watch them go.
			fmt.Fprintf(w, "queued: the worker sends them now; follow each one's delivery with: tether invite list --org %s --import %s\n", imp.OrgID, imp.ID)
		}
		if m.Failed > 0 {
			fmt.Fprintf(w, "failed: the mail server refused them; see why with: tether invite list --org %s --import %s --status failed\n", imp.OrgID, imp.ID)
		}
		if m.Unknown > 0 {
			fmt.Fprintf(w, "unknown: a worker died after the mail server may have accepted the email; tether does not send it again.\n"+
				"list them: tether invite list --org %s --import %s --status unknown\n"+
				"resend them (the person may get two): tether invite resend --import %s --org %s\n", imp.OrgID, imp.ID, imp.ID, imp.OrgID)
		}
	}
	if len(imp.Refused) > 0 {
		fmt.Fprintf(w, "\nrefused (%d listed):\n", len(imp.Refused))
		t := newTable(w, "SALESFORCE ID", "EMAIL", "NAME", "REASON")
		for _, r := range imp.Refused {
			t.AppendRow(table.Row{dash(r.SalesforceUserID), dash(r.Email), dash(r.Name), r.Reason})
		}
		t.Render()
	}
	for _, msg := range imp.Errors {
		fmt.Fprintf(w, "\n%s\n", msg)
	}
	if notInvited := c.Found + c.NotFound - c.Invited - c.AddedMultiAccount; notInvited > 0 {
		fmt.Fprintf(w, "\nevery row not invited, with its reason: tether invite skipped %s --org %s [--csv]\n", imp.ID, imp.OrgID)
	}
}

// mergedIDs says how many user ids or profiles were given and how many distinct ones the
// import reads, when repeats were merged: "found 2" after three --user flags, or counts
// that look halved after a --profile given twice, must not go unexplained.
func mergedIDs(imp directory.Import) string {
	s := imp.Selection
	if profiles := len(s.ProfileIDs) + len(s.ProfileNames); s.ProfilesGiven > profiles {
		return fmt.Sprintf("%s given, %d distinct: a repeated profile (or one profile by name and by id) is read and invited once",
			directory.Plural(s.ProfilesGiven, "profile"), profiles)
	}
	if s.UserIDsGiven <= len(s.UserIDs) {
		return ""
	}
	return fmt.Sprintf("%s given, %d distinct: a repeated id (or one user's 15- and 18-character ids) is read and invited once",
		directory.Plural(s.UserIDsGiven, "user id"), len(s.UserIDs))
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// progress draws an import's progress: go-pretty's bar, redrawn on a terminal, or a plain
// line per change otherwise (logs, pipes, CI), where a bar's redraws would be noise.
type progress struct {
	w    io.Writer
	tty  bool
	last string
	bar  gprogress.Writer // while a bar is drawn on the terminal
	tr   *gprogress.Tracker
	done chan struct{} // closed when the bar's renderer has drawn its last frame
}

func newProgress(w io.Writer) *progress {
	p := &progress{w: w}
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			p.tty = true
		}
	}
	return p
}

func (p *progress) show(imp directory.Import) {
	done, total := imp.Progress.Done, imp.Progress.Total
	line := fmt.Sprintf("%s %d/%d, %d invited", imp.Status, done, total, imp.Counts.Invited+imp.Counts.AddedMultiAccount)
	if imp.Status == directory.ImportPaused {
		line += " (" + imp.PausedReason + ")"
	}
	if line == p.last {
		return
	}
	p.last = line
	if !p.tty {
		fmt.Fprintln(p.w, line)
		return
	}
	msg := fmt.Sprintf("%s, %d invited", imp.Status, imp.Counts.Invited+imp.Counts.AddedMultiAccount)
	if imp.Status == directory.ImportPaused {
		msg += " (" + imp.PausedReason + ")"
	}
	if p.bar == nil {
		p.start()
	}
	// Total is 0 until the worker has counted the rows: the bar shows it as indeterminate.
	p.tr.UpdateTotal(int64(total))
	p.tr.SetValue(int64(done))
	p.tr.UpdateMessage(msg)
}

func (p *progress) start() {
	p.bar = gprogress.NewWriter()
	p.bar.SetOutputWriter(p.w)
	p.bar.SetAutoStop(false)
	p.bar.SetUpdateFrequency(100 * time.Millisecond)
	p.bar.SetTrackerLength(30)
	p.bar.SetTrackerPosition(gprogress.PositionRight)
	p.bar.SetMessageLength(32)
	p.bar.SetStyle(gprogress.StyleDefault)
	p.bar.Style().Visibility.ETA = true
	p.bar.Style().Visibility.Value = true
	p.bar.Style().Visibility.Time = false
	p.bar.Style().Options.ETAPrecision = time.Second
	p.tr = &gprogress.Tracker{Message: "queued", AutoStopDisabled: true, Units: gprogress.Units{Formatter: func(v int64) string { return fmt.Sprint(v) }}}
	p.bar.AppendTracker(p.tr)
	p.done = make(chan struct{})
	go func(bar gprogress.Writer, done chan struct{}) {
		defer close(done)
		bar.Render()
	}(p.bar, p.done)
}

// end draws the bar's last frame and lets go of the terminal, so what is printed next
// starts on a line of its own; a later show draws a new bar.
func (p *progress) end() {
	if p.bar == nil {
		return
	}
	p.tr.MarkAsDone()
	p.bar.Stop()
	<-p.done
	p.bar, p.tr, p.last = nil, nil, ""
}
