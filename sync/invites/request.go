package invites

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"tether/sync/directory"
)

// Request is an admin's import request. Exactly one of Profiles, UserIDs and Emails is set.
type Request struct {
	OrgID string
	// Profiles are Salesforce profile ids (00e…, 15 or 18 characters) or names; a value
	// that is a valid profile id is taken as an id, anything else as a name.
	Profiles []string
	// UserIDs are Salesforce user ids (005…, 15 or 18 characters).
	UserIDs []string
	// Emails is the plain email route: addresses to invite directly (source email).
	Emails []string
	Role   directory.Role // required
	// Group is the name of a group of the org to put invitees in; created if missing
	// (except on a dry run). Empty means none.
	Group       string
	DryRun      bool
	RequestedBy string
	// ProfilesChecked says the producer resolved every profile at Salesforce (ids
	// included), so the run does not check them again.
	ProfilesChecked bool
}

// SplitEmails splits a list of addresses separated by spaces, commas, semicolons or line
// breaks, dropping empty items. It does not validate them: the import counts malformed
// ones.
func SplitEmails(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool {
		return r == ',' || r == ';' || r == ' ' || r == '\n' || r == '\r' || r == '\t'
	})
}

// Create validates req and stores it as a queued import, which the caller then queues
// (jobs.NewImportTask or jobs.NewImportEmailsTask). Returns *Error for a request no retry
// can fix (bad role, empty or mixed selection, invalid ids listed in Values, unknown org,
// too many emails).
func (s *Service) Create(ctx context.Context, req Request) (directory.Import, error) {
	sel, err := s.validate(req)
	if err != nil {
		return directory.Import{}, err
	}
	now := s.now()
	// No separate existence check of the org: the group and import rows reference it, so
	// their writes report a missing org as not found, one round trip cheaper.
	fail := func(err error) (directory.Import, error) {
		if errors.Is(err, directory.ErrNotFound) {
			return directory.Import{}, invalid(CodeOrgNotFound, "org %s does not exist", req.OrgID)
		}
		return directory.Import{}, fmt.Errorf("create import in org %s: %w", req.OrgID, err)
	}
	imp := directory.Import{
		OrgID: req.OrgID, RequestedBy: req.RequestedBy, Selection: sel, Role: req.Role,
		DryRun: req.DryRun, Status: directory.ImportQueued, CreatedAt: now,
	}
	if g := strings.TrimSpace(req.Group); g != "" {
		// A dry run writes nothing, so it only uses a group that already exists.
		if req.DryRun {
			grp, ok, err := s.store.FindGroup(ctx, req.OrgID, g)
			if err != nil {
				return fail(err)
			}
			if ok {
				imp.GroupID = grp.ID
			}
		} else {
			grp, err := s.store.GetOrCreateGroup(ctx, req.OrgID, g, now)
			if err != nil {
				return fail(err)
			}
			imp.GroupID = grp.ID
		}
	}
	imp, err = s.store.CreateImport(ctx, req.OrgID, imp)
	if err != nil {
		return fail(err)
	}
	return imp, nil
}

