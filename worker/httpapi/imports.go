package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"tether/sync/directory"
	"tether/sync/invites"
)

// Imports starts and reads invite imports; invites.Service (the one producer) implements it.
type Imports interface {
	// Start validates, stores and queues an import. Returns *invites.Error or
	// *invites.UnknownProfilesError for a request no retry can fix.
	Start(ctx context.Context, req invites.Request) (directory.Import, error)
	// Get returns an import; an unknown org or import wraps directory.ErrNotFound.
	Get(ctx context.Context, orgID, id string) (directory.Import, error)
}

// maxImportBody bounds a POST body: 10,000 addresses of ~40 bytes fit with room to spare.
const maxImportBody = 2 << 20

// ImportRequest is the body of POST /v1/orgs/{org}/imports. Exactly one of Profiles,
// UserIDs and Emails is set.
type ImportRequest struct {
	// Profiles are Salesforce profile names or 00e… ids.
	Profiles []string `json:"profiles,omitempty"`
	// UserIDs are Salesforce user ids (005…).
	UserIDs []string `json:"user_ids,omitempty"`
	// Emails is a list of addresses separated by commas, semicolons, spaces or lines.
	Emails string `json:"emails,omitempty"`
	Role   string `json:"role"`
	Group  string `json:"group,omitempty"`
	DryRun bool   `json:"dry_run,omitempty"`
}

// ImportView is an import as the API shows it. The email list itself is not echoed (it is
// personal data and may be long); EmailCount says how many were given.
type ImportView struct {
	ID           string                 `json:"id"`
	OrgID        string                 `json:"org_id"`
	RequestedBy  string                 `json:"requested_by,omitempty"`
	Status       directory.ImportStatus `json:"status"`
	DryRun       bool                   `json:"dry_run"`
	Role         directory.Role         `json:"role"`
	GroupID      string                 `json:"group_id,omitempty"`
	ProfileIDs   []string               `json:"profile_ids,omitempty"`
	ProfileNames []string               `json:"profile_names,omitempty"`
	UserIDs      []string               `json:"user_ids,omitempty"`
	// UserIDsGiven: how many user ids the request gave, when repeats were merged.
	UserIDsGiven int `json:"user_ids_given,omitempty"`
	// ProfilesGiven: how many profiles the request gave, when repeats were merged (the
	// distinct ones are ProfileIDs and ProfileNames).
	ProfilesGiven int                    `json:"profiles_given,omitempty"`
	EmailCount    int                    `json:"email_count,omitempty"`
	Counts        directory.ImportCounts `json:"counts"`
	// Emails counts the invitation emails by delivery (unsent, sent, failed, unknown).
	Emails       *directory.DeliveryCounts `json:"emails,omitempty"`
	Progress     directory.ImportProgress  `json:"progress"`
	Refused      []directory.RefusedRow    `json:"refused,omitempty"`
	Errors       []string                  `json:"errors,omitempty"`
	PausedUntil  *time.Time                `json:"paused_until,omitempty"`
	PausedReason string                    `json:"paused_reason,omitempty"`
	CreatedAt    time.Time                 `json:"created_at"`
	StartedAt    *time.Time                `json:"started_at,omitempty"`
	FinishedAt   *time.Time                `json:"finished_at,omitempty"`
}

// ViewOf returns imp as the API shows it.
func ViewOf(imp directory.Import) ImportView {
	opt := func(t time.Time) *time.Time {
		if t.IsZero() {
			return nil
		}
		return &t
	}
	return ImportView{
		ID: imp.ID, OrgID: imp.OrgID, RequestedBy: imp.RequestedBy, Status: imp.Status, DryRun: imp.DryRun, Role: imp.Role,
		GroupID: imp.GroupID, ProfileIDs: imp.Selection.ProfileIDs, ProfileNames: imp.Selection.ProfileNames,
		UserIDs: imp.Selection.UserIDs, UserIDsGiven: imp.Selection.UserIDsGiven,
		ProfilesGiven: imp.Selection.ProfilesGiven, EmailCount: len(imp.Selection.Emails),
		Counts: imp.Counts, Emails: imp.Emails, Progress: imp.Progress, Refused: imp.Refused, Errors: imp.Errors,
		PausedUntil: opt(imp.PausedUntil), PausedReason: imp.PausedReason,
		CreatedAt: imp.CreatedAt, StartedAt: opt(imp.StartedAt), FinishedAt: opt(imp.FinishedAt),
	}
}

