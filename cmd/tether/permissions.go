package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hibiken/asynq"
	"github.com/spf13/cobra"

	"tether/jobs"
	"tether/sync/directory"
	"tether/sync/permissions"
	"tether/worker/httpapi"
)

// Exit codes of `tether permissions check --wait` and `tether permissions show`, for
// monitoring: 0 every required check passed, 3 a required check is missing, 4 nothing is
// missing but a required check could not be run (unknown). Any other failure exits 1.
const (
	exitPermissionMissing = 3
	exitPermissionUnknown = 4
)

// exitError makes main exit with code instead of 1 after printing the error.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }
func (e *exitError) ExitCode() int { return e.code }

func newPermissionsCmd(e env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "permissions",
		Short: "Audit the team-level Salesforce integration user's permissions",
	}
	cmd.AddCommand(newPermissionsCheckCmd(e), newPermissionsShowCmd(e))
	return cmd
}

// newPermissionsCheckCmd is `tether permissions check`.
func newPermissionsCheckCmd(e env) *cobra.Command {
	var (
		org     string
		wait    bool
		timeout time.Duration
		only    string
	)
	cmd := &cobra.Command{
		Use:   "check --org ORG [--wait] [--timeout D] [--only missing|all]",
		Short: "Queue a permission audit of an org; with --wait, print its report",
		Long: `Stores a permission audit of the org and queues its task (salesforce:audit_permissions); a
worker runs it through the org's team-level Salesforce connection and stores the report.
An audit already queued or running for the org is joined, not doubled.

Without --wait it prints the audit's id and returns. With --wait it follows the audit (up
to --timeout) and prints the report as a table: each check, its result (ok, missing,
unknown, warning), what was seen and how to fix it; then what changed since the report
before. --only missing (the default on a terminal) prints the problems first and counts
the ok checks in one line.

Exit status with --wait: 0 every required check is ok; 3 a required check is missing;
4 none is missing but a required check could not be run (unknown); 1 anything else
(no worker answered in time, the task failed, a bad org id).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if org == "" {
				return errors.New("--org is required (the org id to audit)")
			}
			if timeout <= 0 {
				return errors.New("--timeout must be positive, e.g. --timeout 2m")
			}
			ctx := cmd.Context()
			cfg, err := loadConfig(cmd, e)
			if err != nil {
				return err
			}
			if err := requireRedisCLI(cfg, "permissions check"); err != nil {
				return err
			}
			d, cleanup, err := buildDeps(ctx, e, cfg, depsOptions{store: true})
			if err != nil {
				return err
			}
			defer cleanup()
			if _, err := d.store.GetOrg(ctx, org); err != nil {
				if errors.Is(err, directory.ErrNotFound) {
					return fmt.Errorf("no org with id %q: tether org list lists the orgs", org)
				}
				return err
			}
			run, created, err := auditRequests(d, d.app.queueClient()).Request(ctx, org, "cli")
			switch {
			case err != nil:
				return err // a *permissions.NotQueuedError says the audit is stored and queued later
			case !created:
				fmt.Fprintf(e.stdout, "permission audit %s of org %s is already %s; following it\n", run.ID, org, run.Status)
			default:
				fmt.Fprintf(e.stdout, "queued permission audit %s of org %s\n", run.ID, org)
			}
			if !wait {
				fmt.Fprintf(e.stdout, "when a worker has run it: tether permissions show --org %s (or GET /v1/orgs/%s/permission-audits/%s)\n", org, org, run.ID)
				return nil
			}
			done, err := waitAudit(ctx, e.stderr, d.store, d.app.queueInspector(), run, timeout, 10*time.Second)
			if err != nil {
				return err
			}
			// The report, then what changed since the report before (as show prints it).
			rs, err := d.store.LatestPermissionReports(ctx, org, 20)
			if err != nil {
				return err
			}
			for i, r := range rs {
				if r.ID != done.ReportID {
					continue
				}
				outcome := reportOutcome(e.stdout, r, only)
				if i+1 < len(rs) {
					printPermissionChanges(e.stdout, rs[i+1], r)
				}
				if err := printPermissionAlerts(ctx, e.stdout, d.store, org); err != nil {
					return err
				}
				return outcome
			}
			return fmt.Errorf("permission audit %s is done but its report %s is not among the org's 20 newest: tether permissions show --org %s", done.ID, done.ReportID, org)
		},
	}
	cmd.Flags().StringVar(&org, "org", "", "org id (required)")
	cmd.Flags().BoolVar(&wait, "wait", false, "wait for the report and print it")
	bindOnly(cmd, e, &only)
	cmd.Flags().DurationVar(&timeout, "timeout", 2*time.Minute, "how long --wait waits")
	return cmd
}

// auditRunReader reads audit runs (the store).
type auditRunReader interface {
	GetAuditRun(ctx context.Context, orgID, id string) (permissions.AuditRun, error)
}

// waitAudit polls run until it is done or failed, at most timeout. It says on w when the
// audit's task is retried, and once, when it stays queued past pickup, what its task is
// doing in Redis: it never claims an audit goes on when it has no task.
func waitAudit(ctx context.Context, w io.Writer, st auditRunReader, in *asynq.Inspector, run permissions.AuditRun, timeout, pickup time.Duration) (permissions.AuditRun, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	taskID := jobs.TaskIDAuditPermissions(run.OrgID, run.ID)
	began, warned, lastErr := time.Now(), false, ""
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		cur, err := st.GetAuditRun(ctx, run.OrgID, run.ID)
		switch {
		case err == nil:
			run = cur
		case ctx.Err() == nil:
			return run, err
		}
		switch run.Status {
		case permissions.AuditDone:
			return run, nil
		case permissions.AuditFailed:
			return run, fmt.Errorf("permission audit %s of org %s failed: %s", run.ID, run.OrgID, run.Error)
		}
		if in != nil {
			// Once per failed attempt; an archived task's reason is the run's, once marked.
			if ti, err := in.GetTaskInfo(jobs.QueueDefault, taskID); err == nil && ti.State == asynq.TaskStateRetry && ti.LastErr != "" && ti.LastErr != lastErr {
				lastErr = ti.LastErr
				fmt.Fprintf(w, "permission audit %s: %s\n", run.ID, retryLine(ti, run.CreatedAt, "the audit was queued", time.Now()))
			}
		}
		if !warned && run.Status == permissions.AuditQueued && time.Since(began) >= min(pickup, timeout/2) {
			warned = true
			fmt.Fprintf(w, "no worker has picked up permission audit %s after %s: %s\n", run.ID, time.Since(began).Round(time.Second), auditTaskState(in, run))
		}
		select {
		case <-ctx.Done():
			if parent := context.Cause(ctx); errors.Is(parent, context.Canceled) {
				return run, parent
			}
			return run, fmt.Errorf("stopped waiting for permission audit %s after %s; it is %s and %s (tether permissions show --org %s prints the report once there)",
				run.ID, timeout, run.Status, auditTaskState(in, run), run.OrgID)
		case <-tick.C:
		}
	}
}

// auditTaskState says, for a person, what the audit's task is doing in Redis.
func auditTaskState(in *asynq.Inspector, run permissions.AuditRun) string {
	if in == nil {
		return "its task's state is unknown here"
	}
	info, err := in.GetTaskInfo(jobs.QueueDefault, jobs.TaskIDAuditPermissions(run.OrgID, run.ID))
	switch {
	case errors.Is(err, asynq.ErrTaskNotFound) || errors.Is(err, asynq.ErrQueueNotFound):
		return "its task is not in Redis (never queued, or lost with Redis): the reconciler queues it again when a worker starts and every TETHER_RECONCILE_SCHEDULE"
	case err != nil:
		return "its task could not be read from Redis (check TETHER_REDIS_URL)"
	case info.State == asynq.TaskStatePending:
		return "its task is queued and waits for a worker: is `tether worker` running against this Redis (TETHER_REDIS_URL)?"
	case info.State == asynq.TaskStateArchived:
		return gaveUpLine(info, "the audit")
	case info.State == asynq.TaskStateRetry || info.State == asynq.TaskStateScheduled:
		return retryLine(info, run.CreatedAt, "the audit was queued", time.Now())
	default:
		return "its task is " + info.State.String() + " in a worker"
	}
}

// newPermissionsShowCmd is `tether permissions show`.
func newPermissionsShowCmd(e env) *cobra.Command {
	var org, only string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "show --org ORG [--only missing|all] [--json]",
		Short: "Print an org's latest permission report",
		Long: `Prints the org's newest stored permission report as a table, what changed since the
report before it, and each open alert's delivery to the admins: pending, attempting or
unconfirmed (outcome unknown, never sent again), or sent. Exit status as for check --wait: 0 all required checks ok, 3 a
required check missing, 4 a required check unknown, 1 no report or another error. --json
prints the report as GET /v1/orgs/{org}/permission-audits/latest answers, with the same
exit status.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if org == "" {
				return errors.New("--org is required (the org id)")
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
			if _, err := st.GetOrg(ctx, org); errors.Is(err, directory.ErrNotFound) {
				return fmt.Errorf("no org with id %q (list them with: tether org list)", org)
			} else if err != nil {
				return err
			}
			rs, err := st.LatestPermissionReports(ctx, org, 2)
			if err != nil {
				return err
			}
			if len(rs) == 0 {
				return fmt.Errorf("org %q has no permission report yet: run tether permissions check --org %s --wait", org, org)
			}
			if asJSON {
				alerts, err := st.OpenPermissionAlerts(ctx, org)
				if err != nil {
					return err
				}
				if err := printJSON(e.stdout, httpapi.LatestReportOf(rs, alerts)); err != nil {
					return err
				}
				return reportOutcome(io.Discard, rs[0], only)
			}
			if len(rs) > 1 {
				printPermissionChanges(e.stdout, rs[1], rs[0])
			}
			outcome := reportOutcome(e.stdout, rs[0], only)
			if err := printPermissionAlerts(ctx, e.stdout, st, org); err != nil {
				return err
			}
			return outcome
		},
	}
	cmd.Flags().StringVar(&org, "org", "", "org id (required)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the report as GET /v1/orgs/{org}/permission-audits/latest answers")
	bindOnly(cmd, e, &only)
	return cmd
}

