package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"tether/sync/directory"
)

// SaveCheckpoint writes one page's checkpoint in one transaction (or the caller's):
// the import as UpdateImport does, cp.Seen as a row of the import's seen set keyed by
// the import's progress after the page, and cp.Skipped (a row already stored at its key
// is kept, so a re-run of a page after a crash adds nothing). A page's seen row costs the
// same at the import's first page as at its thousandth. Returns directory.ErrNotFound if
// orgID has no such import, an error wrapping directory.ErrImportCancelled if it was
// cancelled (then nothing is written).
func (q *Queries) SaveCheckpoint(ctx context.Context, orgID string, cp directory.Checkpoint, at time.Time) error {
	if len(cp.Skipped) == 0 && len(cp.Seen) == 0 {
		return q.UpdateImport(ctx, orgID, cp.Import, at)
	}
	return q.inTx(ctx, func(tx *Queries) error {
		if err := tx.UpdateImport(ctx, orgID, cp.Import, at); err != nil {
			return err
		}
		if err := tx.insertSeen(ctx, orgID, cp.Import.ID, cp.Import.Progress.Done, cp.Seen); err != nil {
			return err
		}
		return tx.insertSkipped(ctx, orgID, cp.Import.ID, cp.Skipped)
	})
}

// insertSeen stores one page's hashes as 8 big-endian bytes each.
func (q *Queries) insertSeen(ctx context.Context, orgID, importID string, done int, hs []uint64) error {
	if len(hs) == 0 {
		return nil
	}
	b := make([]byte, 8*len(hs))
	for i, h := range hs {
		binary.BigEndian.PutUint64(b[8*i:], h)
	}
	_, err := q.q.ExecContext(ctx, `INSERT INTO import_seen (org_id, import_id, done, hashes) VALUES ($1, $2, $3, $4)
ON CONFLICT (org_id, import_id, done) DO NOTHING`, orgID, importID, done, b)
	if err != nil {
		return q.wrap(err, "save seen emails of import %s in org %s", importID, orgID)
	}
	return nil
}

func (q *Queries) insertSkipped(ctx context.Context, orgID, importID string, rows []directory.SkippedRow) error {
	if len(rows) == 0 {
		return nil
	}
	args := make([][]any, len(rows))
	for i, r := range rows {
		// insertRows returns the first value as the id; seq is unique per import.
		// The user's id, email and name come from Salesforce: clipped, not refused.
		args[i] = []any{r.Seq, orgID, importID, directory.Clip(r.SalesforceUserID, directory.MaxProviderID),
			directory.Clip(r.Email, directory.MaxProviderID), directory.Clip(r.Name, directory.MaxProviderID), r.Reason}
	}
	_, err := q.insertRowsReturning(ctx, "import_skipped", "seq, org_id, import_id, salesforce_user_id, email, name, reason", "seq", args)
	if err != nil {
		return fmt.Errorf("save skipped rows of import %s in org %s: %w", importID, orgID, err)
	}
	return nil
}

// ImportSeen returns the hashes of the emails the org's import id has seen, in the order
// its pages saved them (see SaveCheckpoint). Returns directory.ErrNotFound if the org
// has no such import.
func (q *Queries) ImportSeen(ctx context.Context, orgID, id string) ([]uint64, error) {
	if _, err := q.GetImport(ctx, orgID, id); err != nil {
		return nil, err
	}
	rows, err := q.q.QueryContext(ctx, `SELECT done, hashes FROM import_seen
WHERE org_id = $1 AND import_id = $2 ORDER BY done`, orgID, id)
	if err != nil {
		return nil, q.wrap(err, "read seen emails of import %s in org %s", id, orgID)
	}
	defer rows.Close()
	var out []uint64
	for rows.Next() {
		var (
			done int
			b    []byte
		)
		if err := rows.Scan(&done, &b); err != nil {
			return nil, q.wrap(err, "read seen emails of import %s in org %s", id, orgID)
		}
		if len(b)%8 != 0 {
			return nil, fmt.Errorf("read seen emails of import %s in org %s: malformed row at progress %d (%d bytes)", id, orgID, done, len(b))
		}
		for i := 0; i < len(b); i += 8 {
			out = append(out, binary.BigEndian.Uint64(b[i:]))
		}
	}
	if err := rows.Err(); err != nil {
		return nil, q.wrap(err, "read seen emails of import %s in org %s", id, orgID)
	}
	return out, nil
}

// ListSkipped returns the rows the org's import did not invite, in import order, those
// with seq > afterSeq (-1: from the start), at most limit (<= 0: 1000). An unknown import
// gives an empty list: check it exists first where that matters.
func (q *Queries) ListSkipped(ctx context.Context, orgID, importID string, afterSeq, limit int) ([]directory.SkippedRow, error) {
	rows, err := q.q.QueryContext(ctx, `SELECT seq, salesforce_user_id, email, name, reason FROM import_skipped
WHERE org_id = $1 AND import_id = $2 AND seq > $3 ORDER BY seq LIMIT $4`, orgID, importID, afterSeq, pageSize(limit))
	if err != nil {
		return nil, q.wrap(err, "list skipped rows of import %s in org %s", importID, orgID)
	}
	return collect(rows, func(s scanner) (directory.SkippedRow, error) {
		var r directory.SkippedRow
		return r, s.Scan(&r.Seq, &r.SalesforceUserID, &r.Email, &r.Name, &r.Reason)
	})
}

