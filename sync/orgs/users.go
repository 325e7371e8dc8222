package orgs

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"tether/sync/directory"
)

// User finds a user by id, or by email when ref contains an @ (compared lower-cased).
// Returns *Error user_not_found.
func (s *Service) User(ctx context.Context, ref string) (directory.User, error) {
	ref = strings.TrimSpace(ref)
	var (
		u   directory.User
		err error
	)
	if strings.Contains(ref, "@") {
		u, err = s.st.GetUserByEmail(ctx, ref)
	} else {
		u, err = s.st.GetUser(ctx, ref)
	}
	if errors.Is(err, directory.ErrNotFound) || ref == "" {
		return directory.User{}, refuse(CodeUserNotFound, "no user %q: name a user by id or by email", ref)
	}
	if err != nil {
		return directory.User{}, fmt.Errorf("read user: %w", err)
	}
	return u, nil
}

// Memberships returns the user (by id or email) and each org they belong to with their
// role and status there, the default org marked.
func (s *Service) Memberships(ctx context.Context, userRef string) (directory.User, []directory.UserMembership, error) {
	u, err := s.User(ctx, userRef)
	if err != nil {
		return directory.User{}, nil, err
	}
	ms, err := s.st.ListUserMemberships(ctx, u.ID)
	if err != nil {
		return directory.User{}, nil, fmt.Errorf("memberships of user %s: %w", u.ID, err)
	}
	return u, ms, nil
}

// SetDefaultOrg marks orgID as the user's default org. Returns *Error user_not_found,
// org_not_found, or not_a_member when the user has no membership there that is not
// deactivated.
func (s *Service) SetDefaultOrg(ctx context.Context, userRef, orgID string) (directory.User, error) {
	u, err := s.User(ctx, userRef)
	if err != nil {
		return directory.User{}, err
	}
	if _, err := s.org(ctx, orgID); err != nil {
		return directory.User{}, err
	}
	err = s.st.SetFavouriteOrg(ctx, orgID, u.ID)
	if errors.Is(err, directory.ErrNotFound) {
		return directory.User{}, refuse(CodeNotAMember,
			"user %s is not a member of org %s (or their membership is deactivated): the default org must be one of their orgs; tether users memberships %s (GET /v1/users/%s/memberships) lists them",
			u.Email, orgID, u.Email, u.ID)
	}
	if err != nil {
		return directory.User{}, fmt.Errorf("set default org of user %s: %w", u.ID, err)
	}
	u.FavouriteOrgID = orgID
	return u, nil
}
