package reminders

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"

	"tether/sync/directory"
)

// Kind is what a recorded message was.
type Kind string

// Kinds of message.
const (
	// KindReminder asks the rep to connect or reconnect.
	KindReminder Kind = "reminder"
	// KindAllSet tells a reminded rep that everything is fixed; it closes the streak.
	KindAllSet Kind = "all_set"
	// KindAdmin tells the org's admins about problems only they (or the operator) can fix.
	KindAdmin Kind = "admin"
)

// Policy bounds.
const (
	DefaultGrace = 5 * time.Minute
	MaxGrace     = time.Hour
)

// Settings are an org's reminder policy. The zero value of a field means its default;
// Normalize fills them.
type Settings struct {
	// Grace is how long after a break the first reminder waits, so several breaks
	// become one digest. Zero means 5 minutes; at most 1 hour.
	Grace time.Duration `json:"grace"`
	// Steps are the offsets of reminders 2, 3, ... from the first one. Nil means 1, 3
	// and 7 days.
	Steps []time.Duration `json:"steps"`
	// Tail is the interval after the last step. Zero means 7 days (weekly).
	Tail time.Duration `json:"tail"`
	// MinGap is the least time between two reminders to one rep. Zero means 24 hours
	// (never more than one a day).
	MinGap time.Duration `json:"min_gap"`
	// EscalateAfter is how many reminders without a fix put the rep on the admins'
	// daily digest. Zero means 3.
	EscalateAfter int `json:"escalate_after"`
	// QuietStart and QuietEnd bound the quiet hours in the rep's time zone, as minutes
	// after midnight; the span may wrap midnight. Both zero means 20:00 to 08:00.
	// Equal non-zero values mean no quiet hours.
	QuietStart int `json:"quiet_start"`
	QuietEnd   int `json:"quiet_end"`
	// TimeZone is the org's IANA zone, used when the rep's own is unknown. Empty: UTC.
	TimeZone string `json:"time_zone"`
	// Slack is the org's Slack set-up as admins see it; not part of the stored policy
	// (the token lives sealed in its own table), filled by SettingsEditor.
	Slack SlackStatus `json:"-"`
}

// DefaultSettings is the policy an org has until an admin changes it.
func DefaultSettings() Settings { return Settings{}.Normalize() }

// Normalize fills defaults.
func (s Settings) Normalize() Settings {
	s.Grace = cmp.Or(s.Grace, DefaultGrace)
	if s.Steps == nil {
		s.Steps = []time.Duration{24 * time.Hour, 72 * time.Hour, 7 * 24 * time.Hour}
	}
	s.Tail = cmp.Or(s.Tail, 7*24*time.Hour)
	s.MinGap = cmp.Or(s.MinGap, 24*time.Hour)
	s.EscalateAfter = cmp.Or(s.EscalateAfter, 3)
	if s.QuietStart == 0 && s.QuietEnd == 0 {
		s.QuietStart, s.QuietEnd = 20*60, 8*60
	}
	s.TimeZone = cmp.Or(s.TimeZone, "UTC")
	return s
}

// Validate names a setting out of bounds.
func (s Settings) Validate() error {
	s = s.Normalize()
	if s.Grace < 0 || s.Grace > MaxGrace {
		return fmt.Errorf("grace %s: use 1s to %s (default %s)", s.Grace, MaxGrace, DefaultGrace)
	}
	prev := time.Duration(0)
	for i, st := range s.Steps {
		if st <= prev {
			return fmt.Errorf("steps: step %d (%s) must come after the one before (%s)", i+1, st, prev)
		}
		prev = st
	}
	if s.Tail < time.Hour || s.MinGap < 0 {
		return fmt.Errorf("tail %s / min gap %s: the tail must be at least 1h and the gap not negative", s.Tail, s.MinGap)
	}
	if s.EscalateAfter < 1 {
		return fmt.Errorf("escalate after %d: use 1 or more", s.EscalateAfter)
	}
	if s.QuietStart < 0 || s.QuietStart >= 24*60 || s.QuietEnd < 0 || s.QuietEnd >= 24*60 {
		return fmt.Errorf("quiet hours %d-%d: give minutes after midnight, 0 to 1439", s.QuietStart, s.QuietEnd)
	}
	if _, err := time.LoadLocation(s.TimeZone); err != nil {
		return fmt.Errorf("time zone %q: give an IANA zone such as Europe/Paris", s.TimeZone)
	}
	return nil
}

