package main

import (
	"cmp"
	"context"
	"io"
	"time"

	"github.com/rs/zerolog"

	"tether/config"
	"tether/connectors/email"
	"tether/connectors/salesforce"
	"tether/sync/connections"
	"tether/sync/permissions"
	"tether/worker"
	"tether/worker/httpapi"
)

// permissionAudits builds the worker's permission-audit dependencies: the audit service
// reading each org's team connection (teamTokens), recording the Salesforce API usage it
// sees, emailing the org's admins about a lost permission; and the daily sweep's org
// lister and queue. Close the returned closer when the worker stops.
func permissionAudits(d deps, queue worker.Enqueuer) (worker.PermissionAudits, io.Closer, error) {
	tokens, closer, err := d.teamTokens()
	if err != nil {
		return worker.PermissionAudits{}, nil, err
	}
	mailer, err := permissionMailer(d)
	if err != nil {
		_ = closer.Close()
		return worker.PermissionAudits{}, nil, err
	}
	if wrapAlertMailer != nil {
		mailer = wrapAlertMailer(mailer)
	}
	log := d.log.With().Str("component", "permissions").Logger()
	params := permissions.Params{
		Store:          d.store,
		Sessions:       permissions.TeamSessions{Tokens: tokens},
		Prober:         &salesforce.AuditProber{OnUsage: recordUsage(d.store, log)},
		Mailer:         mailer,
		UsageWarnShare: d.cfg.SalesforceUsageWarnShare,
		OnFailure: func(orgID string, err error) {
			log.Warn().Err(err).Str("org", orgID).Msg("permission audit: Salesforce answered nothing usable; the report says what to fix")
		},
	}
	// With TETHER_LINK_SECRET the alert about a broken team connection carries a link.
	if d.cfg.LinkSecret.IsSet() {
		links, err := connectLinks(d)
		if err != nil {
			_ = closer.Close()
			return worker.PermissionAudits{}, nil, err
		}
		params.Links = links
	}
	svc, err := permissions.NewService(params)
	if err != nil {
		_ = closer.Close()
		return worker.PermissionAudits{}, nil, err
	}
	return worker.PermissionAudits{Auditor: svc, Orgs: d.store, Daily: auditRequests(d, queue)}, closer, nil
}

// wrapAlertMailer is nil in tether itself; only a test binary sets it
// (permissions_kill_test.go: a worker that dies between the SMTP accept and the record),
// so no build of tether carries the hook.
var wrapAlertMailer func(permissions.Mailer) permissions.Mailer

// auditRequests is the one producer of permission audits (a row, then its task) for the
// CLI, the API, the connect flow, the daily sweep and the demo.
func auditRequests(d deps, queue worker.Enqueuer) permissions.Requests {
	return permissions.Requests{Store: d.store, Tasks: worker.AuditTasks{Client: queue}}
}

// usageRecorder is the store's side of invariant 6 (every Sforce-Limit-Info is kept).
type usageRecorder interface {
	RecordAPIUsage(ctx context.Context, orgID string, u connections.APIUsage) error
}

// recordUsage stores each usage reading the audit sees. Best effort: the audit's own
// api_usage check does not depend on it, so a failed write is logged, not returned.
func recordUsage(st usageRecorder, log zerolog.Logger) func(string, salesforce.Usage) {
	return func(orgID string, u salesforce.Usage) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err := st.RecordAPIUsage(ctx, orgID, connections.APIUsage{OrgID: orgID, Used: int64(u.Used), Max: int64(u.Max), RecordedAt: time.Now()})
		if err != nil {
			log.Warn().Err(err).Str("org_id", orgID).Msg("record salesforce api usage")
		}
	}
}

// permissionMailer sends permission alerts through TETHER_SMTP_URL (or into TETHER_MAIL_DIR
// under TETHER_MAILER=dir). Without either alerts are logged and dropped (counted as sent,
// so configuring mail later does not replay old ones): the report and the
// permissions.lost event still say what was lost.
func permissionMailer(d deps) (permissions.Mailer, error) {
	m, err := d.app.outMailer()
	if err != nil {
		return nil, err
	}
	if m == nil {
		d.log.Warn().Msg("TETHER_SMTP_URL is not set: lost-permission alerts are not emailed (reports and events still record them)")
		return droppedMail{log: d.log}, nil
	}
	return email.AlertMailer(m), nil
}

type droppedMail struct{ log zerolog.Logger }

func (d droppedMail) SendMail(_ context.Context, m permissions.Mail) error {
	d.log.Warn().Str("subject", m.Subject).Int("recipients", len(m.To)).Msg("permission alert not emailed: TETHER_SMTP_URL is not set")
	return nil
}

// schedulerEntries are the scheduler's periodic tasks: events:prune and the daily
// permission-audit sweep.
func schedulerEntries(cfg config.Config) ([]worker.Periodic, error) {
	entries, err := worker.Periodics(cfg.PruneSchedule)
	if err != nil {
		return nil, err
	}
	audit, err := worker.PermissionsPeriodic(cmp.Or(cfg.PermissionsSchedule, "41 4 * * *"))
	if err != nil {
		return nil, err
	}
	rec, err := worker.ReconcilePeriodic(cmp.Or(cfg.ReconcileSchedule, "*/5 * * * *"))
	if err != nil {
		return nil, err
	}
	return append(entries, audit, rec), nil
}

// permissionAuditAPI gives tether serve the permission-audit routes; the func is a
// no-op kept for callers (the app owns the queue client).
func permissionAuditAPI(d deps) (httpapi.PermissionAudits, func()) {
	return httpapi.PermissionAudits{Store: d.store, Queue: auditRequests(d, d.app.queueClient())}, func() {}
}
