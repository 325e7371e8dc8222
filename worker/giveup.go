package worker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"tether/jobs"
	"tether/sync/connections"
	"tether/sync/directory"
	"tether/sync/invites"
	"tether/sync/members"
	"tether/sync/onboarding"
	"tether/sync/permissions"
)

// Subject names, for the sentence a person reads, what gave up and how to run it again.
type Subject struct {
	What  string // "the import", "the permission audit": the sentence's subject
	OrgID string // for the commands it names
	// Again says how to run the work again, e.g. "run `tether permissions check --org
	// ORG` again"; it ends the sentence, after "then" or "later,".
	Again string
	// Since is when the work began (its row's creation; zero: unknown), so a give-up
	// says how long the retries ran: Asynq keeps no first attempt's time.
	Since time.Time
}

// providerAnswer is implemented by connector errors that name the provider and the HTTP
// status it answered with (0: no answer came), e.g. *salesforce.APIError and
// *salesforce.NoAnswerError.
type providerAnswer interface {
	Provider() string
	HTTPStatus() int
}

// smtpAnswer is implemented by the mailer's errors (*email.Error): the SMTP server's reply
// code, 0 when none came.
type smtpAnswer interface{ SMTPCode() int }

func smtpCode(err error) string {
	var sa smtpAnswer
	if errors.As(err, &sa) && sa.SMTPCode() > 0 {
		return ", SMTP " + strconv.Itoa(sa.SMTPCode())
	}
	return ""
}

// Explain is the reason a person reads (the row's error, shown by the CLI and the API)
// when the task gave up: what failed, in an admin's words, and what to do. It never holds
// the error's chain: the worker logs that once, on the task's "task done" line with its
// task_id, which the sentence names when the log is where the detail is.
func (g GaveUp) Explain(s Subject) string {
	d := diagnose(g.Err, g.TaskID, s, false)
	took := "" // a first attempt's give-up (a permanent error) retried nothing
	if g.Attempts > 1 {
		took = over(s.Since, g.At)
	}
	out := fmt.Sprintf("%s gave up after %s%s: %s", s.What, attempts(g.Attempts), took, d.problem)
	if fix := d.fix(s.Again); fix != "" {
		out += "; " + fix
	}
	return out
}

