package reminders

import (
	"context"
	"errors"
	"fmt"
	"time"

	"tether/sync/connect"
	"tether/sync/delivery"
	"tether/sync/directory"
	"tether/sync/vault"
)

// Store is what the service reads and writes. Methods return errors wrapping
// directory.ErrNotFound for an unknown org, membership or row, and InsertReminder
// directory.ErrDuplicate when (membership, channel, sequence) is taken.
type Store interface {
	GetOrg(ctx context.Context, orgID string) (directory.Org, error)
	GetMembership(ctx context.Context, orgID, id string) (directory.Membership, error)
	GetUser(ctx context.Context, id string) (directory.User, error)
	ListMembers(ctx context.Context, orgID string, f directory.MembershipFilter) ([]directory.Member, error)
	ListReminders(ctx context.Context, orgID, membershipID string, limit int) ([]Reminder, error)
	InsertReminder(ctx context.Context, orgID string, r Reminder) (Reminder, error)
	GetReminderBySequence(ctx context.Context, orgID, membershipID string, ch Channel, seq int) (Reminder, error)
	SetReminderStatus(ctx context.Context, orgID, id string, st Status, at time.Time) error
	DeleteReminder(ctx context.Context, orgID, id string) error
	ReminderSettings(ctx context.Context, orgID string) (Settings, error)
	MemberTimeZone(ctx context.Context, orgID, membershipID string) (string, error)
	MemberReminders(ctx context.Context, orgID string, membershipIDs []string) (map[string]MemberReminders, error)
	// SetReminderQueued records the reminder queued for a membership (keeping the earlier
	// time of one sequence); a zero At forgets one due by now.
	SetReminderQueued(ctx context.Context, orgID, membershipID string, q Queued, now time.Time) error
	// MoveReminderQueued replaces the recorded from by to; false when the membership no
	// longer records from.
	MoveReminderQueued(ctx context.Context, orgID, membershipID string, from, to Queued) (bool, error)
	BeginDigest(ctx context.Context, orgID, day, messageID string, members int, at time.Time) error
	FinishDigest(ctx context.Context, orgID, day string, st Status, at time.Time) error
	DigestStatus(ctx context.Context, orgID, day string) (Status, error)
	SlackStore
}

// Message is one email.
type Message struct {
	To      []string
	Subject string
	Text    string
	HTML    string
	// ID is the Message-ID without angle brackets: deterministic per (membership,
	// sequence), so a mail client can tell a copy from a new message.
	ID string
}

// Mailer delivers a Message. An error wrapping delivery.ErrMaybeSent means the server may
// have accepted it (the connection broke after the message was handed over): the send is
// recorded unconfirmed and never retried. Any other error means it certainly was not
// accepted; the send is retried with the same Message-ID.
type Mailer interface {
	Send(ctx context.Context, m Message) error
}

// Links issues connect links (a *connect.Links).
type Links interface {
	Issue(ctx context.Context, r connect.IssueRequest) (connect.Issued, error)
}

// Enqueuer queues the notify and digest tasks; implemented over Asynq in tether/jobs.
type Enqueuer interface {
	// Notify queues a notify of the membership in its group (one group per membership),
	// so breaks within the grace period become one digest. noticed is when the break
	// was seen.
	Notify(ctx context.Context, orgID, membershipID string, noticed time.Time) error
	// FollowUp queues the notify due at at, with a TaskID derived from (membership,
	// sequence, at), so scheduling it twice queues it once.
	FollowUp(ctx context.Context, orgID, membershipID string, seq int, at time.Time) error
	// Digest queues the org's admin digest for at's UTC day (one per org and day).
	Digest(ctx context.Context, orgID string, at time.Time) error
}

// Config are the Service's dependencies. Store, Mailer, Links and Queue are required.
type Config struct {
	Store  Store
	Mailer Mailer
	Links  Links
	Queue  Enqueuer
	// Slack is the optional second channel, used for orgs that set a bot token; nil
	// sends email only.
	Slack SlackSender
	// Keyring opens the orgs' Slack tokens; required when an org has one.
	Keyring *vault.Keyring
	// Now is the clock. Nil means time.Now.
	Now func() time.Time
}

// Service sends reminders by the policy. Safe for concurrent use, and safe to run twice
// at once for one membership: a send is keyed by (membership, channel, sequence).
type Service struct {
	c Config
}

