package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/hibiken/asynq"
	"github.com/rs/zerolog"

	"tether/connectors/salesforce"
	"tether/jobs"
	"tether/sync/directory"
	"tether/sync/invites"
	"tether/sync/store"
	"tether/worker"
)

// importParts are the invite import's wired parts: the service (Create for producers,
// Run for the worker) and the org directories it reads Salesforce through.
type importParts struct {
	svc  *invites.Service
	dirs invites.Directories // nil without the key ring: producers that only create
	st   store.Invites
}

// importService builds the invite import. Sends are queued through client. With the key
// ring (d.keyring) it also reads Salesforce through each org's team connection
// (teamTokens), recording the API usage it sees in the store; close the returned closer.
func importService(d deps, client worker.Enqueuer) (importParts, io.Closer, error) {
	st := store.Invites{Store: d.store}
	var (
		dirs   invites.Directories
		closer io.Closer = nopCloser{}
	)
	if d.keyring != nil {
		tokens, c, err := d.teamTokens()
		if err != nil {
			return importParts{}, nil, err
		}
		sd, err := salesforce.NewInviteDirectories(salesforce.InviteDirectoriesParams{
			Auth:  salesforce.TeamAuthFrom(tokens),
			Usage: d.store,
		})
		if err != nil {
			_ = c.Close()
			return importParts{}, nil, err
		}
		dirs, closer = sd, c
	}
	svc, err := invites.New(invites.Config{
		Store:       st,
		Directories: dirs,
		Sender:      worker.InviteSendQueue{Client: client},
		InviteTTL:   d.cfg.InviteTTL,
	})
	if err != nil {
		_ = closer.Close()
		return importParts{}, nil, err
	}
	return importParts{svc: svc, dirs: dirs, st: st}, closer, nil
}

type nopCloser struct{}

func (nopCloser) Close() error { return nil }

// importer creates imports and queues their tasks: what `tether invite import`, the HTTP
// API and the demo share (api.Imports).
type importer struct {
	parts  importParts
	client *asynq.Client
	log    zerolog.Logger
}

// Start validates req, resolves profile names when it can, stores the import and queues
// its task.
//
// Profile names are resolved here, with one Salesforce query, when the org has a usable
// team connection, so an unknown name is refused at once (*invites.UnknownProfilesError
// listing the existing profiles) and the stored selection holds ids. When Salesforce
// cannot be asked now (no key ring in this process, Salesforce unreachable) the names are
// stored as typed and the task resolves them; an unknown name then fails the import with
// the same message, visible in its status.
func (im importer) Start(ctx context.Context, req invites.Request) (directory.Import, error) {
	req, err := im.resolveProfiles(ctx, req)
	if err != nil {
		return directory.Import{}, err
	}
	imp, err := im.parts.svc.Create(ctx, req)
	if err != nil {
		return directory.Import{}, err
	}
	newTask := jobs.NewImportTask
	if len(imp.Selection.Emails) > 0 {
		newTask = jobs.NewImportEmailsTask
	}
	t, err := newTask(imp.OrgID, imp.ID)
	if err != nil {
		return directory.Import{}, err
	}
	if _, err := im.client.EnqueueContext(ctx, t); err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
		return directory.Import{}, fmt.Errorf("queue import %s of org %s: %w", imp.ID, imp.OrgID, err)
	}
	return imp, nil
}

// Get returns the org's import id; errors wrap storeerr.ErrNotFound for an unknown org or
// import.
func (im importer) Get(ctx context.Context, orgID, id string) (directory.Import, error) {
	if _, err := im.parts.st.GetOrg(ctx, orgID); err != nil {
		return directory.Import{}, err
	}
	return im.parts.st.GetImport(ctx, orgID, id)
}

// resolveProfiles replaces the profile names of req by their ids (see Start).
func (im importer) resolveProfiles(ctx context.Context, req invites.Request) (invites.Request, error) {
	var names []string
	for _, p := range req.Profiles {
		if p = strings.TrimSpace(p); p != "" && !looksLikeProfileID(p) {
			names = append(names, p)
		}
	}
	if len(names) == 0 || im.parts.dirs == nil || req.OrgID == "" {
		return req, nil
	}
	if _, err := im.parts.st.GetOrg(ctx, req.OrgID); err != nil {
		return req, nil // Create reports an unknown org
	}
	dir, err := im.parts.dirs.Open(ctx, req.OrgID)
	if errors.Is(err, invites.ErrNoConnection) {
		return req, &invites.Error{Code: invites.CodeNoConnection,
			Message: fmt.Sprintf("org %s: %v; connect the team-level Salesforce account first", req.OrgID, err)}
	}
	var ids map[string]string
	if err == nil {
		ids, err = dir.ResolveProfiles(ctx, names)
	}
	var unknown *invites.UnknownProfilesError
	switch {
	case errors.As(err, &unknown):
		return req, err
	case err != nil:
		im.log.Warn().Err(err).Str("org_id", req.OrgID).Msg("profile names left for the import task to resolve")
		return req, nil
	}
	out := req
	out.Profiles = nil
	for _, p := range req.Profiles {
		if id, ok := ids[strings.TrimSpace(p)]; ok {
			p = id
		}
		out.Profiles = append(out.Profiles, p)
	}
	return out, nil
}

// looksLikeProfileID mirrors invites' rule: a 15- or 18-character id starting with 00e.
func looksLikeProfileID(s string) bool {
	if (len(s) != 15 && len(s) != 18) || !strings.HasPrefix(s, "00e") {
		return false
	}
	for _, r := range s {
		if !('0' <= r && r <= '9' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z') {
			return false
		}
	}
	return true
}
