package invites

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"tether/sync/directory"
)

// Error codes of the admin actions (Admin), stable for API clients.
const (
	CodeImportNotFound = "import_not_found"
	CodeInviteNotFound = "invite_not_found"
	// CodeFinished: the import already ended (done, failed or cancelled).
	CodeFinished = "import_finished"
	// CodeNotPending: the invite was accepted, revoked or expired.
	CodeNotPending = "invite_not_pending"
	// CodeImportRunning: the import is still queued, running or paused; cancel it before
	// revoking its invites.
	CodeImportRunning = "import_running"
	CodeInvalidStatus = "invalid_status"
	CodeInvalidCursor = "invalid_cursor"
)

// AdminStore is the persistence the admin actions need; store.Invites implements it.
type AdminStore interface {
	GetOrg(ctx context.Context, orgID string) (directory.Org, error)
	GetImport(ctx context.Context, orgID, id string) (directory.Import, error)
	// ListImportsPage lists the org's imports newest first, older than beforeID if set.
	ListImportsPage(ctx context.Context, orgID, beforeID string, limit int) ([]directory.Import, error)
	ListInvites(ctx context.Context, orgID string, f directory.InviteFilter) ([]directory.Invite, error)
	GetInvite(ctx context.Context, orgID, id string) (directory.Invite, error)
	// RevokeInvite returns directory.ErrConflict if the invite is not pending.
	RevokeInvite(ctx context.Context, orgID, id string, at time.Time) error
	// CancelImport returns directory.ErrConflict if the import already ended.
	CancelImport(ctx context.Context, orgID, id string, at time.Time) (directory.Import, error)
	ListSkipped(ctx context.Context, orgID, importID string, afterSeq, limit int) ([]directory.SkippedRow, error)
	// RevokeImportInvites revokes up to limit of the import's pending invites in one
	// statement; an unknown import revokes nothing.
	RevokeImportInvites(ctx context.Context, orgID, importID string, at time.Time, limit int) (directory.RevokedPage, error)
	// CountImportInvites counts the import's invites by status; an unknown import counts
	// nothing.
	CountImportInvites(ctx context.Context, orgID, importID string, at time.Time) (directory.ImportInviteCounts, error)
}