// Values of --only: every check in catalogue order, or the problems first with the ok
// checks summarised in one line.
const (
	onlyAll     = "all"
	onlyMissing = "missing"
)

// bindOnly adds --only to a report-printing verb. Its default is "missing" when stdout is
// a terminal (a person reads the problems first) and "all" otherwise (scripts and logs
// keep every row).
func bindOnly(cmd *cobra.Command, e env, only *string) {
	def := onlyAll
	if isTerminal(e.stdout) {
		def = onlyMissing
	}
	cmd.Flags().StringVar(only, "only", def, `which checks to print: "missing" (problems first, ok checks summarised) or "all"; default "missing" on a terminal`)
	prev := cmd.PreRunE
	cmd.PreRunE = func(c *cobra.Command, args []string) error {
		if *only != onlyAll && *only != onlyMissing {
			return fmt.Errorf("--only %q: must be %q or %q", *only, onlyMissing, onlyAll)
		}
		if prev != nil {
			return prev(c, args)
		}
		return nil
	}
}

// isTerminal reports whether w is a character device (a person's terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// reportOutcome prints r (every check, or with only "missing" the problems first and the
// ok checks summarised) and turns its required checks into the exit status.
func reportOutcome(w io.Writer, r permissions.Report, only string) error {
	if only == onlyMissing {
		printProblemsFirst(w, r)
	} else {
		printPermissionReport(w, r)
	}
	var missing, unknown []string
	for _, c := range r.Checks {
		if !c.Required {
			continue
		}
		switch c.Result {
		case permissions.ResultMissing:
			missing = append(missing, c.Name)
		case permissions.ResultUnknown:
			unknown = append(unknown, c.Name)
		}
	}
	switch {
	case len(missing) > 0:
		return &exitError{exitPermissionMissing, fmt.Errorf("org %s: %s missing: %s", r.OrgID, directory.Plural(len(missing), "required permission check"), strings.Join(missing, ", "))}
	case len(unknown) > 0:
		return &exitError{exitPermissionUnknown, fmt.Errorf("org %s: %s could not be run: %s", r.OrgID, directory.Plural(len(unknown), "required permission check"), strings.Join(unknown, ", "))}
	}
	return nil
}