// Sent is one message in a membership's history, as the policy needs it.
type Sent struct {
	Kind     Kind
	Sequence int
	At       time.Time
	// AdminKey identifies the admin-only problems a KindAdmin message was about.
	AdminKey string
}

// Input is everything Decide looks at.
type Input struct {
	Now      time.Time
	Settings Settings
	// Location is the rep's time zone (Salesforce TimeZoneSidKey when known, else the
	// org's). Nil means Settings.TimeZone.
	Location *time.Location
	// Reasons are the membership's current Action Required reasons, read at send time.
	Reasons []directory.ActionReason
	// NoticedAt is when the earliest break of this streak was noticed; the first
	// reminder is due Settings.Grace after it. Zero means a follow-up queued for the time
	// the first reminder was due: the grace has passed, so it is due now.
	NoticedAt time.Time
	// History is what was already sent to and about the membership, in any order.
	History []Sent
}

// Decision is what to do now and when to look again.
type Decision struct {
	// Rep is KindReminder or KindAllSet when the rep gets a message now, "" otherwise.
	Rep Kind
	// Sequence is the number the message(s) sent now take: one more than the history's
	// highest. The admin alert, when both go, takes Sequence+1.
	Sequence int
	// RepReasons are the reasons the rep can fix (sorted), for the reminder.
	RepReasons []directory.ActionReason
	// Admin is true when the admins get an alert now about AdminReasons (problems the rep
	// cannot fix), identified by AdminKey.
	Admin        bool
	AdminReasons []directory.ActionReason
	AdminKey     string
	// Streak is how many reminders the current streak holds after this decision's send.
	Streak int
	// Escalated is true once Streak reaches Settings.EscalateAfter with reasons left: the
	// rep belongs on the admins' daily digest.
	Escalated bool
	// Next is when the next reminder is due if nothing changes; zero when none is.
	Next time.Time
	// Quiet is true when Next was moved to the end of the rep's quiet hours.
	Quiet bool
	// Why says in a few words why, for logs and the admin view.
	Why string
}

// Decide is the reminder policy: pure, given the state read at send time.
//
// The first reminder goes Grace after the break was noticed; the next ones at Steps
// after the first, then every Tail; never two within MinGap. A time in quiet hours moves
// to their end, never dropped. Reasons the rep cannot fix (actor admin or operator) go
// to the admins at once (once per distinct set of problems), never to the rep. With no
// reason left, a streak that reminded the rep ends with one "all set" note (not a
// reminder, so MinGap does not hold it back; quiet hours do).
func Decide(in Input) Decision {
	s := in.Settings.Normalize()
	loc := in.Location
	if loc == nil {
		loc = location(s.TimeZone)
	}
	now := in.Now
	hist := slices.Clone(in.History)
	slices.SortFunc(hist, func(a, b Sent) int { return cmp.Compare(a.Sequence, b.Sequence) })
	d := Decision{Sequence: 1}
	if len(hist) > 0 {
		d.Sequence = hist[len(hist)-1].Sequence + 1
	}
	for _, r := range in.Reasons {
		switch {
		case r.Recommended:
		case r.Actor == directory.ActorRep:
			d.RepReasons = append(d.RepReasons, r)
		default:
			d.AdminReasons = append(d.AdminReasons, r)
		}
	}
	sortReasons(d.RepReasons)
	sortReasons(d.AdminReasons)

	if len(d.AdminReasons) > 0 {
		d.AdminKey = AdminKey(d.AdminReasons)
		last := ""
		for _, h := range hist {
			if h.Kind == KindAdmin {
				last = h.AdminKey
			}
		}
		d.Admin = last != d.AdminKey
	}

	// The streak: reminders since the last "all set".
	var streak []Sent
	for _, h := range hist {
		switch h.Kind {
		case KindAllSet:
			streak = nil
		case KindReminder:
			streak = append(streak, h)
		}
	}
	d.Streak = len(streak)

	if len(d.RepReasons) == 0 {
		if len(streak) > 0 {
			at := quiet(now, s, loc)
			if !at.After(now) {
				d.Rep, d.Streak, d.Why = KindAllSet, 0, "fixed after "+directory.Plural(len(streak), "reminder")
				return d
			}
			d.Next, d.Quiet, d.Why = at, true, "fixed; the all-set note waits for the end of quiet hours"
			return d
		}
		d.Why = "nothing the rep can fix"
		if d.Admin {
			d.Why = "the admins must act; the rep is not told"
		}
		return d
	}

	due, moved := dueAt(in, s, streak, loc)
	if due.After(now) {
		d.Next, d.Quiet = due, moved
		d.Why = "next reminder not due yet"
		d.Escalated = len(streak) >= s.EscalateAfter
		return d
	}
	d.Rep = KindReminder
	d.Streak = len(streak) + 1
	d.Escalated = d.Streak >= s.EscalateAfter
	d.Why = "reminder " + fmt.Sprint(d.Streak) + " of the streak"
	streak = append(streak, Sent{Kind: KindReminder, Sequence: d.Sequence, At: now})
	d.Next, d.Quiet = dueAt(in, s, streak, loc)
	return d
}