// over is " over 11h52m", the time from since to at, or "" when either is unknown.
func over(since, at time.Time) string {
	if since.IsZero() || at.IsZero() || at.Sub(since) < time.Second {
		return ""
	}
	d := at.Sub(since)
	switch {
	case d < time.Minute:
		return fmt.Sprintf(" over %ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf(" over %dm", int(d.Minutes()))
	}
	return fmt.Sprintf(" over %dh%02dm", int(d.Hours()), int(d.Minutes())%60)
}

// unixTime is a payload's Unix seconds as a time, zero for 0 (not in the payload).
func unixTime(sec int64) time.Time {
	if sec <= 0 {
		return time.Time{}
	}
	return time.Unix(sec, 0)
}

func attempts(n int) string {
	if n == 1 {
		return "1 attempt"
	}
	return fmt.Sprintf("%d attempts", n)
}

// diagnosis is what diagnose makes of an error: the problem, what a person can do about
// it now (may be empty), and, as a format of Subject.Again, how running the work again
// follows once the task gave up (empty: it does not).
type diagnosis struct {
	problem, act, again string
}

// fix is the sentence's end once the task gave up: the act, then how to run it again.
func (d diagnosis) fix(again string) string {
	if d.again == "" || again == "" {
		return d.act
	}
	return d.act + fmt.Sprintf(d.again, again)
}

// diagnose classifies err by tether's own sentinels and types, most specific first.
// retrying words the problem for an attempt that is retried, not for the last one.
func diagnose(err error, taskID string, s Subject, retrying bool) diagnosis {
	logHint := "the worker's log has the error (task_id " + taskID + ")"
	connect := fmt.Sprintf("run `tether org connect-salesforce %s`", orgOr(s.OrgID))
	// A retried attempt met the refusal once; the last one met it every time.
	deferring, refusing := "kept deferring", "kept refusing"
	if retrying {
		deferring, refusing = "deferred", "refused"
	}
	var (
		pe     *PanicError
		ie     *invites.Error
		upe    *invites.UnknownProfilesError
		paused *invites.PausedError
		cut    *invites.InterruptedError
		me     *members.Error
		re     *members.RevokeError
		pa     providerAnswer
		sa     smtpAnswer
		netE   net.Error
		dns    *net.DNSError
	)
	f, isFailure := connections.AsFailure(err)
	switch {
	case errors.As(err, &pe):
		return diagnosis{problem: "tether's handler crashed, which is a bug in tether", act: "report it with the worker's log lines of task_id " + taskID}
	case errors.Is(err, errNoHandler):
		return diagnosis{problem: "this worker has no handler for its type", act: "it was queued by another version of tether or by hand; nothing to do unless that is unexpected"}
	case errors.Is(err, jobs.ErrInvalidPayload):
		return diagnosis{problem: "its payload is not valid for its type", act: "nothing to do unless that is unexpected; " + logHint + ", naming the field"}
	case errors.Is(err, connections.ErrNeedsReconnect), errors.Is(err, permissions.ErrNeedsReconnect),
		errors.Is(err, permissions.ErrInvalidSession):
		return diagnosis{problem: "the org's team-level Salesforce connection needs reconnecting", act: connect, again: ", then %s"}
	case errors.As(err, &ie) && ie.Code == invites.CodeNoConnection, errors.Is(err, invites.ErrNoConnection),
		errors.Is(err, connections.ErrNoTeamConnection), errors.Is(err, permissions.ErrNoTeamConnection):
		return diagnosis{problem: "the org has no usable team-level Salesforce connection", act: connect, again: ", then %s"}
	case ie != nil: // set by the As above, another code
		// The import's refusals are written for the admin and carry their fix.
		return diagnosis{problem: ie.Message}
	case errors.As(err, &upe):
		return diagnosis{problem: upe.Error(), act: "fix the selection and start the import again"}
	case errors.As(err, &paused):
		return diagnosis{problem: "it paused: " + paused.Reason}
	case errors.As(err, &cut):
		return diagnosis{problem: "its worker stopped while it ran (a shutdown); it resumes from its checkpoint"}
	case errors.As(err, &me):
		return diagnosis{problem: me.Message}
	case errors.As(err, &re) && retrying:
		return diagnosis{problem: "revoking tether's access failed at " + providerList(re)}
	case re != nil:
		return diagnosis{problem: fmt.Sprintf("revoking tether's access failed at %s; tether deleted the tokens it kept, but those grants may still be live", providerList(re)), again: "%s"}
	case errors.Is(err, onboarding.ErrUndeliverable):
		return diagnosis{problem: "the mail server refused it for good (undeliverable" + smtpCode(err) + ")", act: "check the invite's email address", again: ", then %s"}
	case errors.As(err, &sa) && sa.SMTPCode() >= 400 && sa.SMTPCode() < 500:
		return diagnosis{problem: "the mail server " + deferring + " it (SMTP " + strconv.Itoa(sa.SMTPCode()) + ")", again: "later, %s"}
	case errors.Is(err, permissions.ErrRequestLimit):
		return diagnosis{problem: "Salesforce " + refusing + " for the org's API request limits", again: "later, %s"}
	case isFailure && !f.Class.Retried() && f.Reason != "":
		// needs_admin and misconfigured: the connector's sentence names who acts.
		return diagnosis{problem: fmt.Sprintf("%s refused: %s", providerName(f.Provider), f.Reason), again: "once that is fixed, %s"}
	case isFailure && f.Status >= 500:
		return diagnosis{problem: fmt.Sprintf("%s answered HTTP %d, a failure on its side", providerName(f.Provider), f.Status), again: "later, %s"}
	case errors.As(err, &pa) && pa.HTTPStatus() >= 500: // pa stays set for the cases below
		return diagnosis{problem: fmt.Sprintf("%s answered HTTP %d, a failure on its side", pa.Provider(), pa.HTTPStatus()), again: "later, %s"}
	case pa != nil && pa.HTTPStatus() == 401:
		return diagnosis{problem: fmt.Sprintf("%s refused the team-level session (HTTP 401)", pa.Provider()), act: connect, again: ", then %s"}
	case pa != nil && pa.HTTPStatus() == 429:
		return diagnosis{problem: fmt.Sprintf("%s %s for its request limits (HTTP 429)", pa.Provider(), refusing), again: "later, %s"}
	case pa != nil && pa.HTTPStatus() > 0:
		return diagnosis{problem: fmt.Sprintf("%s refused tether's request (HTTP %d)", pa.Provider(), pa.HTTPStatus()),
			act: logHint + ", with " + pa.Provider() + "'s answer", again: "; once that is fixed, %s"}
	case pa != nil:
		return diagnosis{problem: fmt.Sprintf("tether could not reach %s (%s)", pa.Provider(), noAnswer(err)),
			act: "check that the worker can reach " + pa.Provider(), again: ", then %s"}
	case errors.Is(err, directory.ErrNotFound):
		return diagnosis{problem: "what it works on (the org, or its row) no longer exists", act: "nothing to do unless that is unexpected; " + logHint}
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
		return diagnosis{problem: "it did not finish within its time limit", act: logHint + " and where it stopped", again: "; %s"}
	case errors.As(err, &dns), errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET),
		errors.As(err, &netE):
		return diagnosis{problem: fmt.Sprintf("tether could not reach a service it needs (%s)", noAnswer(err)),
			act: logHint + ", naming the service", again: "; once it answers, %s"}
	}
	return diagnosis{problem: "its last error is not one tether recognises", act: logHint, again: "; once it is fixed, %s"}
}

// noAnswer says in words why a connection got no answer.
func noAnswer(err error) string {
	var (
		dns  *net.DNSError
		netE net.Error
	)
	switch {
	case errors.As(err, &dns):
		return "its name did not resolve"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "the connection was reset"
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded),
		errors.As(err, &netE) && netE.Timeout():
		return "no answer in time"
	}
	return "the connection failed"
}

// providerName is a registry name as people write it.
func providerName(p string) string {
	switch p {
	case "salesforce":
		return "Salesforce"
	case "google":
		return "Google"
	case "microsoft":
		return "Microsoft"
	case "zoom":
		return "Zoom"
	}
	return p
}

// providerList names the providers of e's failed revokes, sorted as e.Error does.
func providerList(e *members.RevokeError) string {
	seen := map[string]bool{}
	var out []string
	for k := range e.Failed {
		if p := providerName(k.Provider()); !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return strings.Join(out, " and ")
}

func orgOr(id string) string {
	if id == "" {
		return "ORG"
	}
	return id
}

// explain is reason's sentence when it is a GaveUp (as the worker passes it); another
// error (a test's) is kept as is.
func explain(reason error, s Subject) string {
	var g GaveUp
	if errors.As(reason, &g) {
		return g.Explain(s)
	}
	return reason.Error()
}