// alertReader lists an org's open permission alerts (the store).
type alertReader interface {
	OpenPermissionAlerts(ctx context.Context, orgID string) ([]permissions.Alert, error)
}

// printPermissionAlerts prints one line per open alert (a permission lost and not
// regained): whether the admins' email went out, and for one whose outcome is unknown,
// that it is never sent again.
func printPermissionAlerts(ctx context.Context, w io.Writer, st alertReader, orgID string) error {
	as, err := st.OpenPermissionAlerts(ctx, orgID)
	if err != nil {
		return err
	}
	const day = "2006-01-02 15:04:05 UTC"
	for _, a := range as {
		var what string
		switch a.Delivery() {
		case permissions.DeliverySent:
			what = "sent " + a.SentAt.UTC().Format(day)
		case permissions.DeliveryUnconfirmed:
			what = "unconfirmed (sent " + a.SentAt.UTC().Format(day) + "): handed to the SMTP server, whose answer was lost; " +
				"outcome unknown, never sent again"
		case permissions.DeliveryAttempting:
			what = fmt.Sprintf("attempting since %s: the send began and its outcome was not recorded (its worker died, "+
				"or an audit is sending it now); outcome unknown, never sent again (unconfirmed after %s)",
				a.AttemptedAt.UTC().Format(day), permissions.StaleAlertAttempt)
		default:
			what = "pending: not emailed yet (no active admin, or the send failed); the next audit emails it"
		}
		since := "lost since " + a.LostSince.UTC().Format(day)
		if a.NeverConnected {
			since = fmt.Sprintf("missing since %s: never connected; run `tether org connect-salesforce %s`", a.LostSince.UTC().Format(day), orgID)
		}
		fmt.Fprintf(w, "alert %s (%s): %s\n", a.Check, since, what)
	}
	return nil
}

