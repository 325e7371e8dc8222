package invites

import (
	"context"
	"errors"
	"fmt"

	"tether/sync/directory"
)

// RevokePage is how many invites one statement of RevokeImport revokes: small enough to
// hold the rows' locks briefly, large enough that 10,000 invites take 20 statements.
const RevokePage = 500

// BulkRevoke is what RevokeImport did (or, for a dry run, would do).
type BulkRevoke struct {
	ImportID string `json:"import_id"`
	DryRun   bool   `json:"dry_run"`
	// Revoked pending invites of the import were revoked now (a dry run: would be).
	Revoked int `json:"revoked"`
	// EmailsStopped of them had their invitation email still to go (never attempted, or
	// a resend not yet sent): their send tasks find them revoked and send nothing.
	EmailsStopped int `json:"emails_stopped"`
	// The import's other invites, left as they were.
	Accepted       int `json:"accepted"`
	AlreadyRevoked int `json:"already_revoked"`
	Expired        int `json:"expired"`
}

// RevokeImport revokes every pending invite of the org's import id, as RevokeInvite does
// one (the link stops working, the seat is free; a queued send task is left to find the
// invite revoked and send nothing), RevokePage invites per store statement. Accepted
// invites (members) and expired or revoked ones are left alone and counted. Running it
// again, after a crash or to check, revokes what is left and reports the rest as
// already revoked. A dry run changes nothing and reports what a run would do.
//
// Errors: org_not_found, import_not_found, import_running (the import is queued,
// running or paused: cancel it first, or it goes on making invites).
func (a Admin) RevokeImport(ctx context.Context, orgID, id string, dryRun bool) (BulkRevoke, error) {
	out := BulkRevoke{ImportID: id, DryRun: dryRun}
	if err := a.org(ctx, orgID); err != nil {
		return out, err
	}
	imp, err := a.Store.GetImport(ctx, orgID, id)
	switch {
	case errors.Is(err, directory.ErrNotFound):
		return out, invalid(CodeImportNotFound, "org %s has no import %s; list them with: tether invite imports --org %s", orgID, id, orgID)
	case err != nil:
		return out, fmt.Errorf("revoke invites of import %s: %w", id, err)
	}
	switch imp.Status {
	case directory.ImportQueued, directory.ImportRunning, directory.ImportPaused:
		return out, invalid(CodeImportRunning, "import %s is %s and would go on inviting: cancel it first with tether invite cancel %s --org %s (POST /v1/orgs/%s/imports/%s/cancel), then revoke its invites",
			id, imp.Status, id, orgID, orgID, id)
	}
	now := a.now()
	if !dryRun {
		for {
			p, err := a.Store.RevokeImportInvites(ctx, orgID, id, now, RevokePage)
			if err != nil {
				return out, fmt.Errorf("revoke invites of import %s (%d revoked so far; run it again to revoke the rest): %w", id, out.Revoked, err)
			}
			out.Revoked += p.Revoked
			out.EmailsStopped += p.EmailsStopped
			// Not "< RevokePage": a short page can come from invites accepted meanwhile.
			if p.Revoked == 0 {
				break
			}
		}
	}
	c, err := a.Store.CountImportInvites(ctx, orgID, id, now)
	if err != nil {
		return out, fmt.Errorf("count invites of import %s: %w", id, err)
	}
	out.Accepted, out.Expired = c.Accepted, c.Expired
	if dryRun {
		out.Revoked, out.EmailsStopped, out.AlreadyRevoked = c.Pending, c.EmailsDue, c.Revoked
	} else {
		out.AlreadyRevoked = max(c.Revoked-out.Revoked, 0)
	}
	return out, nil
}
