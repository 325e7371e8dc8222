package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"tether/sync/directory"
	"tether/sync/reminders"
	"tether/sync/vault"
)

// Reminders reads members' reminders (reminders.Viewer, the same the CLI calls).
type Reminders interface {
	View(ctx context.Context, orgID, membershipID string) (reminders.View, error)
	// Summaries is the members page's column: one read for the whole page.
	Summaries(ctx context.Context, orgID string, ms []directory.Membership) (map[string]reminders.Summary, error)
}

// LastReminderJSON is the newest message sent to or about a member.
type LastReminderJSON struct {
	Sequence int    `json:"sequence"`
	Kind     string `json:"kind"`
	Channel  string `json:"channel"`
	Status   string `json:"status"`
	SentAt   string `json:"sent_at"`
}

// ReminderSummaryJSON is a member's reminders on the members page: the last message sent,
// and what is next.
type ReminderSummaryJSON struct {
	// Last is null when nothing was ever sent.
	Last *LastReminderJSON `json:"last"`
	// Next is when the next message to the rep is due if nothing changes (now when one is
	// due now); null when none is, and Why says why.
	Next     *string `json:"next"`
	NextKind string  `json:"next_kind,omitempty"`
	// Quiet is true when Next is the end of the rep's quiet hours.
	Quiet     bool   `json:"quiet"`
	Streak    int    `json:"streak"`
	Escalated bool   `json:"escalated"`
	Why       string `json:"why"`
}

// ReminderSummaryOf renders s as the members page shows it.
func ReminderSummaryOf(s reminders.Summary) *ReminderSummaryJSON {
	out := &ReminderSummaryJSON{NextKind: string(s.NextKind), Quiet: s.Quiet, Streak: s.Streak, Escalated: s.Escalated, Why: s.Why}
	if s.Last != nil {
		out.Last = &LastReminderJSON{Sequence: s.Last.Sequence, Kind: string(s.Last.Kind), Channel: string(s.Last.Channel),
			Status: string(s.Last.Status), SentAt: s.Last.SentAt.UTC().Format(time.RFC3339)}
	}
	if !s.Next.IsZero() {
		next := s.Next.UTC().Format(time.RFC3339)
		out.Next = &next
	}
	return out
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
	// Slack is where a sent Slack message is (absent for email).
	Slack *SlackMessageJSON `json:"slack,omitempty"`
}

// SlackMessageJSON locates a posted Slack message: the DM channel and its ts.
type SlackMessageJSON struct {
	Channel string `json:"channel"`
	TS      string `json:"ts"`
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
	// SlackFailure is the member's last Slack message that failed and was left to a retry;
	// absent when none did.
	SlackFailure *SlackFailureJSON `json:"slack_failure,omitempty"`
}

// SlackFailureJSON is a failed Slack message: Slack's own error word and when.
type SlackFailureJSON struct {
	Reason string `json:"reason"`
	At     string `json:"at"`
}

// MemberRemindersOf renders v as the route answers it.
func MemberRemindersOf(v reminders.View) MemberRemindersJSON {
	out := MemberRemindersJSON{OrgID: v.OrgID, MembershipID: v.MembershipID, Sent: []ReminderJSON{},
		Streak: v.Streak, Escalated: v.Escalated, Why: v.Why}
	if !v.Next.IsZero() {
		out.Next = v.Next.UTC().Format(time.RFC3339)
	}
	if v.SlackFailure.Reason != "" {
		out.SlackFailure = &SlackFailureJSON{Reason: v.SlackFailure.Reason, At: v.SlackFailure.At.UTC().Format(time.RFC3339)}
	}
	for _, r := range v.Sent {
		j := ReminderJSON{Sequence: r.Sequence, Kind: string(r.Kind), Channel: string(r.Channel),
			Status: string(r.Status), SentAt: r.SentAt.UTC().Format(time.RFC3339), To: r.Recipients, Reasons: r.Reasons}
		if r.SlackTS != "" {
			j.Slack = &SlackMessageJSON{Channel: r.SlackChannel, TS: r.SlackTS}
		}
		out.Sent = append(out.Sent, j)
	}
	return out
}

// handleMemberReminders is GET /v1/orgs/{org}/members/{member}/reminders: what was sent
// when, and what is next; 404 for an unknown member. {member} is a membership id or, when
// the server has the members service, an email, as for tether members reminders.
func (s *Server) handleMemberReminders() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		member := r.PathValue("member")
		if s.p.Members != nil {
			m, err := s.p.Members.Resolve(r.Context(), r.PathValue("org"), member)
			if err != nil {
				s.memberError(w, r, err)
				return
			}
			member = m.ID
		}
		v, err := s.p.Reminders.View(r.Context(), r.PathValue("org"), member)
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

// ReminderSettings shows and changes an org's reminder policy (reminders.SettingsEditor,
// the same the CLI calls).
type ReminderSettings interface {
	Get(ctx context.Context, orgID string) (reminders.Settings, error)
	Update(ctx context.Context, orgID string, ch reminders.SettingsChange) (reminders.Settings, error)
}

// ReminderSettingsJSON is GET/PATCH /v1/orgs/{org}/reminder-settings' answer; durations
// are Go durations ("5m0s", "168h0m0s").
type ReminderSettingsJSON struct {
	OrgID         string   `json:"org_id"`
	Grace         string   `json:"grace"`
	Steps         []string `json:"steps"`
	Tail          string   `json:"tail"`
	MinGap        string   `json:"min_gap"`
	EscalateAfter int      `json:"escalate_after"`
	QuietHours    string   `json:"quiet_hours"`
	TimeZone      string   `json:"time_zone"`
	// Slack never carries the token: only whether one is set and what went wrong.
	Slack SlackJSON `json:"slack"`
}

