package invites

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"

	"tether/sync/directory"
)

// Run runs (or resumes) the org's import importID to the end and returns it as stored.
//
// A finished import (done or failed) is returned unchanged, so a duplicate task is a no-op.
// Errors: *Error or *UnknownProfilesError for a request that cannot succeed (the import
// is marked failed with the message); *PausedError when the org's API budget is spent (the
// import is marked paused; retry after RetryAfter); anything else is transient: the import
// stays running with its checkpoint and a retry resumes it.
func (s *Service) Run(ctx context.Context, orgID, importID string) (directory.Import, error) {
	imp, err := s.store.GetImport(ctx, orgID, importID)
	if err != nil {
		if errors.Is(err, directory.ErrNotFound) {
			return directory.Import{}, &Error{Code: "import_not_found", Message: fmt.Sprintf("import %s of org %s does not exist", importID, orgID)}
		}
		return directory.Import{}, fmt.Errorf("run import %s: %w", importID, err)
	}
	if imp.Status.Finished() {
		return imp, nil
	}
	var saved []uint64
	if imp.Progress.Done > 0 {
		// Only a resumed run has emails to remember; a fresh one saves a round trip.
		if saved, err = s.store.ImportSeen(ctx, orgID, importID); err != nil {
			return directory.Import{}, fmt.Errorf("run import %s: %w", importID, err)
		}
	}
	r := &run{s: s, imp: imp, seen: newEmailSet(imp.ID, saved), resumed: imp.Progress.Done > 0 || imp.Status != directory.ImportQueued}
	now := s.now()
	r.imp.Status = directory.ImportRunning
	r.imp.PausedUntil, r.imp.PausedReason = time.Time{}, ""
	if r.imp.StartedAt.IsZero() {
		r.imp.StartedAt = now
	}
	if err := s.store.UpdateImport(ctx, orgID, r.imp, now); err != nil {
		if errors.Is(err, directory.ErrImportCancelled) {
			return r.cancelled(ctx)
		}
		return directory.Import{}, fmt.Errorf("run import %s: %w", importID, err)
	}
	if imp.DryRun {
		seats, err := s.store.CountSeats(ctx, orgID, now)
		if err != nil {
			return directory.Import{}, fmt.Errorf("run import %s: %w", importID, err)
		}
		r.drySeats = seats
	}
	if len(imp.Selection.Emails) > 0 {
		err = r.emails(ctx)
	} else {
		err = r.salesforce(ctx)
	}
	if err != nil {
		return r.stop(ctx, err)
	}
	return r.finish(ctx)
}

// Fail marks the org's import failed with reason, unless it already finished: the worker
// calls it when the import's task gave up (its last retry failed, or the task was lost
// after its retries ran out), so the row never keeps saying running.
func (s *Service) Fail(ctx context.Context, orgID, importID, reason string) (directory.Import, error) {
	imp, err := s.store.GetImport(ctx, orgID, importID)
	if err != nil {
		return directory.Import{}, fmt.Errorf("fail import %s: %w", importID, err)
	}
	if imp.Status == directory.ImportDone || imp.Status == directory.ImportFailed {
		return imp, nil
	}
	now := s.now()
	imp.Status = directory.ImportFailed
	imp.FinishedAt = now
	imp.PausedUntil, imp.PausedReason = time.Time{}, ""
	imp.Errors = append(imp.Errors, reason)
	if err := s.store.UpdateImport(ctx, orgID, imp, now); err != nil {
		return directory.Import{}, fmt.Errorf("fail import %s: %w", importID, err)
	}
	return imp, nil
}

// run is one execution of an import.
type run struct {
	s       *Service
	imp     directory.Import
	seen    *emailSet
	resumed bool
	// dir is the org's Salesforce directory (nil for the email route).
	dir Directory
	// drySeats and dryTaken stand in for the seat lock on a dry run.
	drySeats directory.Seats
	dryTaken int
}

