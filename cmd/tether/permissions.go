package main

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hibiken/asynq"
	"github.com/spf13/cobra"

	"tether/jobs"
	"tether/sync/directory"
	"tether/sync/permissions"
	"tether/worker"
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
	)
	cmd := &cobra.Command{
		Use:   "check --org ORG [--wait] [--timeout D]",
		Short: "Queue a permission audit of an org; with --wait, print its report",
		Long: `Queues salesforce:audit_permissions for the org; a worker runs it through the org's
team-level Salesforce connection and stores the report.

Without --wait it prints the task id and returns. With --wait it waits (up to --timeout)
for the new report and prints it as a table: each check, its result (ok, missing,
unknown, warning), what was seen and how to fix it.

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
					return fmt.Errorf("no org with id %q", org)
				}
				return err
			}
			// A report other than this one is the answer (the org's audits are serialised
			// by the task's Unique lock, so the next new report is ours or one just as new).
			before := ""
			if r, err := d.store.LatestPermissionReport(ctx, org); err == nil {
				before = r.ID
			} else if !errors.Is(err, directory.ErrNotFound) {
				return err
			}

			taskID := ""
			info, err := worker.AuditQueue{Client: d.app.queueClient()}.Queue(ctx, org)
			switch {
			case errors.Is(err, asynq.ErrDuplicateTask):
				fmt.Fprintf(e.stdout, "an audit of org %s is already queued or running\n", org)
			case err != nil:
				return err
			default:
				taskID = info.ID
				fmt.Fprintf(e.stdout, "queued permission audit of org %s (task %s)\n", org, taskID)
			}
			if !wait {
				fmt.Fprintf(e.stdout, "when a worker has run it: tether permissions show --org %s (or GET /v1/orgs/%s/permission-audits/latest)\n", org, org)
				return nil
			}

			in := d.app.queueInspector()
			deadline := time.Now().Add(timeout)
			tick := time.NewTicker(200 * time.Millisecond)
			defer tick.Stop()
			lastErr := ""
			for {
				r, err := d.store.LatestPermissionReport(ctx, org)
				switch {
				case err == nil && r.ID != before:
					outcome := reportOutcome(e.stdout, r)
					// What changed since the report before, after this one (as show
					// prints it): the table first, then what flipped.
					if rs, err := d.store.LatestPermissionReports(ctx, org, 2); err == nil && len(rs) == 2 && rs[0].ID == r.ID {
						printPermissionChanges(e.stdout, rs[1], rs[0])
					}
					return outcome
				case err != nil && !errors.Is(err, directory.ErrNotFound):
					return err
				}
				if taskID != "" {
					if ti, err := in.GetTaskInfo(jobs.QueueDefault, taskID); err == nil {
						if ti.State == asynq.TaskStateArchived {
							return fmt.Errorf("permission audit task %s failed: %s", taskID, ti.LastErr)
						}
						if ti.LastErr != "" && ti.LastErr != lastErr {
							lastErr = ti.LastErr
							fmt.Fprintf(e.stderr, "audit task %s will be retried: %s\n", taskID, lastErr)
						}
					}
				}
				if time.Now().After(deadline) {
					return fmt.Errorf("no new permission report of org %s within %s: is a worker running? (tether permissions show --org %s prints it once there)", org, timeout, org)
				}
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-tick.C:
				}
			}
		},
	}
	cmd.Flags().StringVar(&org, "org", "", "org id (required)")
	cmd.Flags().BoolVar(&wait, "wait", false, "wait for the report and print it")
	cmd.Flags().DurationVar(&timeout, "timeout", 2*time.Minute, "how long --wait waits")
	return cmd
}

// newPermissionsShowCmd is `tether permissions show`.
func newPermissionsShowCmd(e env) *cobra.Command {
	var org string
	cmd := &cobra.Command{
		Use:   "show --org ORG",
		Short: "Print an org's latest permission report",
		Long: `Prints the org's newest stored permission report as a table, and what changed since the
report before it. Exit status as for check --wait: 0 all required checks ok, 3 a
required check missing, 4 a required check unknown, 1 no report or another error.`,
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
			if len(rs) > 1 {
				printPermissionChanges(e.stdout, rs[1], rs[0])
			}
			return reportOutcome(e.stdout, rs[0])
		},
	}
	cmd.Flags().StringVar(&org, "org", "", "org id (required)")
	return cmd
}

// reportOutcome prints r and turns its required checks into the exit status.
func reportOutcome(w io.Writer, r permissions.Report) error {
	printPermissionReport(w, r)
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
		return &exitError{exitPermissionMissing, fmt.Errorf("org %s: %d required permission checks missing: %s", r.OrgID, len(missing), strings.Join(missing, ", "))}
	case len(unknown) > 0:
		return &exitError{exitPermissionUnknown, fmt.Errorf("org %s: %d required permission checks could not be run: %s", r.OrgID, len(unknown), strings.Join(unknown, ", "))}
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
// wrapped) followed by the summary line "N missing, M unknown". The demo prints the same.
func printPermissionReport(w io.Writer, r permissions.Report) {
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
	sum := permissions.Summarize(r.Checks)
	fmt.Fprintf(w, "%d missing, %d unknown (%d ok, %d warning; %d checks)\n", sum[string(permissions.ResultMissing)],
		sum[string(permissions.ResultUnknown)], sum[string(permissions.ResultOK)], sum[string(permissions.ResultWarning)], len(r.Checks))
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