// SlackJSON is an org's Slack set-up for reminders as admins see it.
type SlackJSON struct {
	Configured bool `json:"configured"`
	// Problem is Slack's refusal of the token (invalid_auth, token_revoked, ...): the
	// admin's to fix with a new token; Slack messages wait until then, emails go on.
	Problem   string `json:"problem,omitempty"`
	ProblemAt string `json:"problem_at,omitempty"`
	// NotFound are reps Slack knew no user for by email: their reminders go by email only.
	NotFound []string `json:"not_found"`
}

// ReminderSettingsOf renders s as the route answers it.
func ReminderSettingsOf(orgID string, s reminders.Settings) ReminderSettingsJSON {
	s = s.Normalize()
	out := ReminderSettingsJSON{OrgID: orgID, Grace: s.Grace.String(), Steps: []string{}, Tail: s.Tail.String(),
		MinGap: s.MinGap.String(), EscalateAfter: s.EscalateAfter, QuietHours: s.QuietHours(), TimeZone: s.TimeZone}
	for _, st := range s.Steps {
		out.Steps = append(out.Steps, st.String())
	}
	out.Slack = SlackJSON{Configured: s.Slack.Configured, Problem: s.Slack.Problem, NotFound: s.Slack.NotFound}
	if out.Slack.NotFound == nil {
		out.Slack.NotFound = []string{}
	}
	if !s.Slack.ProblemAt.IsZero() {
		out.Slack.ProblemAt = s.Slack.ProblemAt.UTC().Format(time.RFC3339)
	}
	return out
}

// UpdateReminderSettingsRequest is PATCH /v1/orgs/{org}/reminder-settings' body: absent
// fields stay as they are. Steps is a list of durations ("24h", "72h").
type UpdateReminderSettingsRequest struct {
	Grace         *string   `json:"grace"`
	Steps         *[]string `json:"steps"`
	Tail          *string   `json:"tail"`
	MinGap        *string   `json:"min_gap"`
	EscalateAfter *int      `json:"escalate_after"`
	QuietHours    *string   `json:"quiet_hours"`
	TimeZone      *string   `json:"time_zone"`
	// SlackToken is the org's Slack bot token (xoxb-...); "" removes it. Never answered.
	SlackToken *string `json:"slack_token"`
}

// handleGetReminderSettings is GET /v1/orgs/{org}/reminder-settings.
func (s *Server) handleGetReminderSettings() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		org := r.PathValue("org")
		st, err := s.p.ReminderSettings.Get(r.Context(), org)
		if err != nil {
			s.reminderSettingsError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, ReminderSettingsOf(org, st))
	})
}

// reminderSettingsFields are the fields PATCH …/reminder-settings can change.
const reminderSettingsFields = "grace, steps, tail, min_gap, escalate_after, quiet_hours, time_zone, slack_token"

// handleUpdateReminderSettings is PATCH /v1/orgs/{org}/reminder-settings: 200 with the
// whole policy after the change; 422 naming the refused field, or empty_change for a body
// that changes nothing.
func (s *Server) handleUpdateReminderSettings() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body UpdateReminderSettingsRequest
		if !decodeBody(w, r, &body, "any of "+reminderSettingsFields) {
			return
		}
		if body == (UpdateReminderSettingsRequest{}) {
			// Answering 200 would read as if something had been stored.
			writeError(w, http.StatusUnprocessableEntity, APIError{Code: "empty_change",
				Message: "nothing to change: give at least one of " + reminderSettingsFields + ` (GET shows the current settings), e.g. {"grace":"10m"}`})
			return
		}
		ch := reminders.SettingsChange{Grace: body.Grace, Tail: body.Tail, MinGap: body.MinGap,
			EscalateAfter: body.EscalateAfter, QuietHours: body.QuietHours, TimeZone: body.TimeZone}
		if body.Steps != nil {
			steps := strings.Join(*body.Steps, ",")
			ch.Steps = &steps
		}
		if body.SlackToken != nil {
			tok := vault.NewToken(*body.SlackToken)
			ch.SlackToken = &tok
		}
		org := r.PathValue("org")
		st, err := s.p.ReminderSettings.Update(r.Context(), org, ch)
		if err != nil {
			s.reminderSettingsError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, ReminderSettingsOf(org, st))
	})
}

func (s *Server) reminderSettingsError(w http.ResponseWriter, r *http.Request, err error) {
	var se *reminders.SettingError
	switch {
	case errors.As(err, &se):
		writeError(w, http.StatusUnprocessableEntity, APIError{Code: "invalid_reminder_settings", Message: se.Error()})
	case errors.Is(err, reminders.ErrNotRetimed):
		s.log.Error().Err(err).Str("path", r.URL.Path).Msg("reminder settings stored, queued reminders not re-timed")
		writeError(w, http.StatusServiceUnavailable, APIError{Code: "reminders_not_retimed",
			Message: "the policy is stored, but some reminders already queued keep their old time (is Redis reachable? see the server log): send the change again"})
	case errors.Is(err, directory.ErrNotFound):
		writeError(w, http.StatusNotFound, APIError{Code: "org_not_found", Message: fmt.Sprintf("no org %s: tether org list shows the orgs", r.PathValue("org"))})
	default:
		s.log.Error().Err(err).Str("path", r.URL.Path).Msg("reminder settings")
		writeError(w, http.StatusInternalServerError, APIError{Code: "internal", Message: "the reminder settings could not be read or stored; see the server log"})
	}
}