// New returns a Service.
func New(c Config) (*Service, error) {
	var errs []error
	if c.Store == nil {
		errs = append(errs, errors.New("reminders: Config.Store is required"))
	}
	if c.Mailer == nil {
		errs = append(errs, errors.New("reminders: Config.Mailer is required (set TETHER_SMTP_URL)"))
	}
	if c.Links == nil {
		errs = append(errs, errors.New("reminders: Config.Links is required (set TETHER_LINK_SECRET)"))
	}
	if c.Queue == nil {
		errs = append(errs, errors.New("reminders: Config.Queue is required"))
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return &Service{c: c}, errors.Join(errs...)
}

// Result is what one Notify did.
type Result struct {
	Decision Decision
	// Sent are the messages sent now (a re-run of a recorded one is not counted).
	Sent []Reminder
	// Skipped are sequences found already attempted (a retry or a crash): not re-sent.
	Skipped []int
	// Settled are sequences a crashed run left attempting, now marked unconfirmed.
	Settled []int
	// Unconfirmed are sequences whose send this run left unknown (delivery.ErrMaybeSent):
	// recorded unconfirmed, counted by the policy as sent, never sent again.
	Unconfirmed []int
	// Stale is true for a follow-up the membership's record does not name: it decided
	// nothing and sent nothing (Decision.Why says why, Decision.Next what is recorded).
	Stale bool
}

// StaleAttempt is how old an attempting record must be before a later run settles it as
// unconfirmed: longer than a notify task's timeout, so a run still sending is left alone.
const StaleAttempt = 2 * time.Minute

// Notify runs a break's notify: it reads the membership's state now and sends what the
// policy says is due (the rep's reminder or all-set note, the admins' alert), then queues
// the next reminder and, for an escalated rep, the admins' daily digest. noticed is when
// the break was seen; the first reminder counts its grace from the streak's earliest
// break, this one's or the one recorded with the queued first reminder. Zero noticed
// means unknown: the recorded one, else the first reminder is due now. A membership gone
// or not active is a no-op.
//
// One task per reminder: a notify that finds the same reminder already queued as early
// or earlier (a second break within the grace) queues no second task; it makes sure the
// recorded one is in Redis (a TaskID already taken is no error) and leaves the record.
//
// Guarantee: each message is recorded as attempting under (membership, channel,
// sequence) before it is sent. A send the server certainly did not accept (refused, no
// connection) deletes that record, so the retry sends it. A send whose outcome is unknown
// (the connection broke after the message was handed over: delivery.ErrMaybeSent) keeps
// the record as unconfirmed and the run goes on without error. A crash (or a second run)
// that finds the record still attempting marks it unconfirmed and does not send again:
// at most once per key, at the price that a crash or a lost answer in the instant
// between the record and the server's verdict may lose that one message (the next one
// of the schedule still follows).
func (s *Service) Notify(ctx context.Context, orgID, membershipID string, noticed time.Time) (Result, error) {
	return s.run(ctx, orgID, membershipID, noticed, nil)
}

// FollowUp runs the follow-up task queued for the membership's message seq at at (the
// second its TaskID names). It acts as Notify only while the membership's record names
// that very task (sequence and second): whatever queued another copy (a second break
// under older code, a policy change that moved the record, a reconciler that read the
// record just before the move), only the recorded task sends. Any other is stale: it
// sends nothing and makes sure the recorded task is in Redis, so nothing is lost. The
// recorded task run before its second (by hand) sends nothing and returns an
// *EarlyError asking to run again then. When it runs it decides by the policy now, the
// first reminder from the recorded break: one a new policy puts later is queued again
// then and the record moved to it.
func (s *Service) FollowUp(ctx context.Context, orgID, membershipID string, seq int, at time.Time) (Result, error) {
	return s.run(ctx, orgID, membershipID, time.Time{}, &task{seq: seq, at: at})
}

// task is the follow-up a run is, nil for a break.
type task struct {
	seq int
	at  time.Time
}

// EarlyError is the recorded follow-up run before its time: nothing was sent, and the
// worker runs it again at At without spending a retry.
type EarlyError struct {
	At    time.Time
	Delay time.Duration
}

func (e *EarlyError) Error() string {
	return fmt.Sprintf("reminder run before its time %s", e.At.UTC().Format(time.RFC3339))
}

// RetryAfter implements the worker's retry-after contract.
func (e *EarlyError) RetryAfter() time.Duration { return e.Delay }

// run is Notify for a break (f nil) and FollowUp for the follow-up f.
func (s *Service) run(ctx context.Context, orgID, membershipID string, noticed time.Time, f *task) (Result, error) {
	now := s.c.Now()
	m, err := s.c.Store.GetMembership(ctx, orgID, membershipID)
	if errors.Is(err, directory.ErrNotFound) {
		return Result{}, nil
	}
	if err != nil {
		return Result{}, fmt.Errorf("notify member %s of org %s: %w", membershipID, orgID, err)
	}
	if m.Status != directory.MembershipActive {
		return Result{Decision: Decision{Why: "member is " + string(m.Status)}}, nil
	}
	in, rec, err := s.read(ctx, m, now)
	if err != nil {
		return Result{}, err
	}
	if f != nil {
		due := time.Unix(f.at.Unix(), 0)
		switch {
		case rec.At.IsZero() || rec.Sequence != f.seq || rec.At.Unix() != due.Unix():
			return s.stale(ctx, m, rec, f)
		case now.Before(due):
			return Result{Decision: Decision{Why: "run before its time"}}, &EarlyError{At: due, Delay: due.Sub(now)}
		case now.Before(rec.At):
			// Asynq runs it in the second its TaskID names, maybe a moment before the
			// recorded instant: that is its time, not early.
			now, in.Now = rec.At, rec.At
		}
	}
	in.NoticedAt = noticed
	if rec.Sequence == nextSequence(in.History) && !rec.Noticed.IsZero() && (noticed.IsZero() || rec.Noticed.Before(noticed)) {
		in.NoticedAt = rec.Noticed // the streak's earliest break, recorded with its first reminder
	}
	d := Decide(in)
	res := Result{Decision: d}
	if res.Settled, err = s.settle(ctx, m, now); err != nil {
		return res, err
	}
	var slackErr error
	if d.Rep == "" {
		// The retry of an earlier rep message's Slack twin: should Slack stay down, its
		// error must not hold back the admins' email alert below, which is another
		// message under its own at-most-once key; the task then fails for the retry.
		slackErr = s.retrySlack(ctx, m, d, now)
	}
	seq := d.Sequence
	if d.Rep != "" {
		r, o, err := s.sendRep(ctx, m, d, seq)
		res.count(r, seq, o)
		if err != nil {
			return res, err
		}
		seq++
	}
	if d.Admin {
		r, o, err := s.sendAdmin(ctx, m, d, seq)
		if err != nil {
			return res, err
		}
		res.count(r, seq, o)
		seq++
	}
	if slackErr != nil {
		return res, slackErr
	}
	if d.Escalated {
		if err := s.c.Queue.Digest(ctx, orgID, now); err != nil {
			return res, fmt.Errorf("queue the admins' digest of org %s: %w", orgID, err)
		}
	}
	q := Queued{}
	if !d.Next.IsZero() {
		q = Queued{Sequence: seq, At: d.Next}
		if d.Streak == 0 && len(d.RepReasons) > 0 {
			q.Noticed = in.NoticedAt // a first reminder: a new grace re-times it from this
		}
	}
	if err := s.queueNext(ctx, m, rec, q, now); err != nil {
		return res, fmt.Errorf("queue the next reminder of member %s of org %s: %w", m.ID, orgID, err)
	}
	return res, nil
}

// read is what Decide needs for m, with the reminder m records as queued.
func (s *Service) read(ctx context.Context, m directory.Membership, now time.Time) (Input, Queued, error) {
	settings, err := s.c.Store.ReminderSettings(ctx, m.OrgID)
	if err != nil {
		return Input{}, Queued{}, fmt.Errorf("read reminder settings of org %s: %w", m.OrgID, err)
	}
	mrs, err := s.c.Store.MemberReminders(ctx, m.OrgID, []string{m.ID})
	if err != nil {
		return Input{}, Queued{}, fmt.Errorf("read reminders of member %s of org %s: %w", m.ID, m.OrgID, err)
	}
	mr := mrs[m.ID]
	return Input{Now: now, Settings: settings, Location: Location(mr.TimeZone, settings.TimeZone), Reasons: m.ActionRequired,
		History: historyOf(mr.Sent)}, mr.Queued, nil
}

// nextSequence is the number the next message takes after hist, as Decide numbers it.
func nextSequence(hist []Sent) int {
	n := 0
	for _, h := range hist {
		n = max(n, h.Sequence)
	}
	return n + 1
}

// stale ends a follow-up the record does not name (f): it sends nothing, and the task
// the record names, if any, is queued again in case Redis lost it (its TaskID keeps a
// live or finished one from being doubled).
func (s *Service) stale(ctx context.Context, m directory.Membership, rec Queued, f *task) (Result, error) {
	res := Result{Stale: true}
	switch {
	case rec.At.IsZero():
		res.Decision.Why = "stale: no reminder is recorded as queued"
		return res, nil
	case rec.Sequence == f.seq && rec.At.After(f.at):
		res.Decision.Why = fmt.Sprintf("early: reminder %d is recorded for %s", rec.Sequence, rec.At.UTC().Format(time.RFC3339))
	default:
		res.Decision.Why = fmt.Sprintf("superseded by reminder %d at %s", rec.Sequence, rec.At.UTC().Format(time.RFC3339))
	}
	res.Decision.Next = rec.At
	if err := s.c.Queue.FollowUp(ctx, m.OrgID, m.ID, rec.Sequence, rec.At); err != nil {
		return res, fmt.Errorf("queue again reminder %d of member %s of org %s: %w", rec.Sequence, m.ID, m.OrgID, err)
	}
	return res, nil
}

// queueNext makes q the membership's one queued reminder (rec is the one recorded when
// the run read the state): the record naming it first, which the view reads and
// FollowUp checks, then its task, so a task due at once finds itself recorded. Should
// the enqueue fail, the run's retry (reading q as recorded), a stale task or the
// reconciler queues it. A zero q forgets a recorded one due by now.
func (s *Service) queueNext(ctx context.Context, m directory.Membership, rec, q Queued, now time.Time) error {
	same := !q.At.IsZero() && !rec.At.IsZero() && rec.Sequence == q.Sequence
	switch {
	case same && rec.At.After(now) && !rec.At.After(q.At):
		// Queued already, as early or earlier: that task suffices and re-decides when it
		// runs. Only make sure Redis still has it.
		return s.c.Queue.FollowUp(ctx, m.OrgID, m.ID, rec.Sequence, rec.At)
	case q.At.IsZero():
		return s.c.Store.SetReminderQueued(ctx, m.OrgID, m.ID, q, now)
	case same && rec.At.Before(q.At):
		// Its time has come and the policy now puts it later: move the record, only from
		// what was read (a notify that wrote meanwhile queued its own).
		if moved, err := s.c.Store.MoveReminderQueued(ctx, m.OrgID, m.ID, rec, q); err != nil || !moved {
			return err
		}
	default:
		if err := s.c.Store.SetReminderQueued(ctx, m.OrgID, m.ID, q, now); err != nil {
			return err
		}
	}
	return s.c.Queue.FollowUp(ctx, m.OrgID, m.ID, q.Sequence, q.At)
}

// count files message seq's send by what send did with it.
func (res *Result) count(r Reminder, seq int, o outcome) {
	switch o {
	case outcomeSent:
		res.Sent = append(res.Sent, r)
	case outcomeUnknown:
		res.Unconfirmed = append(res.Unconfirmed, seq)
	default:
		res.Skipped = append(res.Skipped, seq)
	}
}

// ViewStore is what reading a member's reminders needs.
type ViewStore interface {
	GetMembership(ctx context.Context, orgID, id string) (directory.Membership, error)
	ListReminders(ctx context.Context, orgID, membershipID string, limit int) ([]Reminder, error)
	ReminderSettings(ctx context.Context, orgID string) (Settings, error)
	MemberTimeZone(ctx context.Context, orgID, membershipID string) (string, error)
	// MemberReminders reads a page of members' time zones and messages in one query.
	MemberReminders(ctx context.Context, orgID string, membershipIDs []string) (map[string]MemberReminders, error)
}

// settle marks the membership's stale attempting records unconfirmed: their run crashed
// between the record and the answer, and the policy already counts them as sent.
func (s *Service) settle(ctx context.Context, m directory.Membership, now time.Time) ([]int, error) {
	rs, err := s.c.Store.ListReminders(ctx, m.OrgID, m.ID, 20)
	if err != nil {
		return nil, fmt.Errorf("read reminders of member %s of org %s: %w", m.ID, m.OrgID, err)
	}
	var out []int
	for _, r := range rs {
		if r.Status == StatusAttempting && now.Sub(r.SentAt) >= StaleAttempt {
			if err := s.c.Store.SetReminderStatus(ctx, m.OrgID, r.ID, StatusUnconfirmed, r.SentAt); err != nil {
				return out, err
			}
			out = append(out, r.Sequence)
		}
	}
	return out, nil
}

// MessageID is the Message-ID of a membership's message seq: the idempotency key as the
// receiver sees it.
func MessageID(membershipID string, seq int) string {
	return fmt.Sprintf("reminder-%s-%d@tether", membershipID, seq)
}

// outcome is what send did with a message.
type outcome int

const (
	// outcomeNotSent: nothing left this run; the key was already taken (see Notify's
	// guarantee), or Slack knows no such user (recorded skipped).
	outcomeNotSent outcome = iota
	// outcomeSent: the server accepted the message; recorded sent.
	outcomeSent
	// outcomeUnknown: the message was handed over and the server's answer lost
	// (delivery.ErrMaybeSent); recorded unconfirmed, never sent again.
	outcomeUnknown
)

// send records r as attempting, delivers it with deliver and records the outcome. A
// delivery error is returned (and the record deleted, so the retry sends it) only when
// the message certainly did not leave; a maybe-sent one settles the record unconfirmed
// and returns outcomeUnknown with a nil error, since retrying cannot tell more.
func (s *Service) send(ctx context.Context, r Reminder, deliver func(ctx context.Context) (SlackMessage, error)) (Reminder, outcome, error) {
	r.Status = StatusAttempting
	r.SentAt = s.c.Now()
	got, err := s.c.Store.InsertReminder(ctx, r.OrgID, r)
	if errors.Is(err, directory.ErrDuplicate) {
		prev, err := s.c.Store.GetReminderBySequence(ctx, r.OrgID, r.MembershipID, r.Channel, r.Sequence)
		if err != nil {
			return r, outcomeNotSent, fmt.Errorf("read reminder %d of member %s: %w", r.Sequence, r.MembershipID, err)
		}
		if prev.Status == StatusAttempting {
			// A run that crashed after its record (or one still running): the outcome is
			// unknown, so it is not sent again.
			if err := s.c.Store.SetReminderStatus(ctx, r.OrgID, prev.ID, StatusUnconfirmed, prev.SentAt); err != nil {
				return r, outcomeNotSent, err
			}
			prev.Status = StatusUnconfirmed
		}
		return prev, outcomeNotSent, nil
	}
	if err != nil {
		return r, outcomeNotSent, fmt.Errorf("record reminder %d of member %s: %w", r.Sequence, r.MembershipID, err)
	}
	posted, err := deliver(ctx)
	settle := func(st Status) (Reminder, error) {
		got.Status = st
		return got, s.c.Store.SetReminderStatus(context.WithoutCancel(ctx), got.OrgID, got.ID, st, got.SentAt)
	}
	switch {
	case errors.Is(err, ErrSlackUserNotFound):
		got, err := settle(StatusSkipped)
		return got, outcomeNotSent, err
	case errors.Is(err, delivery.ErrMaybeSent):
		got, serr := settle(StatusUnconfirmed)
		if serr != nil {
			// Left attempting: the next run settles it unconfirmed, still without sending.
			return got, outcomeUnknown, fmt.Errorf("record reminder %d of member %s as unconfirmed after %v: %w", r.Sequence, r.MembershipID, err, serr)
		}
		return got, outcomeUnknown, nil
	case err != nil:
		if derr := s.c.Store.DeleteReminder(context.WithoutCancel(ctx), got.OrgID, got.ID); derr != nil {
			return got, outcomeNotSent, errors.Join(fmt.Errorf("send reminder %d to member %s: %w", r.Sequence, r.MembershipID, err), derr)
		}
		return got, outcomeNotSent, fmt.Errorf("send reminder %d to member %s: %w", r.Sequence, r.MembershipID, err)
	}
	got.Status = StatusSent
	got.SentAt = s.c.Now()
	if got.Channel == ChannelSlack {
		got.SlackChannel, got.SlackTS = posted.Channel, posted.TS
		err = s.c.Store.SetSlackSent(context.WithoutCancel(ctx), got.OrgID, got.ID, posted, got.SentAt)
	} else {
		err = s.c.Store.SetReminderStatus(context.WithoutCancel(ctx), got.OrgID, got.ID, StatusSent, got.SentAt)
	}
	if err != nil {
		return got, outcomeSent, fmt.Errorf("record reminder %d of member %s as sent: %w", r.Sequence, r.MembershipID, err)
	}
	return got, outcomeSent, nil
}

func reasonWords(rs []directory.ActionReason) []string {
	out := make([]string, 0, len(rs))
	for _, r := range rs {
		w := r.Requirement
		if r.Kind != "" {
			w += ":" + r.Kind
		}
		out = append(out, w+":"+r.State)
	}
	return out
}
