package orgs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"tether/sync/connections"
	"tether/sync/directory"
	"tether/sync/permissions"
)

// Overview is what an operator sees of one org.
type Overview struct {
	Org   directory.Org
	Seats directory.Seats
	// Parent is the parent org; nil when the org has none.
	Parent *directory.Org
	// Clients are the org's client orgs with their seat use.
	Clients []directory.OrgUsage
	Team    TeamConnection
	// LastAudit is the newest permission report's result; nil before the first audit.
	LastAudit *AuditResult
	// PendingImports are the imports not yet finished (queued, running, paused).
	PendingImports []directory.Import
	// SalesforceSession is the session timeout the org's Salesforce refreshes are
	// scheduled by, and where it came from.
	SalesforceSession SalesforceSession
}

// Where a Salesforce session timeout came from.
const (
	SessionLearned = "learned" // introspected from a fresh access token of the org
	SessionDefault = "default" // TETHER_SALESFORCE_SESSION_TIMEOUT: not learned yet
)

// SalesforceSession is the session timeout an org's Salesforce refreshes follow.
type SalesforceSession struct {
	Timeout time.Duration
	// Source is SessionLearned or SessionDefault.
	Source string
	// LearnedAt is when it was learned (zero for the default); CheckedAt the last
	// attempt to learn it (zero before the first).
	LearnedAt, CheckedAt time.Time
}

// TeamConnection is the state of the org's team-level Salesforce connection.
type TeamConnection struct {
	// State is connections.StateMissing when the org has none.
	State             connections.State
	ProviderAccountID string // the integration user
	ProviderOrgID     string // the Salesforce org
	InstanceURL       string
	LastErrorCode     string
	LastRefreshedAt   time.Time
	NextRefreshAt     time.Time
}

// AuditResult sums up one permission report.
type AuditResult struct {
	ReportID  string
	CreatedAt time.Time
	// Result is "ok" (every required check ok), "missing" (a required check missing) or
	// "unknown" (none missing, a required one could not be decided).
	Result string
	// Missing and Unknown name the required checks in those states.
	Missing, Unknown []string
	// Summary counts the checks per result.
	Summary map[string]int
}

// Show returns the org's overview. Returns *Error org_not_found for an unknown org.
func (s *Service) Show(ctx context.Context, orgID string) (Overview, error) {
	o, err := s.org(ctx, orgID)
	if err != nil {
		return Overview{}, err
	}
	now := s.now()
	ov := Overview{Org: o, Team: TeamConnection{State: connections.StateMissing},
		SalesforceSession: SalesforceSession{Timeout: s.session, Source: SessionDefault, CheckedAt: o.SalesforceSession.CheckedAt}}
	if ss := o.SalesforceSession; ss.Timeout > 0 {
		ov.SalesforceSession.Timeout, ov.SalesforceSession.Source, ov.SalesforceSession.LearnedAt = ss.Timeout, SessionLearned, ss.LearnedAt
	}
	if ov.Seats, err = s.st.CountSeats(ctx, orgID, now); err != nil {
		return Overview{}, fmt.Errorf("org %s: %w", orgID, err)
	}
	if o.ParentOrgID != "" {
		p, err := s.st.GetOrg(ctx, o.ParentOrgID)
		if err != nil {
			return Overview{}, fmt.Errorf("org %s: parent: %w", orgID, err)
		}
		ov.Parent = &p
	}
	if ov.Clients, err = s.st.ListOrgs(ctx, directory.OrgFilter{ParentID: orgID}, now); err != nil {
		return Overview{}, fmt.Errorf("org %s: clients: %w", orgID, err)
	}
	switch c, err := s.st.GetTeamConnection(ctx, orgID); {
	case err == nil:
		ov.Team = TeamConnection{State: c.State, ProviderAccountID: c.ProviderAccountID, ProviderOrgID: c.ProviderOrgID,
			InstanceURL: c.InstanceURL, LastErrorCode: c.LastErrorCode, LastRefreshedAt: c.LastRefreshedAt, NextRefreshAt: c.NextRefreshAt}
	case !errors.Is(err, directory.ErrNotFound):
		return Overview{}, fmt.Errorf("org %s: team connection: %w", orgID, err)
	}
	switch r, err := s.st.LatestPermissionReport(ctx, orgID); {
	case err == nil:
		a := Audit(r)
		ov.LastAudit = &a
	case !errors.Is(err, directory.ErrNotFound):
		return Overview{}, fmt.Errorf("org %s: last audit: %w", orgID, err)
	}
	if ov.PendingImports, err = s.st.PendingImports(ctx, orgID); err != nil {
		return Overview{}, fmt.Errorf("org %s: pending imports: %w", orgID, err)
	}
	return ov, nil
}

// Audit sums up a permission report: missing wins over unknown, as for the exit status
// of tether permissions show.
func Audit(r permissions.Report) AuditResult {
	a := AuditResult{ReportID: r.ID, CreatedAt: r.CreatedAt, Result: "ok", Summary: permissions.Summarize(r.Checks)}
	for _, c := range r.Checks {
		if !c.Required {
			continue
		}
		switch c.Result {
		case permissions.ResultMissing:
			a.Missing = append(a.Missing, c.Name)
		case permissions.ResultUnknown:
			a.Unknown = append(a.Unknown, c.Name)
		}
	}
	switch {
	case len(a.Missing) > 0:
		a.Result = "missing"
	case len(a.Unknown) > 0:
		a.Result = "unknown"
	}
	return a
}
