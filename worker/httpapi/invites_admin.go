package httpapi

import (
	"context"
	"encoding/csv"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"tether/sync/directory"
	"tether/sync/invites"
	"tether/sync/onboarding"
)

// InviteAdmin lists, revokes and cancels (invites.Admin).
type InviteAdmin interface {
	ListImports(ctx context.Context, orgID, before string, limit int) (invites.ImportPage, error)
	ListInvites(ctx context.Context, orgID string, f directory.InviteFilter) (invites.InvitePage, error)
	RevokeInvite(ctx context.Context, orgID, id string) (directory.Invite, error)
	CancelImport(ctx context.Context, orgID, id string) (directory.Import, error)
	RevokeImport(ctx context.Context, orgID, id string, dryRun bool) (invites.BulkRevoke, error)
	ListSkipped(ctx context.Context, orgID, id string, after, limit int) (invites.SkippedPage, error)
	EachSkipped(ctx context.Context, orgID, id string, fn func(directory.SkippedRow) error) error
}

// ImportResender queues invitation emails again (onboarding.Resender): one invite's, or
// an import's unsent ones.
type ImportResender interface {
	Resend(ctx context.Context, orgID, ref string) (directory.Invite, int, error)
	ResendImport(ctx context.Context, orgID, importID string) (onboarding.BulkResend, error)
}

// InviteView is an invite as the API shows it (never its token hash).
type InviteView struct {
	ID               string                 `json:"id"`
	OrgID            string                 `json:"org_id"`
	Email            string                 `json:"email"`
	Role             directory.Role         `json:"role"`
	GroupID          string                 `json:"group_id,omitempty"`
	Source           directory.InviteSource `json:"source"`
	SalesforceUserID string                 `json:"salesforce_user_id,omitempty"`
	Status           directory.InviteStatus `json:"status"`
	ExpiresAt        time.Time              `json:"expires_at"`
	SentCount        int                    `json:"sent_count"`
	ResendCount      int                    `json:"resend_count"`
	LastSentAt       *time.Time             `json:"last_sent_at,omitempty"`
	SendError        string                 `json:"send_error,omitempty"`
	// LastSendError says why the latest attempt failed while it is retried.
	LastSendError string `json:"last_send_error,omitempty"`
	// Delivery is where the latest invitation email is: unsent, sent, failed or unknown.
	Delivery  directory.Delivery `json:"delivery"`
	ImportID  string             `json:"import_id,omitempty"`
	CreatedAt time.Time          `json:"created_at"`
}

func inviteView(i directory.Invite) InviteView {
	v := InviteView{ID: i.ID, OrgID: i.OrgID, Email: i.Email, Role: i.Role, GroupID: i.GroupID, Source: i.Source,
		SalesforceUserID: i.SalesforceUserID, Status: i.Status, ExpiresAt: i.ExpiresAt, SentCount: i.SentCount,
		ResendCount: i.ResendCount, SendError: i.SendError, LastSendError: i.LastSendError, Delivery: i.Delivery(), ImportID: i.ImportID, CreatedAt: i.CreatedAt}
	if !i.LastSentAt.IsZero() {
		t := i.LastSentAt
		v.LastSentAt = &t
	}
	return v
}

// page reads ?limit= (1…1000, default 100); a bad value is a 400 naming the parameter.
func pageParam(w http.ResponseWriter, r *http.Request) (int, bool) {
	s := r.URL.Query().Get("limit")
	if s == "" {
		return 0, true
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > invites.MaxPage {
		writeError(w, http.StatusBadRequest, APIError{Code: "invalid_limit",
			Message: "limit must be a whole number from 1 to " + strconv.Itoa(invites.MaxPage) + ", got " + strconv.Quote(s)})
		return 0, false
	}
	return n, true
}

// handleListImports is GET /v1/orgs/{org}/imports?limit=&cursor=: the org's imports,
// newest first, {"imports":[…],"next_cursor":"…"}; pass next_cursor as cursor for the
// next page (absent on the last).
func (s *Server) handleListImports() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		org := r.PathValue("org")
		limit, ok := pageParam(w, r)
		if !ok {
			return
		}
		p, err := s.p.InviteAdmin.ListImports(r.Context(), org, r.URL.Query().Get("cursor"), limit)
		if err != nil {
			s.importError(w, org, err)
			return
		}
		writeJSON(w, http.StatusOK, ImportPageOf(p))
	})
}

// ImportPageJSON is GET /v1/orgs/{org}/imports's answer: one page, newest first, and the
// cursor of the next when more remain.
type ImportPageJSON struct {
	Imports []ImportView `json:"imports"`
	Next    string       `json:"next_cursor,omitempty"`
}

