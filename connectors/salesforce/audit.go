package salesforce

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"

	"tether/sync/permissions"
)

// AuditProber implements permissions.Prober: one POST /composite holding the eight
// describes and two queries of the permission audit (one API call), plus GET /limits only
// when the composite answer carried no Sforce-Limit-Info header (a second call).
type AuditProber struct {
	// HTTPClient performs requests. Nil means a client with DefaultTimeout.
	HTTPClient *http.Client
	// APIVersion like "62.0". Empty means DefaultAPIVersion.
	APIVersion string
	// OnUsage, when set, receives the org's usage from every response (to record it for
	// the org, ARCHITECTURE invariant 6). Called synchronously.
	OnUsage func(orgID string, u Usage)
}

var _ permissions.Prober = (*AuditProber)(nil)

// Probe reads the audit's data for s. A failure of the whole call is mapped onto the
// permissions errors (see permissions.Prober); failed subrequests land in the Probe.
func (p *AuditProber) Probe(ctx context.Context, s permissions.Session) (permissions.Probe, error) {
	userID, err := NormalizeID(s.UserID)
	if err != nil {
		return permissions.Probe{}, fmt.Errorf("audit org %s: team user: %w", s.OrgID, err)
	}
	var (
		mu    sync.Mutex
		usage *Usage
	)
	c, err := New(Config{
		InstanceURL: s.InstanceURL,
		APIVersion:  p.APIVersion,
		HTTPClient:  p.HTTPClient,
		Token:       s.Credentials.Token,
		Refresh: func(ctx context.Context) (Session, error) {
			tok, err := s.Credentials.Refresh(ctx)
			return Session{AccessToken: tok}, err
		},
		OnUsage: func(u Usage) {
			mu.Lock()
			usage = &u
			mu.Unlock()
			if p.OnUsage != nil {
				p.OnUsage(s.OrgID, u)
			}
		},
	})
	if err != nil {
		return permissions.Probe{}, fmt.Errorf("audit org %s: %w", s.OrgID, err)
	}

	reqs := make([]Subrequest, 0, len(permissions.Objects)+2)
	for _, o := range permissions.Objects {
		path, err := c.DescribePath(o.Object)
		if err != nil {
			return permissions.Probe{}, fmt.Errorf("audit org %s: %w", s.OrgID, err)
		}
		reqs = append(reqs, Subrequest{Method: http.MethodGet, URL: path, ReferenceID: o.Object})
	}
	// userID is normalised (letters and digits only), so quoting it is belt and braces.
	reqs = append(reqs,
		Subrequest{Method: http.MethodGet, ReferenceID: "me", URL: c.QueryPath(
			"SELECT Id, IsActive, UserPermissionsMarketingUser, Profile.Name FROM User WHERE Id = " + Quote(userID))},
		Subrequest{Method: http.MethodGet, ReferenceID: "assignments", URL: c.QueryPath(
			"SELECT Id, PermissionSet.Name, PermissionSet.Label, PermissionSet.IsOwnedByProfile, " +
				"PermissionSet.PermissionsAllowViewEditConvertedLeads, PermissionSet.PermissionsApiEnabled " +
				"FROM PermissionSetAssignment WHERE AssigneeId = " + Quote(userID))},
	)
	res, err := c.Composite(ctx, reqs)
	if err != nil {
		return permissions.Probe{}, fmt.Errorf("audit org %s: %w", s.OrgID, auditError(err))
	}
	out := permissions.Probe{UserID: userID, Objects: map[string]permissions.Describe{}, Calls: 1}
	for i, o := range permissions.Objects {
		out.Objects[o.Object] = decodeAuditDescribe(res[i])
	}
	n := len(permissions.Objects)
	out.Me = decodeMe(res[n])
	out.Assignments = decodeAssignments(res[n+1], out.Me.ProfileName)

	mu.Lock()
	u := usage
	mu.Unlock()
	if u == nil {
		// No header: ask /limits (needs View Setup; a refusal just leaves usage unknown).
		out.Calls++
		if lim, err := c.Limits(ctx); err == nil {
			if d, ok := lim["DailyApiRequests"]; ok && d.Max > 0 {
				out.Usage = &permissions.Usage{Used: d.Max - d.Remaining, Max: d.Max, Source: "/limits"}
			}
		}
	} else {
		out.Usage = &permissions.Usage{Used: u.Used, Max: u.Max, Source: "Sforce-Limit-Info"}
	}
	return out, nil
}