// validate checks req without I/O and returns the selection to store.
func (s *Service) validate(req Request) (directory.ImportSelection, error) {
	var sel directory.ImportSelection
	if req.OrgID == "" {
		return sel, invalid(CodeOrgNotFound, "org id is required")
	}
	if !req.Role.Valid() {
		return sel, invalid(CodeInvalidRole, "role %q is not one of admin, custom_admin, chat, meetings", req.Role)
	}
	if err := CheckText(req); err != nil {
		return sel, err
	}
	kinds := 0
	for _, l := range [][]string{req.Profiles, req.UserIDs, req.Emails} {
		if len(nonBlank(l)) > 0 {
			kinds++
		}
	}
	switch {
	case kinds == 0:
		return sel, invalid(CodeEmptySelection, "select at least one profile, user id or email")
	case kinds > 1:
		return sel, invalid(CodeMixedSelection, "select profiles, user ids or emails, not several kinds at once")
	}
	var bad []string
	// One set for every list: a linear pass (a slice search per item was quadratic: 60,000
	// names took seconds of CPU). Profile ids and names cannot collide (an id is not a name).
	seen := make(map[string]struct{})
	add := func(l []string, v string) []string {
		if _, dup := seen[v]; dup {
			return l
		}
		seen[v] = struct{}{}
		return append(l, v)
	}
	givenProfiles := nonBlank(req.Profiles)
	for _, p := range givenProfiles {
		if id, ok := normalizeID(p); ok && strings.HasPrefix(id, prefixProfile) {
			sel.ProfileIDs = add(sel.ProfileIDs, id)
		} else {
			sel.ProfileNames = add(sel.ProfileNames, p)
		}
	}
	if len(givenProfiles) > len(sel.ProfileIDs)+len(sel.ProfileNames) {
		sel.ProfilesGiven = len(givenProfiles)
	}
	givenIDs := nonBlank(req.UserIDs)
	for _, u := range givenIDs {
		id, ok := normalizeID(u)
		if !ok || !strings.HasPrefix(id, prefixUser) {
			bad = append(bad, u)
			continue
		}
		sel.UserIDs = add(sel.UserIDs, id)
	}
	if len(givenIDs) > len(sel.UserIDs) {
		sel.UserIDsGiven = len(givenIDs)
	}
	if len(bad) > 0 {
		e := invalid(CodeInvalidID, "invalid Salesforce user id %s: want 15 or 18 letters and digits starting with 005", quoteAll(bad))
		e.Values = bad
		return sel, e
	}
	if err := checkQuerySize(sel); err != nil {
		return sel, err
	}
	sel.ProfilesChecked = req.ProfilesChecked && len(sel.ProfileNames) == 0
	emails := nonBlank(req.Emails)
	if len(emails) > s.maxEmails {
		return sel, invalid(CodeTooManyEmails, "%d emails is more than the %d one import takes; split the list", len(emails), s.maxEmails)
	}
	sel.Emails = emails
	return sel, nil
}

func nonBlank(l []string) []string {
	var out []string
	for _, v := range l {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// CheckText refuses values tether cannot store (a NUL or other control character, not
// UTF-8, past a length limit) before anything is written or sent to Salesforce. Returns
// *Error with CodeInvalidText; Create calls it too.
func CheckText(req Request) error {
	fail := func(err error) error { return invalid(CodeInvalidText, "%s", err.Error()) }
	if err := directory.CheckText("group", req.Group, directory.MaxGroupName); err != nil {
		return fail(err)
	}
	// A profile's length is bounded by the Salesforce query it goes into
	// (checkQuerySize, CodeSelectionTooLong); here only what cannot be stored.
	for _, l := range []struct {
		field string
		vals  []string
		max   int
	}{{"a profile", req.Profiles, 1 << 20}, {"a user id", req.UserIDs, directory.MaxSalesforceID}, {"an email", req.Emails, directory.MaxEmail}} {
		for _, v := range l.vals {
			if err := directory.CheckText(l.field, strings.TrimSpace(v), l.max); err != nil {
				return fail(err)
			}
		}
	}
	return nil
}

// Salesforce's query limits the profile selection must fit (see the reference:
// SOQL and SOSL limits): a query of at most 100,000 characters, a string literal in a
// WHERE clause of at most 4,000. soqlMargin leaves room for the SELECT around the list.
const (
	maxSOQL    = 100000
	maxLiteral = 4000
	soqlMargin = 200
)

// checkQuerySize refuses a selection whose profile query Salesforce would refuse, so the
// request is a 422 now instead of an import that fails on every retry. User ids are split
// over several queries, so only profiles count.
func checkQuerySize(sel directory.ImportSelection) error {
	n := soqlMargin
	for _, v := range sel.ProfileIDs {
		n += len(v) + 3 // quotes and comma
	}
	for _, v := range sel.ProfileNames {
		if len(v) > maxLiteral {
			return invalid(CodeSelectionTooLong, "profile name %.40q… is %d characters; Salesforce compares at most %d", v, len(v), maxLiteral)
		}
		n += len(v) + 3 + strings.Count(v, "'") + strings.Count(v, `\`)
	}
	if n > maxSOQL {
		return invalid(CodeSelectionTooLong, "%d profiles make a query of about %d characters, past Salesforce's %d; split the selection over several imports",
			len(sel.ProfileIDs)+len(sel.ProfileNames), n, maxSOQL)
	}
	return nil
}
