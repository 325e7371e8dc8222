package salesforce

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// Profile is a Salesforce profile.
type Profile struct {
	ID          string // 18 characters
	Name        string
	UserType    string // Standard, PowerPartner, CsnOnly, ...
	LicenseName string // UserLicense.Name, e.g. "Salesforce", "Salesforce Integration"
}

type profileRecord struct {
	ID          string `json:"Id"`
	Name        string `json:"Name"`
	UserType    string `json:"UserType"`
	UserLicense *struct {
		Name string `json:"Name"`
	} `json:"UserLicense"`
}

func (r profileRecord) profile() Profile {
	p := Profile{ID: r.ID, Name: r.Name, UserType: r.UserType}
	if id, err := NormalizeID(r.ID); err == nil {
		p.ID = id
	}
	if r.UserLicense != nil {
		p.LicenseName = r.UserLicense.Name
	}
	return p
}

// ErrSelectionTooLong says a selection makes a query Salesforce would refuse (past the URI
// budget or the SOQL size limit): asking again cannot help, selecting fewer can.
var ErrSelectionTooLong = errors.New("selection too long for one Salesforce query; select fewer profiles")

const profileSelect = "SELECT Id, Name, UserType, UserLicense.Name FROM Profile"

// ListProfiles returns every profile the connected user can see, ordered by
// name, whatever their UserType (filter on Profile.UserType == "Standard"
// for internal users). One API call per 2,000 profiles.
func (c *Client) ListProfiles(ctx context.Context) ([]Profile, error) {
	var out []Profile
	err := Query(ctx, c, profileSelect+" ORDER BY Name", func(recs []profileRecord) error {
		for _, r := range recs {
			out = append(out, r.profile())
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list profiles: %w", err)
	}
	return out, nil
}

// UnknownProfilesError lists profile references that matched nothing,
// with the names that do exist so the admin can correct the input.
type UnknownProfilesError struct {
	Unknown   []string
	Available []string // every profile name, sorted
}

func (e *UnknownProfilesError) Error() string {
	avail := e.Available
	more := ""
	if len(avail) > 20 {
		avail, more = avail[:20], fmt.Sprintf(", … (%d in all)", len(e.Available))
	}
	return fmt.Sprintf("unknown Salesforce profile(s) %q; existing profiles: %s%s",
		e.Unknown, strings.Join(avail, ", "), more)
}

// ResolveProfiles maps refs (profile ids, 15 or 18 characters with prefix
// 00e, or exact profile names, compared case-insensitively as SOQL does)
// to profiles with one query; names are embedded as escaped literals.
//
// It returns the profiles found, in ref order without duplicates. When some
// refs match nothing, it also returns *UnknownProfilesError, after a second
// call that lists the existing names. Other errors: *APIError, context.
func (c *Client) ResolveProfiles(ctx context.Context, refs []string) ([]Profile, error) {
	var ids, names []string
	for _, r := range refs {
		if id, err := NormalizeID(r); err == nil && HasPrefix(id, PrefixProfile) {
			ids = append(ids, id)
		} else if strings.TrimSpace(r) != "" {
			names = append(names, r)
		}
	}
	if len(ids)+len(names) == 0 {
		return nil, nil
	}
	var where []string
	if len(ids) > 0 {
		where = append(where, "Id IN ("+quoteAll(ids)+")")
	}
	if len(names) > 0 {
		where = append(where, "Name IN ("+quoteAll(names)+")")
	}
	soql := profileSelect + " WHERE " + strings.Join(where, " OR ") + " ORDER BY Name"
	if n := c.queryURILen(soql); n > c.uriBudget {
		return nil, fmt.Errorf("resolve profiles: %d references make a %d-byte query URI (budget %d): %w", len(refs), n, c.uriBudget, ErrSelectionTooLong)
	}
	var found []Profile
	err := Query(ctx, c, soql, func(recs []profileRecord) error {
		for _, r := range recs {
			found = append(found, r.profile())
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("resolve profiles: %w", err)
	}

	var (
		out     []Profile
		unknown []string
		taken   = map[string]bool{}
	)
	for _, r := range refs {
		p, ok := matchProfile(found, r)
		if !ok {
			if strings.TrimSpace(r) != "" {
				unknown = append(unknown, r)
			}
			continue
		}
		if !taken[p.ID] {
			taken[p.ID] = true
			out = append(out, p)
		}
	}
	if len(unknown) == 0 {
		return out, nil
	}
	all, err := c.ListProfiles(ctx)
	if err != nil {
		return out, fmt.Errorf("resolve profiles: %d unknown, and listing existing ones failed: %w", len(unknown), err)
	}
	avail := make([]string, len(all))
	for i, p := range all {
		avail[i] = p.Name
	}
	return out, &UnknownProfilesError{Unknown: unknown, Available: avail}
}

func matchProfile(found []Profile, ref string) (Profile, bool) {
	if id, err := NormalizeID(ref); err == nil && HasPrefix(id, PrefixProfile) {
		for _, p := range found {
			if p.ID == id {
				return p, true
			}
		}
	}
	for _, p := range found {
		if p.Name == ref {
			return p, true
		}
	}
	for _, p := range found {
		if strings.EqualFold(p.Name, ref) {
			return p, true
		}
	}
	return Profile{}, false
}

func quoteAll(vs []string) string {
	q := make([]string, len(vs))
	for i, v := range vs {
		q[i] = Quote(v)
	}
	return strings.Join(q, ",")
}