// ListImportsPage returns the org's imports newest first, those older than the import
// beforeID (empty: from the newest), at most limit (<= 0: 1000). Returns directory.ErrNotFound if
// beforeID is set and the org has no such import.
func (q *Queries) ListImportsPage(ctx context.Context, orgID, beforeID string, limit int) ([]directory.Import, error) {
	if beforeID == "" {
		return q.ListImports(ctx, orgID, limit)
	}
	cur, err := q.GetImport(ctx, orgID, beforeID)
	if err != nil {
		return nil, err
	}
	rows, err := q.q.QueryContext(ctx, `SELECT `+importCols+` FROM imports
WHERE org_id = $1 AND (created_at < $2 OR (created_at = $2 AND id < $3))
ORDER BY created_at DESC, id DESC LIMIT $4`, orgID, tm(cur.CreatedAt), cur.ID, pageSize(limit))
	if err != nil {
		return nil, q.wrap(err, "list imports in org %s", orgID)
	}
	return collect(rows, scanImport)
}

// CancelImport marks the org's queued, running or paused import id cancelled at time at
// and returns it. Its run stops at its next page write (UpdateImport refuses to overwrite
// a cancelled import). Returns directory.ErrNotFound if the org has no such import, directory.ErrConflict
// if it already finished (done, failed or cancelled).
func (q *Queries) CancelImport(ctx context.Context, orgID, id string, at time.Time) (directory.Import, error) {
	res, err := q.q.ExecContext(ctx, `UPDATE imports SET status = 'cancelled', finished_at = $3, updated_at = $3,
paused_until = NULL, paused_reason = ''
WHERE org_id = $1 AND id = $2 AND status IN ('queued', 'running', 'paused')`, orgID, id, tm(at))
	err = q.affected(res, err, "cancel import %s in org %s", id, orgID)
	imp, gerr := q.GetImport(ctx, orgID, id)
	switch {
	case gerr != nil:
		return directory.Import{}, gerr
	case errors.Is(err, directory.ErrNotFound):
		return imp, fmt.Errorf("cancel import %s in org %s: it is %s: %w", id, orgID, imp.Status, directory.ErrConflict)
	case err != nil:
		return directory.Import{}, err
	}
	return imp, nil
}

// ExpireLapsedInvites marks those of ids that are the org's pending invites past their
// expiry at time at as expired, freeing their (org, email) slot for a new invite. An
// invite renewed meanwhile (expiry moved past at) is left alone.
func (q *Queries) ExpireLapsedInvites(ctx context.Context, orgID string, ids []string, at time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	arg, err := jsonArg(ids)
	if err != nil {
		return fmt.Errorf("expire lapsed invites in org %s: %w", orgID, err)
	}
	_, err = q.q.ExecContext(ctx, `UPDATE invites SET status = 'expired', updated_at = $3
WHERE org_id = $1 AND status = 'pending' AND expires_at <= $3 AND id IN (SELECT e.value FROM `+q.d.textSet("$2")+` e)`,
		orgID, arg, tm(at))
	return q.wrap(err, "expire lapsed invites in org %s", orgID)
}

// ReserveInviteSeat makes the org's invite id hold a seat until expiresAt, as a new
// invite would: under the org's seat lock (LockOrgSeats), a pending invite that has not
// lapsed already holds one and is left as it is; a lapsed or expired one takes a free
// seat, becomes pending and gets expiresAt. Returns directory.ErrNotFound if the org has no such
// invite, directory.ErrConflict if it was accepted or revoked, an error wrapping
// directory.ErrNoSeat if the org has no free seat, directory.ErrDuplicate if the org has another
// pending invite for the email now.
func (q *Queries) ReserveInviteSeat(ctx context.Context, orgID, id string, expiresAt, at time.Time) error {
	return q.inTx(ctx, func(tx *Queries) error {
		seats, err := tx.LockOrgSeats(ctx, orgID, at)
		if err != nil {
			return err
		}
		inv, err := tx.GetInvite(ctx, orgID, id)
		if err != nil {
			return err
		}
		switch {
		case inv.Status == directory.InvitePending && inv.ExpiresAt.After(at):
			return nil
		case inv.Status != directory.InvitePending && inv.Status != directory.InviteExpired:
			return fmt.Errorf("reserve a seat for invite %s in org %s: it is %s: %w", id, orgID, inv.Status, directory.ErrConflict)
		case seats.Available() == 0:
			return fmt.Errorf("reserve a seat for invite %s in org %s: %d of %d seats used: %w",
				id, orgID, seats.Used(), seats.Limit, directory.ErrNoSeat)
		}
		res, err := tx.q.ExecContext(ctx, `UPDATE invites SET status = 'pending', expires_at = $3, updated_at = $4
WHERE org_id = $1 AND id = $2`, orgID, id, tm(expiresAt), tm(at))
		return tx.affected(res, err, "reserve a seat for invite %s in org %s", id, orgID)
	})
}
