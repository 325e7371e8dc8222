package reminders

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"tether/sync/directory"
	"tether/sync/vault"
)

// SettingsStore reads and writes an org's reminder policy.
type SettingsStore interface {
	ReminderSettings(ctx context.Context, orgID string) (Settings, error)
	SetReminderSettings(ctx context.Context, orgID string, s Settings, at time.Time) error
	SlackConfig(ctx context.Context, orgID string) (SlackConfig, error)
	SetSlackToken(ctx context.Context, orgID string, sealed []byte, at time.Time) error
	SlackNotFound(ctx context.Context, orgID string, limit int) ([]string, error)
}

// SettingsChange is a change to an org's policy: nil fields stay as they are. Durations
// and hours are text as an operator types them, parsed here so the CLI and the API
// refuse the same things with the same words.
type SettingsChange struct {
	Grace         *string
	Steps         *string // "24h,72h,168h"
	Tail          *string
	MinGap        *string
	EscalateAfter *int
	QuietHours    *string // "21:00-08:00" or "none"
	TimeZone      *string
	// SlackToken is the org's Slack bot token (xoxb-...), sealed before it is stored and
	// never shown again; "" removes it.
	SlackToken *vault.Token
}

// SettingError names the setting (as the API field; the CLI flag is the same with
// dashes) that was refused and why.
type SettingError struct {
	Field   string
	Message string
}

func (e *SettingError) Error() string { return e.Field + ": " + e.Message }

// SettingsEditor shows and changes org policies (the CLI and the API call it).
type SettingsEditor struct {
	Store SettingsStore
	// Keyring seals a Slack token; needed only to set one.
	Keyring *vault.Keyring
	// Retimer moves the reminders already queued when a change moves their time. Nil
	// leaves them at the time they were queued for (the view then says they were queued
	// before the policy changed): every tether process that changes policies sets it.
	Retimer *Retimer
	Now     func() time.Time
}

// ErrNotRetimed wraps Update's error when the policy was stored but some reminders
// already queued could not be moved to it (the queue did not answer); the change asked
// again moves the rest.
var ErrNotRetimed = errors.New("the policy is stored, but reminders already queued were not all re-timed")

// sameTimes reports whether a and b (normalized) time reminders alike.
func sameTimes(a, b Settings) bool {
	return a.Grace == b.Grace && slices.Equal(a.Steps, b.Steps) && a.Tail == b.Tail && a.MinGap == b.MinGap &&
		a.QuietStart == b.QuietStart && a.QuietEnd == b.QuietEnd && a.TimeZone == b.TimeZone
}

// Get returns the org's policy with defaults filled, and its Slack status.
func (e SettingsEditor) Get(ctx context.Context, orgID string) (Settings, error) {
	s, err := e.Store.ReminderSettings(ctx, orgID)
	if err != nil {
		return Settings{}, err
	}
	return e.withSlack(ctx, orgID, s)
}

func (e SettingsEditor) withSlack(ctx context.Context, orgID string, s Settings) (Settings, error) {
	c, err := e.Store.SlackConfig(ctx, orgID)
	if err != nil {
		return Settings{}, err
	}
	s.Slack = SlackStatus{Configured: c.TokenEnc != nil, Problem: c.Problem, ProblemAt: c.ProblemAt}
	if s.Slack.Configured {
		if s.Slack.NotFound, err = e.Store.SlackNotFound(ctx, orgID, 50); err != nil {
			return Settings{}, err
		}
	}
	return s, nil
}

// setSlack seals and stores the token in ch, if any.
func (e SettingsEditor) setSlack(ctx context.Context, orgID string, ch SettingsChange, now time.Time) error {
	if ch.SlackToken == nil {
		return nil
	}
	if ch.SlackToken.IsZero() {
		return e.Store.SetSlackToken(ctx, orgID, nil, now)
	}
	v := strings.TrimSpace(ch.SlackToken.Reveal())
	if !strings.HasPrefix(v, "xoxb-") || strings.ContainsAny(v, " \t\r\n") {
		return &SettingError{"slack_token", "not a Slack bot token: give the Bot User OAuth Token of your Slack app (it starts with xoxb-), or an empty one to remove it"}
	}
	if e.Keyring == nil {
		return &SettingError{"slack_token", "this process has no key ring to seal it: set TETHER_ENCRYPTION_KEYS as for tether serve"}
	}
	sealed, err := e.Keyring.SealToken(vault.NewToken(v), SlackTokenRow(orgID))
	if err != nil {
		return fmt.Errorf("seal the Slack token of org %s: %w", orgID, err)
	}
	return e.Store.SetSlackToken(ctx, orgID, sealed, now)
}

