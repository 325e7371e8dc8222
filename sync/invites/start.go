package invites

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"tether/sync/directory"
)

// Tasks queues an import's task (invites:import, or invites:import_emails for an email
// list). Queuing one that is queued already is not an error (a TaskID per import).
// Implemented in worker.
type Tasks interface {
	QueueImport(ctx context.Context, imp directory.Import) error
}

// Start is the one producer of imports, called by the CLI, the HTTP API and the demo
// alike: it validates req, resolves profile names when it can, stores the import and
// queues its task. Errors are those of Create, *UnknownProfilesError, an *Error with
// CodeNoConnection, or a *NotQueuedError.
//
// Profile names are resolved here, with one Salesforce query, when the org's team
// connection is usable, so an unknown name is refused before anything is stored (the
// error lists the existing profiles) and the stored selection holds ids. When Salesforce
// cannot be asked now (no Directories in this process, Salesforce unreachable) the names
// are stored as typed and the import's run resolves them; an unknown name then fails the
// import with the same message, visible in its status.
//
// A queue failure leaves the import stored as queued and returns it with a
// *NotQueuedError: the reconciler queues its task once Redis answers, so the caller tells
// the user so rather than starting the import again (which would create a second one).
func (s *Service) Start(ctx context.Context, req Request) (directory.Import, error) {
	if s.tasks == nil {
		return directory.Import{}, errors.New("invites: Config.Tasks is required to start imports")
	}
	if err := CheckText(req); err != nil {
		return directory.Import{}, err
	}
	req, err := s.resolveProfiles(ctx, req)
	if err != nil {
		return directory.Import{}, err
	}
	if err := s.checkConnection(ctx, req); err != nil {
		return directory.Import{}, err
	}
	imp, err := s.Create(ctx, req)
	if err != nil {
		return directory.Import{}, err
	}
	if err := s.tasks.QueueImport(ctx, imp); err != nil {
		return imp, &NotQueuedError{Import: imp, Err: err}
	}
	return imp, nil
}

// NotQueuedError says an import was stored but its task could not be queued (Redis did not
// answer). The import stays queued and the reconciler queues its task once Redis answers.
type NotQueuedError struct {
	Import directory.Import
	Err    error
}

// Message is the sentence for a person, without the driver's error (for API clients).
func (e *NotQueuedError) Message() string {
	return fmt.Sprintf("import %s is stored but its task could not be queued: it stays queued, and the reconciler queues it "+
		"once Redis answers (when a worker starts, and every TETHER_RECONCILE_SCHEDULE); do not start it again. "+
		"Follow it with: tether invite status %s --org %s --wait", e.Import.ID, e.Import.ID, e.Import.OrgID)
}

func (e *NotQueuedError) Error() string { return e.Message() + " (cause: " + e.Err.Error() + ")" }
func (e *NotQueuedError) Unwrap() error { return e.Err }

// Get returns the org's import id with its emails counted by delivery (Import.Emails).
// An unknown org or import is an error wrapping directory.ErrNotFound.
func (s *Service) Get(ctx context.Context, orgID, id string) (directory.Import, error) {
	if _, err := s.store.GetOrg(ctx, orgID); err != nil {
		return directory.Import{}, fmt.Errorf("get import %s: %w", id, err)
	}
	imp, err := s.store.GetImport(ctx, orgID, id)
	if err != nil {
		return directory.Import{}, fmt.Errorf("get import %s: %w", id, err)
	}
	c, err := s.store.InviteDeliveryCounts(ctx, orgID, id)
	if err != nil {
		return directory.Import{}, fmt.Errorf("get import %s: %w", id, err)
	}
	imp.Emails = &c
	return imp, nil
}

// resolveProfiles replaces the profile names of req by their ids (see Start).
func (s *Service) resolveProfiles(ctx context.Context, req Request) (Request, error) {
	// Ids are checked with the names, so an unknown id is refused like an unknown name.
	var refs []string
	for _, p := range req.Profiles {
		if p = strings.TrimSpace(p); p != "" {
			refs = append(refs, p)
		}
	}
	if len(refs) == 0 || s.dirs == nil || req.OrgID == "" {
		return req, nil
	}
	if _, err := s.store.GetOrg(ctx, req.OrgID); err != nil {
		return req, nil // Create reports an unknown org
	}
	dir, err := s.dirs.Open(ctx, req.OrgID)
	if errors.Is(err, ErrNoConnection) {
		return req, noConnection(req.OrgID)
	}
	var ids map[string]string
	if err == nil {
		ids, err = dir.ResolveProfiles(ctx, refs)
	}
	var (
		unknown *UnknownProfilesError
		refused *Error
	)
	switch {
	case errors.As(err, &unknown), errors.As(err, &refused):
		return req, err
	case err != nil:
		// Salesforce cannot be asked now: the run resolves the names (see Start).
		return req, nil
	}
	out := req
	out.ProfilesChecked = true
	out.Profiles = nil
	for _, p := range req.Profiles {
		if id, ok := ids[strings.TrimSpace(p)]; ok {
			p = id
		}
		out.Profiles = append(out.Profiles, p)
	}
	return out, nil
}

// checkConnection refuses an import by user ids of an org without a usable team
// connection, as resolveProfiles does one by profiles: queued, it could only fail.
func (s *Service) checkConnection(ctx context.Context, req Request) error {
	if len(req.UserIDs) == 0 || s.dirs == nil || req.OrgID == "" {
		return nil
	}
	if _, err := s.store.GetOrg(ctx, req.OrgID); err != nil {
		return nil // Create reports an unknown org
	}
	if _, err := s.dirs.Open(ctx, req.OrgID); errors.Is(err, ErrNoConnection) {
		return noConnection(req.OrgID)
	}
	return nil
}

// noConnection is the producer's refusal of a Salesforce import of an org whose team
// connection is missing or must be connected again: a sentence with the fix (the error
// chain, which repeats the org, says no more).
func noConnection(orgID string) *Error {
	return &Error{Code: CodeNoConnection,
		Message: fmt.Sprintf("org %s has no usable team-level Salesforce connection (none yet, or one that must be connected again): "+
			"connect it with `tether org connect-salesforce %s` (POST /v1/orgs/%s/connect-links), then start the import again",
			orgID, orgID, orgID)}
}