// Admin lists, revokes and cancels: the one implementation behind the CLI verbs and the
// HTTP routes. Every call is scoped by org; an id of another org is not found. Errors a
// request can cause are *Error with a code (org_not_found, import_not_found,
// invite_not_found, import_finished, invite_not_pending, invalid_status); others are
// the store's.
type Admin struct {
	Store AdminStore // required
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// MaxPage caps one page of a listing; DefaultPage is the page when none is asked for.
const (
	MaxPage     = 1000
	DefaultPage = 100
)

func pageLimit(n int) int {
	switch {
	case n <= 0:
		return DefaultPage
	case n > MaxPage:
		return MaxPage
	}
	return n
}

func (a Admin) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

func (a Admin) org(ctx context.Context, orgID string) error {
	if _, err := a.Store.GetOrg(ctx, orgID); err != nil {
		if errors.Is(err, directory.ErrNotFound) {
			return invalid(CodeOrgNotFound, "org %s does not exist; list orgs with: tether org list", orgID)
		}
		return err
	}
	return nil
}

// ImportPage is one page of an org's imports, newest first. Next is the cursor of the
// following page (pass it as before); empty on the last page.
type ImportPage struct {
	Imports []directory.Import
	Next    string
}

// ListImports returns up to limit (0: DefaultPage, at most MaxPage) of the org's imports,
// newest first, older than the import before (a previous page's Next) if set.
func (a Admin) ListImports(ctx context.Context, orgID, before string, limit int) (ImportPage, error) {
	if err := a.org(ctx, orgID); err != nil {
		return ImportPage{}, err
	}
	n := pageLimit(limit)
	imps, err := a.Store.ListImportsPage(ctx, orgID, before, n+1)
	if errors.Is(err, directory.ErrNotFound) {
		return ImportPage{}, invalid(CodeInvalidCursor, "cursor %q is not an import of org %s; start without it", before, orgID)
	}
	if err != nil {
		return ImportPage{}, fmt.Errorf("list imports of org %s: %w", orgID, err)
	}
	p := ImportPage{Imports: imps}
	if len(imps) > n {
		p.Imports = imps[:n]
		p.Next = imps[n-1].ID
	}
	return p, nil
}

// InvitePage is one page of an org's invites in id order; Next is the cursor of the
// following page (pass it as the filter's AfterID), empty on the last page.
type InvitePage struct {
	Invites []directory.Invite
	Next    string
}

// ListInvites returns a page of the org's invites matching f (status one of pending,
// accepted, expired, revoked, or empty for all; f.Limit as in ListImports). A status that
// names a delivery (unsent, sent, failed, unknown) selects pending invites whose email is
// there, as f.Delivery does.
func (a Admin) ListInvites(ctx context.Context, orgID string, f directory.InviteFilter) (InvitePage, error) {
	switch d := directory.Delivery(f.Status); {
	case f.Status == "", f.Status == directory.InvitePending, f.Status == directory.InviteAccepted,
		f.Status == directory.InviteExpired, f.Status == directory.InviteRevoked:
	case slices.Contains(directory.Deliveries, d):
		f.Status, f.Delivery = "", d
	default:
		return InvitePage{}, invalid(CodeInvalidStatus, "status %q is not one of pending, accepted, expired, revoked, "+
			"or a delivery: unsent, sent, failed, unknown", f.Status)
	}
	if f.Delivery != "" && !slices.Contains(directory.Deliveries, f.Delivery) {
		return InvitePage{}, invalid(CodeInvalidStatus, "delivery %q is not one of unsent, sent, failed, unknown", f.Delivery)
	}
	if err := a.org(ctx, orgID); err != nil {
		return InvitePage{}, err
	}
	// A mistyped import or cursor would match nothing and read as "no invites".
	if f.ImportID != "" {
		if _, err := a.Store.GetImport(ctx, orgID, f.ImportID); errors.Is(err, directory.ErrNotFound) {
			return InvitePage{}, invalid(CodeImportNotFound, "org %s has no import %s; list them with: tether invite imports --org %s", orgID, f.ImportID, orgID)
		} else if err != nil {
			return InvitePage{}, fmt.Errorf("list invites of import %s: %w", f.ImportID, err)
		}
	}
	if f.AfterID != "" {
		if _, err := a.Store.GetInvite(ctx, orgID, f.AfterID); errors.Is(err, directory.ErrNotFound) {
			return InvitePage{}, invalid(CodeInvalidCursor, "cursor %q is not an invite of org %s; start without it", f.AfterID, orgID)
		} else if err != nil {
			return InvitePage{}, fmt.Errorf("list invites of org %s: %w", orgID, err)
		}
	}
	n := pageLimit(f.Limit)
	f.Limit = n + 1
	invs, err := a.Store.ListInvites(ctx, orgID, f)
	if err != nil {
		return InvitePage{}, fmt.Errorf("list invites of org %s: %w", orgID, err)
	}
	p := InvitePage{Invites: invs}
	if len(invs) > n {
		p.Invites = invs[:n]
		p.Next = invs[n-1].ID
	}
	return p, nil
}

// RevokeInvite revokes the org's pending invite id (its link stops working and its seat
// is free) and returns it.
func (a Admin) RevokeInvite(ctx context.Context, orgID, id string) (directory.Invite, error) {
	if err := a.org(ctx, orgID); err != nil {
		return directory.Invite{}, err
	}
	err := a.Store.RevokeInvite(ctx, orgID, id, a.now())
	inv, gerr := a.Store.GetInvite(ctx, orgID, id)
	switch {
	case errors.Is(gerr, directory.ErrNotFound):
		return directory.Invite{}, invalid(CodeInviteNotFound, "org %s has no invite %s; list them with: tether invite list --org %s", orgID, id, orgID)
	case gerr != nil:
		return directory.Invite{}, gerr
	case errors.Is(err, directory.ErrConflict):
		return inv, invalid(CodeNotPending, "invite %s is %s, not pending: nothing to revoke", id, inv.Status)
	case err != nil:
		return directory.Invite{}, fmt.Errorf("revoke invite %s: %w", id, err)
	}
	return inv, nil
}

// CancelImport cancels the org's queued, running or paused import id and returns it. A
// running import stops at its next page (the page in hand is not written); invites
// already created stay (revoke them, or let them expire).
func (a Admin) CancelImport(ctx context.Context, orgID, id string) (directory.Import, error) {
	if err := a.org(ctx, orgID); err != nil {
		return directory.Import{}, err
	}
	imp, err := a.Store.CancelImport(ctx, orgID, id, a.now())
	switch {
	case errors.Is(err, directory.ErrNotFound):
		return directory.Import{}, invalid(CodeImportNotFound, "org %s has no import %s; list them with: tether invite imports --org %s", orgID, id, orgID)
	case errors.Is(err, directory.ErrConflict):
		return imp, invalid(CodeFinished, "import %s is already %s: nothing to cancel", id, imp.Status)
	case err != nil:
		return directory.Import{}, fmt.Errorf("cancel import %s: %w", id, err)
	}
	return imp, nil
}

// SkippedPage is one page of the rows an import did not invite; Next is the seq to pass as
// after for the following page, -1 on the last page.
type SkippedPage struct {
	Rows []directory.SkippedRow
	Next int
}

// ListSkipped returns the rows the org's import id did not invite (invalid or missing
// email, duplicate, already a member or invited, over the seat limit, not found, …), in
// import order after seq after (-1: from the start), up to limit as in ListImports.
func (a Admin) ListSkipped(ctx context.Context, orgID, id string, after, limit int) (SkippedPage, error) {
	if err := a.org(ctx, orgID); err != nil {
		return SkippedPage{}, err
	}
	if _, err := a.Store.GetImport(ctx, orgID, id); err != nil {
		if errors.Is(err, directory.ErrNotFound) {
			return SkippedPage{}, invalid(CodeImportNotFound, "org %s has no import %s; list them with: tether invite imports --org %s", orgID, id, orgID)
		}
		return SkippedPage{}, err
	}
	n := pageLimit(limit)
	rows, err := a.Store.ListSkipped(ctx, orgID, id, after, n+1)
	if err != nil {
		return SkippedPage{}, fmt.Errorf("list skipped rows of import %s: %w", id, err)
	}
	p := SkippedPage{Rows: rows, Next: -1}
	if len(rows) > n {
		p.Rows = rows[:n]
		p.Next = rows[n-1].Seq
	}
	return p, nil
}

// EachSkipped calls fn with every row the import did not invite, a page at a time, so a
// download of any size holds one page (for the CSV).
func (a Admin) EachSkipped(ctx context.Context, orgID, id string, fn func(directory.SkippedRow) error) error {
	after := -1
	for {
		p, err := a.ListSkipped(ctx, orgID, id, after, MaxPage)
		if err != nil {
			return err
		}
		for _, r := range p.Rows {
			if err := fn(r); err != nil {
				return err
			}
		}
		if p.Next < 0 {
			return nil
		}
		after = p.Next
	}
}