// dueAt is when the reminder after streak is due, quiet hours applied; moved is true when
// they moved it.
func dueAt(in Input, s Settings, streak []Sent, loc *time.Location) (due time.Time, moved bool) {
	if len(streak) == 0 {
		due = in.Now
		if !in.NoticedAt.IsZero() {
			due = in.NoticedAt.Add(s.Grace)
		}
	} else {
		due = streak[0].At.Add(offset(s, len(streak)))
		if gap := streak[len(streak)-1].At.Add(s.MinGap); gap.After(due) {
			due = gap
		}
	}
	at := quiet(due, s, loc)
	return at, !at.Equal(due)
}

// offset is when reminder n+1 is due after the first: Steps, then every Tail.
func offset(s Settings, n int) time.Duration {
	if n <= len(s.Steps) {
		return s.Steps[n-1]
	}
	last := time.Duration(0)
	if len(s.Steps) > 0 {
		last = s.Steps[len(s.Steps)-1]
	}
	return last + time.Duration(n-len(s.Steps))*s.Tail
}

// quiet moves t out of the quiet hours (in loc) to their end.
func quiet(t time.Time, s Settings, loc *time.Location) time.Time {
	if s.QuietStart == s.QuietEnd {
		return t
	}
	lt := t.In(loc)
	mins := lt.Hour()*60 + lt.Minute()
	in := false
	if s.QuietStart < s.QuietEnd {
		in = mins >= s.QuietStart && mins < s.QuietEnd
	} else {
		in = mins >= s.QuietStart || mins < s.QuietEnd
	}
	if !in {
		return t
	}
	end := time.Date(lt.Year(), lt.Month(), lt.Day(), s.QuietEnd/60, s.QuietEnd%60, 0, 0, loc)
	if !end.After(lt) {
		end = time.Date(lt.Year(), lt.Month(), lt.Day()+1, s.QuietEnd/60, s.QuietEnd%60, 0, 0, loc)
	}
	return end
}

// Location loads a zone name, UTC when empty or unknown (a stale Salesforce value must
// not stop reminders).
func location(name string) *time.Location {
	if l, err := time.LoadLocation(name); err == nil && name != "" {
		return l
	}
	return time.UTC
}

// Location is the zone reminders use for a rep: the rep's own when known and valid, else
// the org's, else UTC.
func Location(repZone, orgZone string) *time.Location {
	if repZone != "" {
		if l, err := time.LoadLocation(repZone); err == nil {
			return l
		}
	}
	return location(orgZone)
}

func sortReasons(rs []directory.ActionReason) {
	slices.SortFunc(rs, func(a, b directory.ActionReason) int {
		return cmp.Or(cmp.Compare(a.Requirement, b.Requirement), cmp.Compare(a.Kind, b.Kind))
	})
}

// AdminAlertOwed: reasons hold problems only an admin can fix and no alert about them as
// they are now was sent (sent: the member's messages, any order). Decide's own rule.
func AdminAlertOwed(reasons []directory.ActionReason, sent []Reminder) bool {
	return Decide(Input{Reasons: reasons, History: historyOf(sent)}).Admin
}

// AdminKey identifies a set of admin-only problems, so the admins hear about each set once.
func AdminKey(rs []directory.ActionReason) string {
	parts := make([]string, 0, len(rs))
	for _, r := range rs {
		parts = append(parts, strings.Join([]string{r.Requirement, r.Kind, r.State, r.Code, r.Actor}, "|"))
	}
	slices.Sort(parts)
	sum := sha256.Sum256([]byte(strings.Join(parts, "\n")))
	return hex.EncodeToString(sum[:8])
}