// stop records why the run stopped and returns err for the worker.
func (r *run) stop(ctx context.Context, err error) (directory.Import, error) {
	var (
		e  *Error
		up *UnknownProfilesError
		pe *PausedError
		le *LimitError
	)
	now := r.s.now()
	if errors.As(err, &le) {
		err = r.limitPause(le, now)
	}
	switch {
	case errors.Is(err, directory.ErrImportCancelled):
		return r.cancelled(ctx)
	case errors.As(err, &pe):
		r.imp.Status = directory.ImportPaused
		r.imp.PausedUntil, r.imp.PausedReason = pe.Until, pe.Reason
	case errors.As(err, &e), errors.As(err, &up):
		r.imp.Status = directory.ImportFailed
		r.imp.FinishedAt = now
		msg := err.Error()
		if e != nil && e.Code == CodeAPIDisabled {
			msg = e.Message // says what the admin must change; the wrapping adds nothing
		}
		r.imp.Errors = append(r.imp.Errors, msg)
	case ctx.Err() != nil:
		// Stopped (worker shutdown, lapsed lease): resume soon, without spending a retry.
		return r.imp, &InterruptedError{ImportID: r.imp.ID, Err: err}
	default:
		// Transient: leave it running with its checkpoint; the retry resumes.
		return r.imp, fmt.Errorf("run import %s: %w", r.imp.ID, err)
	}
	// The context may be what failed; the status must still be written.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if uerr := r.s.store.UpdateImport(wctx, r.imp.OrgID, r.imp, now); uerr != nil {
		return r.imp, fmt.Errorf("run import %s: %w (and saving its status: %w)", r.imp.ID, err, uerr)
	}
	return r.imp, err
}

func (r *run) finish(ctx context.Context) (directory.Import, error) {
	if r.resumed && !r.imp.DryRun {
		if err := r.requeueUnsent(ctx); err != nil {
			return r.stop(ctx, err)
		}
	}
	now := r.s.now()
	r.imp.Status = directory.ImportDone
	r.imp.FinishedAt = now
	if n := r.imp.Counts.OverSeatLimit; n > 0 {
		r.imp.Errors = append(r.imp.Errors, SeatsMissingMessage(n))
	}
	if err := r.s.store.UpdateImport(ctx, r.imp.OrgID, r.imp, now); err != nil {
		if errors.Is(err, directory.ErrImportCancelled) {
			return r.cancelled(ctx)
		}
		return r.imp, fmt.Errorf("finish import %s: %w", r.imp.ID, err)
	}
	return r.imp, nil
}

// cancelled ends a run whose import an admin cancelled: nothing more is written (the
// page that noticed was rolled back) and the import is returned as stored, without error,
// so the task is not retried.
func (r *run) cancelled(ctx context.Context) (directory.Import, error) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	imp, err := r.s.store.GetImport(rctx, r.imp.OrgID, r.imp.ID)
	if err != nil {
		return r.imp, fmt.Errorf("import %s was cancelled; reading it: %w", r.imp.ID, err)
	}
	return imp, nil
}

// SeatsMissingMessage is the import error stating how many seats an import lacked.
func SeatsMissingMessage(n int) string {
	s := "s"
	if n == 1 {
		s = ""
	}
	return fmt.Sprintf("%d seat%s missing: %d %s could not be invited within the org's seat limit", n, s, n, people(n))
}

func people(n int) string {
	if n == 1 {
		return "person"
	}
	return "people"
}

// requeueUnsent queues the sends of the import's invites that were never sent. A crash
// between a page's commit and its sends leaves such invites; queuing one twice is
// harmless (see Sender).
func (r *run) requeueUnsent(ctx context.Context) error {
	after := ""
	for {
		ids, err := r.s.store.UnsentInvites(ctx, r.imp.OrgID, r.imp.ID, after, 1000)
		if err != nil {
			return fmt.Errorf("requeue sends of import %s: %w", r.imp.ID, err)
		}
		if len(ids) == 0 {
			return nil
		}
		if err := r.s.sender.QueueSends(ctx, r.imp.OrgID, ids); err != nil {
			return fmt.Errorf("requeue sends of import %s: %w", r.imp.ID, err)
		}
		after = ids[len(ids)-1]
	}
}

// emails runs the plain email route: the selection's addresses in pages, skipping those a
// previous run already wrote.
func (r *run) emails(ctx context.Context) error {
	all := r.imp.Selection.Emails
	r.imp.Progress.Total = len(all)
	for start := r.imp.Progress.Done; start < len(all); start += r.s.pageSize {
		end := min(start+r.s.pageSize, len(all))
		rows := make([]SalesforceUser, 0, end-start)
		for _, e := range all[start:end] {
			rows = append(rows, SalesforceUser{Email: e})
		}
		if err := r.page(ctx, rows, false, nil, ""); err != nil {
			return err
		}
	}
	return nil
}