// printPermissionChanges prints the checks whose result flipped between prev and cur.
func printPermissionChanges(w io.Writer, prev, cur permissions.Report) {
	pc := prev.Checks
	if pc == nil {
		pc = []permissions.Check{}
	}
	for _, c := range permissions.Diff(pc, cur.Checks) {
		what := "gained"
		if c.Lost {
			what = "LOST"
		}
		fmt.Fprintf(w, "since %s: %s %s\n", prev.CreatedAt.UTC().Format("2006-01-02 15:04 UTC"), what, c.Check)
	}
}

// Column widths of the report table; evidence and fix wrap onto more lines.
const (
	evidenceWidth = 38
	fixWidth      = 64
)

// printPermissionReport prints r as a table (check, result, evidence, fix; long text
// wrapped) followed by the summary line "N missing, M unknown".
func printPermissionReport(w io.Writer, r permissions.Report) {
	printPermissionTable(w, r)
	sum := permissions.Summarize(r.Checks)
	fmt.Fprintf(w, "%d missing, %d unknown (%d ok, %d warning; %d checks)\n", sum[string(permissions.ResultMissing)],
		sum[string(permissions.ResultUnknown)], sum[string(permissions.ResultOK)], sum[string(permissions.ResultWarning)], len(r.Checks))
}

