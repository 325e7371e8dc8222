package salesforce

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// User is a Salesforce User as the invite import needs it.
type User struct {
	ID            string // 18 characters
	Username      string
	Email         string
	FirstName     string
	LastName      string
	Name          string
	IsActive      bool
	UserType      string // "Standard" for internal users
	ProfileID     string
	ProfileName   string // from the nested Profile object; "" when null
	UserRoleID    string
	TimeZone      string // TimeZoneSidKey, e.g. "America/Los_Angeles"
	SmallPhotoURL string
	FullPhotoURL  string
	// HasPhoto is IsProfilePhotoActive: false means the photo URLs point
	// at the default silhouette.
	HasPhoto  bool
	ManagerID string
}

type userRecord struct {
	ID        string `json:"Id"`
	Username  string `json:"Username"`
	Email     string `json:"Email"`
	FirstName string `json:"FirstName"`
	LastName  string `json:"LastName"`
	Name      string `json:"Name"`
	IsActive  bool   `json:"IsActive"`
	UserType  string `json:"UserType"`
	ProfileID string `json:"ProfileId"`
	Profile   *struct {
		Name string `json:"Name"`
	} `json:"Profile"`
	UserRoleID           string `json:"UserRoleId"`
	TimeZoneSidKey       string `json:"TimeZoneSidKey"`
	SmallPhotoURL        string `json:"SmallPhotoUrl"`
	FullPhotoURL         string `json:"FullPhotoUrl"`
	IsProfilePhotoActive bool   `json:"IsProfilePhotoActive"`
	ManagerID            string `json:"ManagerId"`
}

func (r userRecord) user() User {
	u := User{
		ID: norm(r.ID), Username: r.Username, Email: r.Email, FirstName: r.FirstName,
		LastName: r.LastName, Name: r.Name, IsActive: r.IsActive, UserType: r.UserType,
		ProfileID: norm(r.ProfileID), UserRoleID: norm(r.UserRoleID), TimeZone: r.TimeZoneSidKey,
		SmallPhotoURL: r.SmallPhotoURL, FullPhotoURL: r.FullPhotoURL,
		HasPhoto: r.IsProfilePhotoActive, ManagerID: norm(r.ManagerID),
	}
	if r.Profile != nil {
		u.ProfileName = r.Profile.Name
	}
	return u
}

func norm(id string) string {
	if n, err := NormalizeID(id); err == nil {
		return n
	}
	return id
}

// userSelect lists the fields of salesforce.md §2.2, nothing more: wider
// rows make Salesforce shrink pages below 2,000 and cost calls.
const userSelect = "SELECT Id, Username, Email, FirstName, LastName, Name, IsActive, UserType, " +
	"ProfileId, Profile.Name, UserRoleId, TimeZoneSidKey, SmallPhotoUrl, FullPhotoUrl, " +
	"IsProfilePhotoActive, ManagerId FROM User"

// UserFilter selects users for StreamUsers: exactly one of its fields is set.
type UserFilter struct {
	// ProfileIDs selects the active, Standard users of these profiles; the
	// filter is in SOQL, so inactive and portal users are never returned
	// (and cost no calls).
	ProfileIDs []string
	// UserIDs selects exactly these users whatever their state: inactive
	// and non-Standard users ARE returned so the caller can count them as
	// skipped (see User.SkipReason). Ids Salesforce does not return do not
	// exist or are invisible to the connected user.
	UserIDs []string
}

// ErrBadFilter is wrapped by StreamUsers for an empty or ambiguous filter
// and for malformed ids (bad input: do not retry).
var ErrBadFilter = errors.New("bad user filter")

// StreamUsers pages through the users f selects, ordered by Id within each
// query, calling page once per page (at most Config.BatchSize users). Long
// id lists are split over several queries so no GET URI exceeds
// Config.URIBudget: N users cost about ⌈N/2000⌉ calls plus one per extra
// split. page's error stops the stream and is returned as is.
func (c *Client) StreamUsers(ctx context.Context, f UserFilter, page func([]User) error) error {
	var (
		ids    []string
		before string
	)
	switch {
	case len(f.ProfileIDs) > 0 && len(f.UserIDs) > 0:
		return fmt.Errorf("stream users: %w: both profile ids and user ids set", ErrBadFilter)
	case len(f.ProfileIDs) > 0:
		ids, before = f.ProfileIDs, userSelect+" WHERE IsActive = true AND UserType = 'Standard' AND ProfileId IN "
	case len(f.UserIDs) > 0:
		ids, before = f.UserIDs, userSelect+" WHERE Id IN "
	default:
		return fmt.Errorf("stream users: %w: no profile ids or user ids", ErrBadFilter)
	}
	norm, err := normalizeIDs(ids)
	if err != nil {
		return fmt.Errorf("stream users: %w", err)
	}
	queries, err := c.INQueries(before, " ORDER BY Id", norm)
	if err != nil {
		return fmt.Errorf("stream users: %w", err)
	}
	for i, q := range queries {
		err := Query(ctx, c, q, func(recs []userRecord) error {
			users := make([]User, len(recs))
			for j, r := range recs {
				users[j] = r.user()
			}
			return page(users)
		})
		if err != nil {
			return fmt.Errorf("stream users (query %d of %d): %w", i+1, len(queries), err)
		}
	}
	return nil
}

// SkipReason says why the invite import should not invite u; "" means
// invite.
type SkipReason string

const (
	SkipInactive     SkipReason = "inactive"
	SkipNotStandard  SkipReason = "not_standard" // portal, community, Chatter-only
	SkipNoEmail      SkipReason = "no_email"
	SkipSandboxEmail SkipReason = "sandbox_email" // sandbox copies rewrite emails to *.invalid
)

// SkipReason applies the import's skip rules in a fixed order (inactive,
// not standard, no email, sandbox email).
func (u User) SkipReason() SkipReason {
	switch {
	case !u.IsActive:
		return SkipInactive
	case u.UserType != "Standard":
		return SkipNotStandard
	case strings.TrimSpace(u.Email) == "":
		return SkipNoEmail
	case strings.HasSuffix(strings.ToLower(strings.TrimSpace(u.Email)), ".invalid"):
		return SkipSandboxEmail
	}
	return ""
}