// salesforce streams the selected Salesforce users through the org's directory.
func (r *run) salesforce(ctx context.Context) error {
	if r.s.dirs == nil {
		return errors.New("invites: no Salesforce directory configured")
	}
	dir, err := r.s.dirs.Open(ctx, r.imp.OrgID)
	if err != nil {
		if errors.Is(err, ErrNoConnection) {
			// The producer's sentence, which names the verb and route that connect it.
			return noConnection(r.imp.OrgID)
		}
		return fmt.Errorf("open Salesforce directory of org %s: %w", r.imp.OrgID, err)
	}
	r.dir = dir
	sel := r.imp.Selection
	if len(sel.UserIDs) > 0 {
		return r.byUserIDs(ctx, sel.UserIDs)
	}
	ids := slices.Clone(sel.ProfileIDs)
	if len(sel.ProfileNames) > 0 || !sel.ProfilesChecked {
		// Ids are checked with the names, in the same query: an unknown id fails the
		// import like an unknown name instead of silently finding nobody.
		refs := append(slices.Clone(sel.ProfileIDs), sel.ProfileNames...)
		m, err := dir.ResolveProfiles(ctx, refs)
		if err != nil {
			return fmt.Errorf("resolve profiles of import %s: %w", r.imp.ID, err)
		}
		ids = nil
		seen := make(map[string]bool, len(refs))
		for _, ref := range refs {
			if id := m[ref]; !seen[id] {
				seen[id] = true
				ids = append(ids, id)
			}
		}
	}
	if err := r.checkBudget(); err != nil {
		return err
	}
	q := UserQuery{ProfileIDs: ids, ActiveStandardOnly: true, AfterID: r.imp.Progress.Cursor}
	base, first := r.imp.Progress.Done, true
	return r.streamPages(ctx, q, func(page []SalesforceUser, total int) error {
		if first {
			// After a resume Salesforce counts only what is left.
			r.imp.Progress.Total, first = base+total, false
		}
		if err := r.page(ctx, page, false, nil, lastID(page)); err != nil {
			return err
		}
		if r.imp.Progress.Done < r.imp.Progress.Total {
			return r.checkBudget()
		}
		return nil
	})
}

// byUserIDs reads the selected users without the active/standard filter, so every id is
// accounted for: skipped as inactive or not standard, or not found.
func (r *run) byUserIDs(ctx context.Context, ids []string) error {
	ids = slices.Clone(ids)
	slices.Sort(ids)
	r.imp.Progress.Total = len(ids)
	// Ids sort like Salesforce's ORDER BY Id, so the ids a page skipped over were not
	// returned: they are not found. pending is what is left to match.
	pending := ids
	if c := r.imp.Progress.Cursor; c != "" {
		i, _ := slices.BinarySearch(pending, c)
		if i < len(pending) && pending[i] == c {
			i++
		}
		pending = pending[i:]
	}
	q := UserQuery{UserIDs: pending, AfterID: r.imp.Progress.Cursor}
	err := r.streamPages(ctx, q, func(page []SalesforceUser, _ int) error {
		var missing []string
		for _, u := range page {
			for len(pending) > 0 && pending[0] < u.ID {
				missing = append(missing, pending[0])
				pending = pending[1:]
			}
			if len(pending) > 0 && pending[0] == u.ID {
				pending = pending[1:]
			}
		}
		if err := r.page(ctx, page, true, missing, lastID(page)); err != nil {
			return err
		}
		if len(pending) > 0 {
			return r.checkBudget()
		}
		return nil
	})
	if err != nil {
		return err
	}
	if len(pending) > 0 {
		return r.page(ctx, nil, true, pending, pending[len(pending)-1])
	}
	return nil
}

func lastID(page []SalesforceUser) string {
	if len(page) == 0 {
		return ""
	}
	return page[len(page)-1].ID
}