// Update applies ch to the org's policy, validates the whole and stores it. An unknown
// org is the store's not-found error; a refused value is a *SettingError.
func (e SettingsEditor) Update(ctx context.Context, orgID string, ch SettingsChange) (Settings, error) {
	s, err := e.Store.ReminderSettings(ctx, orgID)
	if err != nil {
		return Settings{}, err
	}
	prev := s.Normalize()
	dur := func(field string, in *string, out *time.Duration) error {
		if in == nil {
			return nil
		}
		d, err := time.ParseDuration(strings.TrimSpace(*in))
		if err != nil || d <= 0 {
			return &SettingError{field, fmt.Sprintf("%q is not a positive duration; write it as 5m, 2h or 168h", *in)}
		}
		*out = d
		return nil
	}
	if err := dur("grace", ch.Grace, &s.Grace); err != nil {
		return Settings{}, err
	}
	if s.Grace > MaxGrace {
		return Settings{}, &SettingError{"grace", fmt.Sprintf("%s is too long; use 1s to %s (default %s)", s.Grace, MaxGrace, DefaultGrace)}
	}
	if ch.Steps != nil && strings.TrimSpace(*ch.Steps) == "" {
		// An empty list ("steps": []) read as `"" is not a positive duration`.
		return Settings{}, &SettingError{"steps", "give at least one offset from the first reminder, in increasing order, e.g. 24h,72h,168h (the tail repeats after the last)"}
	}
	if ch.Steps != nil {
		var steps []time.Duration
		for _, p := range strings.Split(*ch.Steps, ",") {
			var d time.Duration
			if err := dur("steps", &p, &d); err != nil {
				return Settings{}, err
			}
			if len(steps) > 0 && d <= steps[len(steps)-1] {
				return Settings{}, &SettingError{"steps", fmt.Sprintf("%s must come after %s: give offsets from the first reminder in increasing order, e.g. 24h,72h,168h", d, steps[len(steps)-1])}
			}
			steps = append(steps, d)
		}
		s.Steps = steps
	}
	if err := dur("tail", ch.Tail, &s.Tail); err != nil {
		return Settings{}, err
	}
	if s.Tail < time.Hour {
		return Settings{}, &SettingError{"tail", fmt.Sprintf("%s is too short; the interval after the last step must be at least 1h", s.Tail)}
	}
	if err := dur("min_gap", ch.MinGap, &s.MinGap); err != nil {
		return Settings{}, err
	}
	if ch.EscalateAfter != nil {
		if *ch.EscalateAfter < 1 {
			return Settings{}, &SettingError{"escalate_after", fmt.Sprintf("%d: give how many unanswered reminders put the rep on the admins' digest, 1 or more", *ch.EscalateAfter)}
		}
		s.EscalateAfter = *ch.EscalateAfter
	}
	if ch.QuietHours != nil {
		start, end, err := ParseQuietHours(*ch.QuietHours)
		if err != nil {
			return Settings{}, &SettingError{"quiet_hours", err.Error()}
		}
		s.QuietStart, s.QuietEnd = start, end
	}
	if ch.TimeZone != nil {
		if !directory.ValidTimeZone(*ch.TimeZone) {
			return Settings{}, &SettingError{"time_zone", fmt.Sprintf("%q is not an IANA zone; give one such as Europe/Paris or UTC", *ch.TimeZone)}
		}
		s.TimeZone = *ch.TimeZone
	}
	s = s.Normalize()
	if err := s.Validate(); err != nil {
		return Settings{}, &SettingError{"settings", err.Error()}
	}
	now := time.Now
	if e.Now != nil {
		now = e.Now
	}
	if err := e.setSlack(ctx, orgID, ch, now()); err != nil {
		return Settings{}, err
	}
	if err := e.Store.SetReminderSettings(ctx, orgID, s, now()); err != nil {
		return Settings{}, err
	}
	if e.Retimer != nil && !sameTimes(prev, s) {
		if moved, err := e.Retimer.Retime(ctx, orgID, prev, s, now()); err != nil {
			return Settings{}, fmt.Errorf("%w (%d moved): %w", ErrNotRetimed, moved, err)
		}
	}
	return e.withSlack(ctx, orgID, s)
}

// noQuiet is how "no quiet hours" is stored: equal non-zero bounds (both zero is the default).
const noQuiet = 1

// ParseQuietHours reads "HH:MM-HH:MM" (the span may wrap midnight) or "none".
func ParseQuietHours(v string) (start, end int, err error) {
	v = strings.TrimSpace(v)
	if v == "none" {
		return noQuiet, noQuiet, nil
	}
	a, b, ok := strings.Cut(v, "-")
	if ok {
		if start, err = clock(a); err == nil {
			end, err = clock(b)
		}
	}
	if !ok || err != nil {
		return 0, 0, fmt.Errorf("%q: give HH:MM-HH:MM in the rep's time zone, e.g. 21:00-08:00, or none", v)
	}
	if start == end {
		return 0, 0, fmt.Errorf("%q starts and ends at the same minute; give none for no quiet hours", v)
	}
	return start, end, nil
}

func clock(v string) (int, error) {
	t, err := time.Parse("15:04", strings.TrimSpace(v))
	if err != nil {
		return 0, err
	}
	return t.Hour()*60 + t.Minute(), nil
}

// QuietHours is the span as ParseQuietHours reads it.
func (s Settings) QuietHours() string {
	s = s.Normalize()
	if s.QuietStart == s.QuietEnd {
		return "none"
	}
	return fmt.Sprintf("%02d:%02d-%02d:%02d", s.QuietStart/60, s.QuietStart%60, s.QuietEnd/60, s.QuietEnd%60)
}