// ImportPageOf is p as the route answers it.
func ImportPageOf(p invites.ImportPage) ImportPageJSON {
	out := ImportPageJSON{Imports: make([]ImportView, 0, len(p.Imports)), Next: p.Next}
	for _, imp := range p.Imports {
		v := ViewOf(imp)
		v.Refused = nil // listed per import at GET …/imports/{id}
		out.Imports = append(out.Imports, v)
	}
	return out
}

// handleListInvites is GET /v1/orgs/{org}/invites?status=&import=&limit=&cursor=: the
// org's invites in id order, {"invites":[…],"next_cursor":"…"}. status is an invite's
// (pending, accepted, expired, revoked) or its email's delivery (unsent, sent, failed,
// unknown: pending invites only).
func (s *Server) handleListInvites() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		org := r.PathValue("org")
		limit, ok := pageParam(w, r)
		if !ok {
			return
		}
		q := r.URL.Query()
		p, err := s.p.InviteAdmin.ListInvites(r.Context(), org, directory.InviteFilter{
			Status: directory.InviteStatus(q.Get("status")), ImportID: q.Get("import"), AfterID: q.Get("cursor"), Limit: limit,
		})
		if err != nil {
			s.importError(w, org, err)
			return
		}
		writeJSON(w, http.StatusOK, InvitePageOf(p))
	})
}

// InvitePageJSON is GET /v1/orgs/{org}/invites's answer: one page, and the cursor of the
// next when more remain.
type InvitePageJSON struct {
	Invites []InviteView `json:"invites"`
	Next    string       `json:"next_cursor,omitempty"`
}

// InvitePageOf is p as the route answers it.
func InvitePageOf(p invites.InvitePage) InvitePageJSON {
	out := InvitePageJSON{Invites: make([]InviteView, 0, len(p.Invites)), Next: p.Next}
	for _, inv := range p.Invites {
		out.Invites = append(out.Invites, inviteView(inv))
	}
	return out
}

// handleRevokeInvite is DELETE /v1/orgs/{org}/invites/{id}: 200 with the revoked invite;
// 404 for an unknown org or invite; 409 invite_not_pending.
func (s *Server) handleRevokeInvite() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		org := r.PathValue("org")
		inv, err := s.p.InviteAdmin.RevokeInvite(r.Context(), org, r.PathValue("id"))
		if err != nil {
			s.importError(w, org, err)
			return
		}
		writeJSON(w, http.StatusOK, inviteView(inv))
	})
}

// handleCancelImport is POST /v1/orgs/{org}/imports/{id}/cancel: 200 with the cancelled
// import (a running one stops at its next page); 404; 409 import_finished.
func (s *Server) handleCancelImport() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		org := r.PathValue("org")
		imp, err := s.p.InviteAdmin.CancelImport(r.Context(), org, r.PathValue("id"))
		if err != nil {
			s.importError(w, org, err)
			return
		}
		writeJSON(w, http.StatusOK, ViewOf(imp))
	})
}

// handleRevokeImport is POST /v1/orgs/{org}/imports/{id}/revoke[?dry_run=true], the route
// of `tether invite revoke --import`: revokes every pending invite of the import; 200
// {"import_id","dry_run","revoked","emails_stopped","accepted","already_revoked","expired"};
// 404 org_not_found, import_not_found; 409 import_running (cancel it first).
func (s *Server) handleRevokeImport() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		org := r.PathValue("org")
		dryRun := false
		if v := r.URL.Query().Get("dry_run"); v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				writeError(w, http.StatusBadRequest, APIError{Code: "invalid_dry_run", Message: "dry_run must be true or false, got " + strconv.Quote(v)})
				return
			}
			dryRun = b
		}
		res, err := s.p.InviteAdmin.RevokeImport(r.Context(), org, r.PathValue("id"), dryRun)
		if err != nil {
			s.importError(w, org, err)
			return
		}
		writeJSON(w, http.StatusOK, res)
	})
}

// ResendView answers POST /v1/orgs/{org}/invites/{invite}/resend.
type ResendView struct {
	Invite  InviteView `json:"invite"`
	Attempt int        `json:"attempt"`
	// Status is "queued", or "already_queued" when that attempt was queued before and
	// not sent yet: one email, not two.
	Status string `json:"status"`
}