// limitPause turns Salesforce's refusal for the org's limits into a pause: the daily
// allocation waits Config.PauseFor (the rolling 24 hours free calls gradually; the next
// attempt's first call, or its Sforce-Limit-Info against the budget share, tells whether
// usage allows going on), too many concurrent requests the provider's short delay.
func (r *run) limitPause(le *LimitError, now time.Time) *PausedError {
	delay, reason := le.Delay, "too many concurrent Salesforce API requests"
	if le.Daily {
		delay, reason = r.s.pauseFor, "the org's daily Salesforce API allocation is spent"
		if r.dir != nil {
			if u, ok := r.dir.Usage(); ok && u.Max > 0 {
				reason += fmt.Sprintf(" (%d of %d calls used in the last 24 hours)", u.Used, u.Max)
			}
		}
	}
	delay = max(delay, time.Second)
	return &PausedError{ImportID: r.imp.ID, Until: now.Add(delay), delay: delay,
		Reason: reason + "; the import resumes from its checkpoint then, without spending a retry"}
}

// checkBudget pauses the import when the org's API usage is past the configured share.
func (r *run) checkBudget() error {
	if r.dir == nil || r.s.share >= 1 {
		return nil
	}
	u, ok := r.dir.Usage()
	if !ok || u.Max <= 0 || float64(u.Used) < r.s.share*float64(u.Max) {
		return nil
	}
	return &PausedError{
		ImportID: r.imp.ID,
		Until:    r.s.now().Add(r.s.pauseFor),
		Reason: fmt.Sprintf("Salesforce API budget: %d of %d daily calls used (pausing above %.0f%%)",
			u.Used, u.Max, r.s.share*100),
		delay: r.s.pauseFor,
	}
}

// page decides and writes one page of rows. missing are selected user ids Salesforce did
// not return (counted not found); cursor is the checkpoint after this page.
func (r *run) page(ctx context.Context, rows []SalesforceUser, checkActive bool, missing []string, cursor string) error {
	now := r.s.now()
	next := r.imp // written only once the page commits
	base := r.imp.Progress.Done
	next.Counts.NotFound += len(missing)
	var notFound []directory.SkippedRow
	for i, id := range missing {
		next.Refused = appendRefused(next.Refused, directory.RefusedRow{SalesforceUserID: id, Reason: ReasonNotFound})
		notFound = append(notFound, directory.SkippedRow{Seq: base + len(rows) + i, SalesforceUserID: id, Reason: ReasonNotFound})
	}
	next.Progress.Done += len(rows) + len(missing)
	if cursor != "" {
		next.Progress.Cursor = cursor
	}
	var sit map[string]directory.EmailSituation
	if emails := pageEmails(rows, checkActive, r.seen); len(emails) > 0 {
		var err error
		if sit, err = r.s.store.LookupEmails(ctx, r.imp.OrgID, emails, now); err != nil {
			return fmt.Errorf("import %s: %w", r.imp.ID, err)
		}
	}
	// A page that fails ends the run (the retry starts a new one and reloads the saved
	// set), so emails screen adds for a rolled-back page never mislead a later page.
	cands, skipped := screen(rows, checkActive, sit, r.seen, &next.Counts, base)
	skipped = append(skipped, notFound...)
	seen := r.seen.take()

	if r.imp.DryRun {
		avail := r.drySeats.Available()
		if avail >= 0 {
			avail = max(avail-r.dryTaken, 0)
		}
		keep, refused := split(cands, avail)
		r.dryTaken += len(keep)
		cp := directory.Checkpoint{Import: next, Skipped: skipped, Seen: seen}
		tally(&cp, keep, nil, refused)
		if err := r.s.store.SaveCheckpoint(ctx, r.imp.OrgID, cp, now); err != nil {
			return fmt.Errorf("import %s: %w", r.imp.ID, err)
		}
		r.imp = cp.Import
		return nil
	}

	var keep, refused []candidate
	plan := func(seats directory.Seats) (Page, error) {
		keep, refused = split(cands, seats.Available())
		return r.build(keep, now), nil
	}
	var saved directory.Import
	finish := func(res PageResult) (directory.Checkpoint, error) {
		cp := directory.Checkpoint{Import: next, Skipped: slices.Clone(skipped), Seen: seen}
		tally(&cp, keep, setOf(res.InviteIDs), refused)
		saved = cp.Import
		return cp, nil
	}
	if err := r.s.store.WritePage(ctx, r.imp.OrgID, now, plan, finish); err != nil {
		if errors.Is(err, directory.ErrImportCancelled) {
			return err
		}
		return fmt.Errorf("import %s: write page: %w", r.imp.ID, err)
	}
	r.imp = saved
	var sent []string
	for _, c := range keep {
		if c.sent {
			sent = append(sent, c.inviteID)
		}
	}
	if len(sent) > 0 {
		if err := r.s.sender.QueueSends(ctx, r.imp.OrgID, sent); err != nil {
			// The page is committed; the retry's resume sweep queues these sends.
			r.resumed = true
			return fmt.Errorf("import %s: queue sends: %w", r.imp.ID, err)
		}
	}
	return nil
}