// APIError is the body of every JSON error: a stable machine code and a message a person
// can act on.
type APIError struct {
	Code    string   `json:"code"`
	Message string   `json:"message"`
	Values  []string `json:"values,omitempty"`
	// Known lists the org's existing Salesforce profiles (code unknown_profile).
	Known []string `json:"known,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, e APIError) {
	writeJSON(w, status, struct {
		Error APIError `json:"error"`
	}{e})
}

// handleCreateImport is POST /v1/orgs/{org}/imports: 202 with the queued import and its
// Location; 400 for a body that is not the JSON above; 404 for an unknown org; 422 for a
// request the import refuses (bad role, ids, unknown profile names, no team connection).
func (s *Server) handleCreateImport() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		org := r.PathValue("org")
		var body ImportRequest
		if err := decodeJSON(w, r, maxImportBody, &body); err != nil {
			writeError(w, http.StatusBadRequest, APIError{Code: "invalid_json",
				Message: "the body must be a JSON object with profiles, user_ids or emails, role, and optionally group and dry_run: " + err.Error()})
			return
		}
		imp, err := s.p.Imports.Start(r.Context(), invites.Request{
			OrgID: org, Profiles: body.Profiles, UserIDs: body.UserIDs, Emails: invites.SplitEmails(body.Emails),
			Role: directory.Role(body.Role), Group: body.Group, DryRun: body.DryRun, RequestedBy: Principal(r.Context()),
		})
		if err != nil {
			s.importError(w, org, err)
			return
		}
		w.Header().Set("Location", "/v1/orgs/"+imp.OrgID+"/imports/"+imp.ID)
		writeJSON(w, http.StatusAccepted, ViewOf(imp))
	})
}

// handleGetImport is GET /v1/orgs/{org}/imports/{id}: status, counters, refused rows,
// pause reason and progress; 404 for an unknown org or import.
func (s *Server) handleGetImport() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		org, id := r.PathValue("org"), r.PathValue("id")
		imp, err := s.p.Imports.Get(r.Context(), org, id)
		if errors.Is(err, directory.ErrNotFound) {
			writeError(w, http.StatusNotFound, APIError{Code: "not_found", Message: "org " + org + " has no import " + id})
			return
		}
		if err != nil {
			s.importError(w, org, err)
			return
		}
		writeJSON(w, http.StatusOK, ViewOf(imp))
	})
}

// importError maps the import's errors to statuses; anything unexpected is logged and
// answered 500 without its text (it may name internals).
func (s *Server) importError(w http.ResponseWriter, org string, err error) {
	var (
		ie *invites.Error
		up *invites.UnknownProfilesError
	)
	var nq *invites.NotQueuedError
	switch {
	case errors.As(err, &nq):
		s.log.Error().Err(nq.Err).Str("org_id", org).Str("import_id", nq.Import.ID).Msg("import stored but not queued")
		w.Header().Set("Location", "/v1/orgs/"+nq.Import.OrgID+"/imports/"+nq.Import.ID)
		writeError(w, http.StatusServiceUnavailable, APIError{Code: "not_queued", Message: nq.Message()})
	case errors.As(err, &up):
		writeError(w, http.StatusUnprocessableEntity, APIError{Code: invites.CodeUnknownProfile,
			Message: up.Error(), Values: up.Unknown, Known: up.Known})
	case errors.As(err, &ie) && (ie.Code == invites.CodeOrgNotFound || ie.Code == invites.CodeImportNotFound || ie.Code == invites.CodeInviteNotFound):
		writeError(w, http.StatusNotFound, APIError{Code: ie.Code, Message: ie.Message})
	case errors.As(err, &ie) && (ie.Code == invites.CodeFinished || ie.Code == invites.CodeNotPending || ie.Code == invites.CodeImportRunning):
		writeError(w, http.StatusConflict, APIError{Code: ie.Code, Message: ie.Message})
	case errors.As(err, &ie) && (ie.Code == invites.CodeInvalidStatus || ie.Code == invites.CodeInvalidCursor || ie.Code == invites.CodeInvalidText):
		writeError(w, http.StatusBadRequest, APIError{Code: ie.Code, Message: ie.Message})
	case errors.As(err, &ie):
		writeError(w, http.StatusUnprocessableEntity, APIError{Code: ie.Code, Message: ie.Message, Values: ie.Values})
	default:
		s.log.Error().Err(err).Str("org_id", org).Msg("invite import request failed")
		writeError(w, http.StatusInternalServerError, APIError{Code: "internal", Message: "the import could not be started or read; see the server log"})
	}
}
