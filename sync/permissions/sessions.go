package permissions

import (
	"context"
	"errors"
	"fmt"

	"tether/sync/connections"
)

// TeamSessions adapts the connections token service to Sessions, translating its
// outcomes into this package's errors.
type TeamSessions struct {
	Tokens *connections.Tokens
}

var _ Sessions = TeamSessions{}

// Team implements Sessions.
func (t TeamSessions) Team(ctx context.Context, orgID string) (Session, error) {
	ts, err := t.Tokens.Team(ctx, orgID)
	if err != nil {
		return Session{}, mapConnErr(err)
	}
	return Session{OrgID: ts.OrgID, ConnectionID: ts.ConnectionID, InstanceURL: ts.InstanceURL,
		UserID: ts.UserID, Credentials: teamCredentials{ts}}, nil
}

type teamCredentials struct{ ts *connections.TeamSession }

func (c teamCredentials) Token(ctx context.Context) (string, error) {
	tok, err := c.ts.Token(ctx)
	return tok, mapConnErr(err)
}

func (c teamCredentials) Refresh(ctx context.Context) (string, error) {
	tok, err := c.ts.Refresh(ctx)
	return tok, mapConnErr(err)
}

func mapConnErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, connections.ErrNoTeamConnection):
		return fmt.Errorf("%w: %w", ErrNoTeamConnection, err)
	case errors.Is(err, connections.ErrNeedsReconnect), errors.Is(err, connections.ErrOrgBlocked):
		return fmt.Errorf("%w: %w", ErrNeedsReconnect, err)
	}
	return err
}