// build turns the kept candidates into rows, one invite each (ids made here so the
// result can be matched back) plus a pending membership for existing users without one.
func (r *run) build(keep []candidate, now time.Time) Page {
	var p Page
	src := directory.SourceSalesforce
	if len(r.imp.Selection.Emails) > 0 {
		src = directory.SourceEmail
	}
	for i := range keep {
		c := &keep[i]
		c.inviteID = newID()
		p.Invites = append(p.Invites, directory.Invite{
			ID: c.inviteID, Email: c.email, Role: r.imp.Role, GroupID: r.imp.GroupID, Source: src,
			SalesforceUserID: c.row.ID, SalesforceUsername: c.row.Username, TimeZone: c.row.TimeZone, TokenHash: placeholderHash(), Status: directory.InvitePending,
			ExpiresAt: now.Add(r.s.ttl), ImportID: r.imp.ID, CreatedAt: now,
		})
		if c.lapsedInviteID != "" {
			p.Expire = append(p.Expire, c.lapsedInviteID)
		}
		if c.addMembership {
			p.Memberships = append(p.Memberships, directory.Membership{
				ID: newID(), UserID: c.userID, Role: r.imp.Role, Status: directory.MembershipPending,
				GroupIDs: nonBlank([]string{r.imp.GroupID}), SalesforceUserID: c.row.ID, CreatedAt: now,
			})
		}
	}
	return p
}

// tally adds the page's outcome to cp: kept candidates whose invite was inserted count
// as invited or multi-account (and are marked sent for queueing), those whose invite
// conflicted with one created meanwhile as already invited; refused ones are over the seat
// limit and listed. The rows not invited join cp.Skipped. inserted nil means all were
// inserted (a dry run).
func tally(cp *directory.Checkpoint, keep []candidate, inserted map[string]bool, refused []candidate) {
	imp := &cp.Import
	for i := range keep {
		c := &keep[i]
		c.sent = inserted == nil || inserted[c.inviteID]
		switch {
		case !c.sent:
			imp.Counts.AlreadyInvited++
			cp.Skipped = append(cp.Skipped, skippedOf(*c, ReasonAlreadyInvited))
		case c.multiAccount:
			imp.Counts.AddedMultiAccount++
		default:
			imp.Counts.Invited++
		}
	}
	for _, c := range refused {
		imp.Counts.OverSeatLimit++
		imp.Refused = appendRefused(imp.Refused, directory.RefusedRow{
			SalesforceUserID: c.row.ID, Email: c.email, Name: c.row.Name, Reason: ReasonOverSeatLimit,
		})
		cp.Skipped = append(cp.Skipped, skippedOf(c, ReasonOverSeatLimit))
	}
}

func skippedOf(c candidate, reason string) directory.SkippedRow {
	return directory.SkippedRow{Seq: c.seq, SalesforceUserID: c.row.ID, Email: c.email, Name: c.row.Name, Reason: reason}
}

func setOf(ids []string) map[string]bool {
	m := make(map[string]bool, len(ids))
	for _, id := range ids {
		m[id] = true
	}
	return m
}

func appendRefused(l []directory.RefusedRow, r directory.RefusedRow) []directory.RefusedRow {
	if len(l) >= directory.MaxRefusedRows {
		return l
	}
	return append(l, r)
}

func newID() string { return uuid.Must(uuid.NewV7()).String() }

// placeholderHash is the token hash an invite holds until its first email: the hash of 32
// random bytes nobody keeps, so no link opens it. Sending sets the real one.
func placeholderHash() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	h := sha256.Sum256(b[:])
	return "unsent:" + hex.EncodeToString(h[:])
}