// handleResendInvite is POST /v1/orgs/{org}/invites/{invite}/resend, the route of `tether
// invite resend ORG ID|EMAIL`: {invite} is an invite id or the email of a pending invite.
// 200 ResendView; 404 invite_not_found; 409 invite_not_pending, no_seat.
func (s *Server) handleResendInvite() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		org, ref := r.PathValue("org"), r.PathValue("invite")
		inv, attempt, err := s.p.Resends.Resend(r.Context(), org, ref)
		status := "queued"
		switch {
		case errors.Is(err, onboarding.ErrAlreadyQueued):
			status = "already_queued"
		case errors.Is(err, onboarding.ErrInviteNotFound):
			writeError(w, http.StatusNotFound, APIError{Code: invites.CodeInviteNotFound,
				Message: "org " + org + " has no invite " + strconv.Quote(ref) + " (an invite id, or the email of a pending invite); GET /v1/orgs/" + org + "/invites lists them"})
			return
		case errors.Is(err, onboarding.ErrNotPending):
			writeError(w, http.StatusConflict, APIError{Code: invites.CodeNotPending, Message: err.Error()})
			return
		case errors.Is(err, directory.ErrNoSeat):
			writeError(w, http.StatusConflict, APIError{Code: "no_seat", Message: err.Error()})
			return
		case err != nil:
			s.importError(w, org, err)
			return
		}
		writeJSON(w, http.StatusOK, ResendView{Invite: inviteView(inv), Attempt: attempt, Status: status})
	})
}

// handleResendImport is POST /v1/orgs/{org}/imports/{id}/resend: queues every unsent
// invitation of the import; 200 {"import_id","queued","already_queued","no_seat"}; 404.
func (s *Server) handleResendImport() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		org, id := r.PathValue("org"), r.PathValue("id")
		res, err := s.p.Resends.ResendImport(r.Context(), org, id)
		if err != nil {
			if errors.Is(err, onboarding.ErrImportNotFound) {
				writeError(w, http.StatusNotFound, APIError{Code: invites.CodeImportNotFound, Message: "org " + org + " has no import " + id})
				return
			}
			s.importError(w, org, err)
			return
		}
		writeJSON(w, http.StatusOK, res)
	})
}

// handleListSkipped is GET /v1/orgs/{org}/imports/{id}/skipped?limit=&cursor=: the rows
// the import did not invite, in import order, {"rows":[…],"next_cursor":"…"}.
func (s *Server) handleListSkipped() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		org := r.PathValue("org")
		limit, ok := pageParam(w, r)
		if !ok {
			return
		}
		after := -1
		if c := r.URL.Query().Get("cursor"); c != "" {
			n, err := strconv.Atoi(c)
			if err != nil || n < 0 {
				writeError(w, http.StatusBadRequest, APIError{Code: invites.CodeInvalidCursor,
					Message: "cursor must be the next_cursor of a previous page, got " + strconv.Quote(c)})
				return
			}
			after = n
		}
		p, err := s.p.InviteAdmin.ListSkipped(r.Context(), org, r.PathValue("id"), after, limit)
		if err != nil {
			s.importError(w, org, err)
			return
		}
		out := struct {
			Rows []directory.SkippedRow `json:"rows"`
			Next string                 `json:"next_cursor,omitempty"`
		}{Rows: p.Rows, Next: ""}
		if out.Rows == nil {
			out.Rows = []directory.SkippedRow{}
		}
		if p.Next >= 0 {
			out.Next = strconv.Itoa(p.Next)
		}
		writeJSON(w, http.StatusOK, out)
	})
}

// SkippedCSVHeader is the first line of the skipped rows download.
var SkippedCSVHeader = []string{"seq", "salesforce_user_id", "email", "name", "reason"}

// WriteSkippedCSV writes the header then calls each to stream the rows; cells a
// spreadsheet would run as a formula are prefixed with a quote.
func WriteSkippedCSV(w *csv.Writer, each func(fn func(directory.SkippedRow) error) error) error {
	if err := w.Write(SkippedCSVHeader); err != nil {
		return err
	}
	err := each(func(r directory.SkippedRow) error {
		return w.Write([]string{strconv.Itoa(r.Seq), cell(r.SalesforceUserID), cell(r.Email), cell(r.Name), r.Reason})
	})
	w.Flush()
	return errors.Join(err, w.Error())
}

func cell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// handleSkippedCSV is GET /v1/orgs/{org}/imports/{id}/skipped.csv: every row the import
// did not invite as CSV (text/csv, an attachment named skipped-<id>.csv), streamed a page
// at a time.
func (s *Server) handleSkippedCSV() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		org, id := r.PathValue("org"), r.PathValue("id")
		// Check first, so an unknown import is a 404 rather than a CSV cut short.
		if _, err := s.p.InviteAdmin.ListSkipped(r.Context(), org, id, -1, 1); err != nil {
			s.importError(w, org, err)
			return
		}
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="skipped-`+id+`.csv"`)
		w.Header().Set("Cache-Control", "no-store")
		err := WriteSkippedCSV(csv.NewWriter(w), func(fn func(directory.SkippedRow) error) error {
			return s.p.InviteAdmin.EachSkipped(r.Context(), org, id, fn)
		})
		if err != nil {
			s.log.Error().Err(err).Str("org_id", org).Str("import_id", id).Msg("skipped rows download cut short")
		}
	})
}
