package orgs

import (
	"slices"
	"testing"

	"tether/sync/permissions"
)

func TestAuditResult(t *testing.T) {
	check := func(name string, required bool, r permissions.Result) permissions.Check {
		return permissions.Check{Name: name, Required: required, Result: r}
	}
	for _, tc := range []struct {
		name             string
		checks           []permissions.Check
		result           string   // the sum-up
		missing, unknown []string // required checks only
	}{
		{"all ok", []permissions.Check{check("connection", true, permissions.ResultOK)}, "ok", nil, nil},
		{"optional ones never decide",
			[]permissions.Check{check("view_setup", false, permissions.ResultMissing), check("api_usage", false, permissions.ResultWarning)},
			"ok", nil, nil},
		{"unknown without missing",
			[]permissions.Check{check("campaign", true, permissions.ResultUnknown), check("lead", true, permissions.ResultOK)},
			"unknown", nil, []string{"campaign"}},
		{"missing wins over unknown",
			[]permissions.Check{check("campaign", true, permissions.ResultUnknown), check("marketing_user", true, permissions.ResultMissing)},
			"missing", []string{"marketing_user"}, []string{"campaign"}},
	} {
		a := Audit(permissions.Report{ID: "r1", Checks: tc.checks})
		if a.Result != tc.result || !slices.Equal(a.Missing, tc.missing) || !slices.Equal(a.Unknown, tc.unknown) || a.ReportID != "r1" {
			t.Errorf("%s: got %+v", tc.name, a)
		}
		if n := a.Summary[string(tc.checks[0].Result)]; n == 0 {
			t.Errorf("%s: summary %v does not count %s", tc.name, a.Summary, tc.checks[0].Result)
		}
	}
}
