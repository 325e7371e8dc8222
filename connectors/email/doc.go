// Package email delivers tether's mail (invitations, admin notices) over SMTP.
//
// Content is the caller's: a Message carries subject, text and HTML bodies and
// a Message-ID. Callers derive the Message-ID from what they send and the
// attempt, so a re-run after a crash re-sends the same message rather than a
// new one, and a sink or receiving system can tell the two apart.
//
// Subpackage mailsink is an in-process SMTP server (emersion/go-smtp) that
// keeps what it receives, for tests and `tether demo`.
package email