// printPermissionTable prints the header line and r's checks as a table.
func printPermissionTable(w io.Writer, r permissions.Report) {
	fmt.Fprintf(w, "Permission audit of org %s, %s (report %s)\n", r.OrgID, r.CreatedAt.UTC().Format("2006-01-02 15:04:05 UTC"), r.ID)
	nameW, resW := len("CHECK"), len("RESULT")
	for _, c := range r.Checks {
		nameW = max(nameW, len(checkLabel(c)))
		resW = max(resW, len(c.Result))
	}
	row := func(name, res, ev, fix string) {
		line := pad(name, nameW) + "  " + pad(res, resW) + "  " + pad(ev, evidenceWidth) + "  " + fix
		fmt.Fprintln(w, strings.TrimRight(line, " "))
	}
	row("CHECK", "RESULT", "EVIDENCE", "FIX")
	for _, c := range r.Checks {
		ev, fix := wrapText(c.Evidence, evidenceWidth), wrapText(c.Fix, fixWidth)
		n := max(1, len(ev), len(fix))
		for i := range n {
			name, res := "", ""
			if i == 0 {
				name, res = checkLabel(c), string(c.Result)
			}
			row(name, res, at(ev, i), at(fix, i))
		}
	}
}

// printProblemsFirst prints r's table with the checks that are not ok only, most urgent
// first (missing, unknown, warning; required before optional), then the summary line of
// the whole report and one line naming how many ok checks were left out.
func printProblemsFirst(w io.Writer, r permissions.Report) {
	rank := map[permissions.Result]int{permissions.ResultMissing: 0, permissions.ResultUnknown: 1, permissions.ResultWarning: 2}
	short := r
	short.Checks = nil
	for _, c := range r.Checks {
		if c.Result != permissions.ResultOK {
			short.Checks = append(short.Checks, c)
		}
	}
	slices.SortStableFunc(short.Checks, func(a, b permissions.Check) int {
		if d := rank[a.Result] - rank[b.Result]; d != 0 {
			return d
		}
		switch {
		case a.Required && !b.Required:
			return -1
		case b.Required && !a.Required:
			return 1
		}
		return 0
	})
	printPermissionTable(w, short)
	ok := len(r.Checks) - len(short.Checks)
	sum := permissions.Summarize(r.Checks)
	fmt.Fprintf(w, "%d missing, %d unknown (%d ok, %d warning; %d checks)\n", sum[string(permissions.ResultMissing)],
		sum[string(permissions.ResultUnknown)], sum[string(permissions.ResultOK)], sum[string(permissions.ResultWarning)], len(r.Checks))
	if ok > 0 {
		them := "them"
		if ok == 1 {
			them = "it"
		}
		fmt.Fprintf(w, "%s not shown (--only all shows %s)\n", directory.Plural(ok, "ok check"), them)
	}
}

func checkLabel(c permissions.Check) string {
	if c.Required {
		return c.Name
	}
	return c.Name + " (optional)"
}

// pad right-pads s with spaces to width runes (fmt's %-*s counts bytes).
func pad(s string, width int) string {
	if n := utf8.RuneCountInString(s); n < width {
		return s + strings.Repeat(" ", width-n)
	}
	return s
}

func at(lines []string, i int) string {
	if i < len(lines) {
		return lines[i]
	}
	return ""
}

// wrapText breaks s into lines of at most width runes at spaces; a longer word is cut.
func wrapText(s string, width int) []string {
	var lines []string
	var cur []rune
	for _, word := range strings.Fields(s) {
		wr := []rune(word)
		for len(wr) > width {
			if len(cur) > 0 {
				lines, cur = append(lines, string(cur)), nil
			}
			lines, wr = append(lines, string(wr[:width])), wr[width:]
		}
		switch {
		case len(cur) == 0:
			cur = wr
		case len(cur)+1+len(wr) <= width:
			cur = append(append(cur, ' '), wr...)
		default:
			lines, cur = append(lines, string(cur)), wr
		}
	}
	if len(cur) > 0 {
		lines = append(lines, string(cur))
	}
	return lines
}
