package httpapi

import (
	"context"
	"errors"
	"net/http"
	"time"

	"tether/sync/reminders"
)

// Reminders reads a member's reminders (reminders.Viewer, the same the CLI calls).
type Reminders interface {
	View(ctx context.Context, orgID, membershipID string) (reminders.View, error)
}

// ReminderJSON is one message sent to or about a member.
type ReminderJSON struct {
	Sequence int      `json:"sequence"`
	Kind     string   `json:"kind"`
	Channel  string   `json:"channel"`
	Status   string   `json:"status"`
	SentAt   string   `json:"sent_at"`
	To       []string `json:"to"`
	Reasons  []string `json:"reasons"`
}

// MemberRemindersJSON is GET /v1/orgs/{org}/members/{member}/reminders' answer.
type MemberRemindersJSON struct {
	OrgID        string         `json:"org_id"`
	MembershipID string         `json:"membership_id"`
	Sent         []ReminderJSON `json:"sent"`
	// Next is when the next reminder is due if nothing changes; empty when none is.
	Next      string `json:"next,omitempty"`
	Streak    int    `json:"streak"`
	Escalated bool   `json:"escalated"`
	Why       string `json:"why"`
}

// MemberRemindersOf renders v as the route answers it.
func MemberRemindersOf(v reminders.View) MemberRemindersJSON {
	out := MemberRemindersJSON{OrgID: v.OrgID, MembershipID: v.MembershipID, Sent: []ReminderJSON{},
		Streak: v.Streak, Escalated: v.Escalated, Why: v.Why}
	if !v.Next.IsZero() {
		out.Next = v.Next.UTC().Format(time.RFC3339)
	}
	for _, r := range v.Sent {
		out.Sent = append(out.Sent, ReminderJSON{Sequence: r.Sequence, Kind: string(r.Kind), Channel: string(r.Channel),
			Status: string(r.Status), SentAt: r.SentAt.UTC().Format(time.RFC3339), To: r.Recipients, Reasons: r.Reasons})
	}
	return out
}

// handleMemberReminders is GET /v1/orgs/{org}/members/{member}/reminders: what was sent
// when, and what is next; 404 for an unknown member.
func (s *Server) handleMemberReminders() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v, err := s.p.Reminders.View(r.Context(), r.PathValue("org"), r.PathValue("member"))
		if errors.Is(err, reminders.ErrUnknownMember) {
			writeError(w, http.StatusNotFound, APIError{Code: "member_not_found", Message: err.Error()})
			return
		}
		if err != nil {
			s.log.Error().Err(err).Str("path", r.URL.Path).Msg("member reminders")
			writeError(w, http.StatusInternalServerError, APIError{Code: "internal", Message: "the reminders could not be read; see the server log"})
			return
		}
		writeJSON(w, http.StatusOK, MemberRemindersOf(v))
	})
}
