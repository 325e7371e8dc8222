package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/hibiken/asynq"

	"tether/connectors/sandbox/sfdc"
	"tether/sync/directory"
	"tether/sync/permissions"
	"tether/worker"
)

// demoAudit runs the permission audit through the worker twice, as `tether permissions
// check --wait` does: once while the integration user has everything, then after an admin
// took the Marketing User checkbox away in Salesforce. The second report shows the check
// missing with its fix, and the org's admin gets one email about it.
func demoAudit(ctx context.Context, dm *demo) error {
	first, err := dm.audit(ctx, "")
	if err != nil {
		return err
	}
	if n := missingRequired(first); len(n) > 0 {
		return fmt.Errorf("first audit: the generated integration user already misses %s", strings.Join(n, ", "))
	}
	sum := permissions.Summarize(first.Checks)
	dm.ok("audit %s: every required check ok (%d ok, %d warning, %d checks) for %s",
		first.ID, sum[string(permissions.ResultOK)], sum[string(permissions.ResultWarning)], len(first.Checks), dm.prov.team.Username)

	if err := dm.prov.sb.Salesforce().RemovePermission(dm.prov.team.ID, sfdc.PermMarketingUser); err != nil {
		return err
	}
	second, err := dm.audit(ctx, first.ID)
	if err != nil {
		return err
	}
	var table bytes.Buffer
	printNotOK(&table, second)
	printPermissionChanges(&table, first, second)
	fmt.Fprint(dm.out, indent(table.String(), "         "))
	if got := missingRequired(second); len(got) != 1 || got[0] != permissions.CheckMarketingUser {
		return fmt.Errorf("after removing Marketing User in Salesforce the audit misses %v; want [%s]", got, permissions.CheckMarketingUser)
	}
	var fix string
	for _, c := range second.Checks {
		if c.Name == permissions.CheckMarketingUser {
			fix = c.Fix
		}
	}
	dm.ok("Marketing User removed from %s in Salesforce: audit %s reports %s missing, with the fix", dm.prov.team.Username, second.ID, permissions.CheckMarketingUser)
	msgs, err := dm.waitMail(ctx, "permission alert to the admin", 1, to(dm.acme.adminEmail))
	if err != nil {
		return err
	}
	if len(msgs) != 1 || !strings.Contains(msgs[0].Subject, permissions.CheckMarketingUser) || !strings.Contains(msgs[0].Text, firstLine(fix)) {
		return fmt.Errorf("admin got %d emails; want 1 about %s with its fix", len(msgs), permissions.CheckMarketingUser)
	}
	dm.ok("the admin %s got one email: %q", dm.acme.adminEmail, msgs[0].Subject)
	return nil
}

// audit queues salesforce:audit_permissions for the demo org and returns the first
// report newer than the one with id before.
func (dm *demo) audit(ctx context.Context, before string) (permissions.Report, error) {
	orgID := dm.acme.org.ID
	info, err := worker.AuditQueue{Client: dm.client}.Queue(ctx, orgID)
	if err != nil {
		return permissions.Report{}, err
	}
	var r permissions.Report
	// Done means the report is stored and the task completed: the handler stores the
	// report before Asynq releases the task's Unique lock, and an audit queued in
	// between would be refused as a duplicate.
	err = waitFor(ctx, "the permission report", func() (bool, error) {
		ti, err := dm.inspector.GetTaskInfo(info.Queue, info.ID)
		if err == nil && ti.State == asynq.TaskStateArchived {
			return false, fmt.Errorf("audit task %s failed: %s", info.ID, ti.LastErr)
		}
		if err != nil || ti.State != asynq.TaskStateCompleted {
			return false, nil
		}
		got, err := dm.d.store.LatestPermissionReport(ctx, orgID)
		switch {
		case errors.Is(err, directory.ErrNotFound):
		case err != nil:
			return false, err
		case got.ID != before:
			r = got
			return true, nil
		}
		return false, nil
	})
	return r, err
}

func missingRequired(r permissions.Report) []string {
	var out []string
	for _, c := range r.Checks {
		if c.Required && c.Result == permissions.ResultMissing {
			out = append(out, c.Name)
		}
	}
	return out
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// printNotOK prints the report table of r with only the checks that are not ok, then the
// summary line of the whole report: the demo's output stays short.
func printNotOK(w io.Writer, r permissions.Report) {
	short := r
	short.Checks = nil
	for _, c := range r.Checks {
		if c.Result != permissions.ResultOK {
			short.Checks = append(short.Checks, c)
		}
	}
	var table, full bytes.Buffer
	printPermissionReport(&table, short)
	printPermissionReport(&full, r)
	lines := strings.Split(strings.TrimRight(table.String(), "\n"), "\n")
	all := strings.Split(strings.TrimRight(full.String(), "\n"), "\n")
	fmt.Fprintln(w, strings.Join(lines[:len(lines)-1], "\n"))
	fmt.Fprintf(w, "%s; the %d ok checks are not shown\n", all[len(all)-1], len(r.Checks)-len(short.Checks))
}