// auditError maps a failure of the whole composite call onto the permissions errors,
// keeping the original in the chain. The limits and API access come from classifyLimit,
// shared with the invite import.
func auditError(err error) error {
	if IsInvalidSession(err) {
		return fmt.Errorf("%w: %w", permissions.ErrInvalidSession, err)
	}
	switch kind, delay := classifyLimit(err); kind {
	case userAPIDisabled:
		return fmt.Errorf("%w: %w", permissions.ErrUserAPIDisabled, err)
	case orgAPIDisabled:
		return fmt.Errorf("%w: %w", permissions.ErrOrgAPIDisabled, err)
	case dailyLimit, concurrencyLimit:
		return errors.Join(&permissions.RateLimitError{Daily: kind == dailyLimit, Delay: delay}, err)
	}
	return err
}

func subError(r SubResponse) *permissions.SubError {
	e, _ := asAPIError(r.Err())
	if e == nil {
		return nil
	}
	return &permissions.SubError{Status: e.Status, Code: e.Code, Message: e.Message}
}

func decodeAuditDescribe(r SubResponse) permissions.Describe {
	if se := subError(r); se != nil {
		return permissions.Describe{Err: se}
	}
	d, err := DecodeDescribe(r.Body)
	if err != nil {
		return permissions.Describe{Err: &permissions.SubError{Status: r.Status, Message: err.Error()}}
	}
	out := permissions.Describe{Queryable: d.Queryable, Createable: d.Createable, Updateable: d.Updateable,
		Fields: make(map[string]permissions.Field, len(d.Fields))}
	for _, f := range d.Fields {
		out.Fields[f.Name] = permissions.Field{Createable: f.Createable, Updateable: f.Updateable}
	}
	return out
}

func decodeMe(r SubResponse) permissions.UserRow {
	if se := subError(r); se != nil {
		return permissions.UserRow{Err: se}
	}
	var page struct {
		Records []struct {
			IsActive                     bool `json:"IsActive"`
			UserPermissionsMarketingUser bool `json:"UserPermissionsMarketingUser"`
			Profile                      *struct {
				Name string `json:"Name"`
			} `json:"Profile"`
		} `json:"records"`
	}
	if err := json.Unmarshal(r.Body, &page); err != nil {
		return permissions.UserRow{Err: &permissions.SubError{Status: r.Status, Message: "decode User row: " + err.Error()}}
	}
	if len(page.Records) == 0 {
		return permissions.UserRow{}
	}
	rec := page.Records[0]
	row := permissions.UserRow{Found: true, IsActive: rec.IsActive, MarketingUser: rec.UserPermissionsMarketingUser}
	if rec.Profile != nil {
		row.ProfileName = rec.Profile.Name
	}
	return row
}

func decodeAssignments(r SubResponse, profileName string) permissions.AssignmentRows {
	if se := subError(r); se != nil {
		return permissions.AssignmentRows{Err: se}
	}
	var page struct {
		Records []struct {
			PermissionSet *struct {
				Name             string `json:"Name"`
				Label            string `json:"Label"`
				IsOwnedByProfile bool   `json:"IsOwnedByProfile"`
				ConvertedLeads   bool   `json:"PermissionsAllowViewEditConvertedLeads"`
				APIEnabled       bool   `json:"PermissionsApiEnabled"`
			} `json:"PermissionSet"`
		} `json:"records"`
	}
	if err := json.Unmarshal(r.Body, &page); err != nil {
		return permissions.AssignmentRows{Err: &permissions.SubError{Status: r.Status, Message: "decode PermissionSetAssignment rows: " + err.Error()}}
	}
	out := permissions.AssignmentRows{Rows: []permissions.Assignment{}}
	for _, rec := range page.Records {
		ps := rec.PermissionSet
		if ps == nil {
			continue
		}
		a := permissions.Assignment{Name: ps.Name, Label: ps.Label, OwnedByProfile: ps.IsOwnedByProfile,
			ConvertedLeads: ps.ConvertedLeads, APIEnabled: ps.APIEnabled}
		if a.OwnedByProfile && profileName != "" {
			// A profile's own set has a generated name; the profile's name is what an
			// admin finds in Setup.
			a.Label = profileName
		}
		out.Rows = append(out.Rows, a)
	}
	return out
}
