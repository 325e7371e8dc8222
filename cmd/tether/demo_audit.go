package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"tether/connectors/email/mailsink"
	"tether/connectors/sandbox/sfdc"
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

	// As a Salesforce admin would in Setup, through the sandbox's admin API.
	removed := "/admin/salesforce/users/" + dm.prov.team.ID + "/permissions"
	if err := dm.sandboxAdmin(ctx, http.MethodPost, removed, map[string]sfdc.Permission{"remove": sfdc.PermMarketingUser}, nil); err != nil {
		return fmt.Errorf("remove Marketing User from %s at the sandbox: %w", dm.prov.team.Username, err)
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
	dm.ok("Marketing User removed from %s in Salesforce (POST %s {\"remove\":%q} at the sandbox): audit %s reports %s missing, with the fix",
		dm.prov.team.Username, removed, sfdc.PermMarketingUser, second.ID, permissions.CheckMarketingUser)
	toAdmin := to(dm.acme.adminEmail)
	alert := func(m mailsink.Received) bool { // the admin's own invitation is in the sink too
		return toAdmin(m) && !strings.HasPrefix(m.Subject, "You're invited")
	}
	msgs, err := dm.waitMail(ctx, "permission alert to the admin", 1, alert)
	if err != nil {
		return err
	}
	if len(msgs) != 1 || !strings.Contains(msgs[0].Subject, permissions.CheckMarketingUser) || !strings.Contains(msgs[0].Text, firstLine(fix)) {
		return fmt.Errorf("admin got %d emails; want 1 about %s with its fix", len(msgs), permissions.CheckMarketingUser)
	}
	dm.ok("the admin %s got one email: %q", dm.acme.adminEmail, msgs[0].Subject)
	return nil
}

// audit asks for an audit of the demo org through the one producer and returns the
// report of that audit once the worker has run it; before is the report it must differ
// from.
func (dm *demo) audit(ctx context.Context, before string) (permissions.Report, error) {
	orgID := dm.acme.org.ID
	run, _, err := permissions.Requests{Store: dm.d.store, Tasks: worker.AuditTasks{Client: dm.client}}.Request(ctx, orgID, dm.acme.adminEmail)
	if err != nil {
		return permissions.Report{}, err
	}
	done, err := waitAudit(ctx, io.Discard, dm.d.store, dm.inspector, run, 2*time.Minute, time.Minute)
	if err != nil {
		return permissions.Report{}, err
	}
	r, err := dm.d.store.LatestPermissionReport(ctx, orgID)
	switch {
	case err != nil:
		return permissions.Report{}, err
	case r.ID != done.ReportID || r.ID == before:
		return permissions.Report{}, fmt.Errorf("audit %s stored report %s; the latest is %s (before: %s)", done.ID, done.ReportID, r.ID, before)
	}
	return r, nil
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

// printNotOK prints r's problems first and summarises its ok checks (as
// permissions show --only missing): the demo's output stays short.
func printNotOK(w io.Writer, r permissions.Report) { printProblemsFirst(w, r) }
