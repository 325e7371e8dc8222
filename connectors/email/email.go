package email

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// TLSPolicy says how the SMTP connection is secured.
type TLSPolicy string

// TLS policies. Mandatory STARTTLS is the default; "none" exists for local
// sinks (the demo, tests, a docker-compose mail catcher).
const (
	TLSMandatory     TLSPolicy = "mandatory"
	TLSOpportunistic TLSPolicy = "opportunistic"
	TLSNone          TLSPolicy = "none"
	TLSImplicit      TLSPolicy = "implicit" // SMTPS, usually port 465
)

// Config is where and how mail is sent.
type Config struct {
	Host string
	// Port defaults to 587.
	Port     int
	Username string
	// Password is read through a func so the Config can be printed safely.
	Password func() string
	TLS      TLSPolicy
	// From is the envelope and header sender, e.g. "tether <invite@example.com>".
	From string
	// Timeout bounds one connection and send. Zero means 30s.
	Timeout time.Duration
	// Dir, when set, makes Send write each message as an .eml file in Dir instead of
	// connecting to a server (TETHER_MAILER=dir, for trials): Host, Port, TLS and the
	// credentials are then unused.
	Dir string
}

// Validate reports a config a person can fix.
func (c Config) Validate() error {
	if c.Host == "" && c.Dir == "" {
		return errors.New("smtp host is empty (example: smtp.example.com)")
	}
	if _, err := mail.ParseAddress(c.From); err != nil {
		return fmt.Errorf("smtp from %q is not an address (example: tether <invite@example.com>)", c.From)
	}
	switch c.TLS {
	case "", TLSMandatory, TLSOpportunistic, TLSNone, TLSImplicit:
	default:
		return fmt.Errorf("smtp tls policy %q is unknown (one of mandatory, opportunistic, none, implicit)", c.TLS)
	}
	return nil
}

// Message is one email to send.
type Message struct {
	To      []string
	Subject string
	Text    string
	HTML    string
	// MessageID without angle brackets, e.g. "invite-<id>-<attempt>@tether".
	// Empty means one is generated.
	MessageID string
	// Headers are extra headers (e.g. List-Unsubscribe).
	Headers map[string]string
	// From overrides Config.From for this message (invitations and alerts may come
	// from different addresses through one mailer). Empty means Config.From.
	From string
}

// Mailer sends Messages. Safe for concurrent use; each Send opens its own
// connection.
type Mailer struct {
	cfg Config
}

// New checks cfg and returns a Mailer.
func New(cfg Config) (*Mailer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Port == 0 {
		cfg.Port = 587
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.TLS == "" {
		cfg.TLS = TLSMandatory
	}
	return &Mailer{cfg: cfg}, nil
}

// From is the configured sender.
func (m *Mailer) From() string { return m.cfg.From }

// Send delivers msgs over one connection. A failure says whether it is
// permanent (see IsPermanent): a 5xx answer or an invalid address will not
// succeed on retry; a 4xx answer or a connection failure may. It also says
// whether the server may have accepted the message anyway (see MaybeSent): only
// when the connection broke after the whole message was handed over and before
// the server's verdict. An error after the server accepted every message (a
// failed RSET or QUIT) is no failure: Send returns nil.
func (m *Mailer) Send(ctx context.Context, msgs ...Message) error {
	var opts []gomail.MsgOption
	if m.cfg.Dir != "" {
		// 8bit, not quoted-printable: a link in a file stays one line, to open or grep.
		opts = append(opts, gomail.WithEncoding(gomail.NoEncoding))
	}
	built := make([]*gomail.Msg, 0, len(msgs))
	for _, msg := range msgs {
		gm, err := m.build(msg, opts...)
		if err != nil {
			return err
		}
		built = append(built, gm)
	}
	if m.cfg.Dir != "" {
		return m.writeFiles(built)
	}
	c, err := gomail.NewClient(m.cfg.Host, m.options()...)
	if err != nil {
		return &Error{Op: "configure smtp client", Err: err, Permanent: true}
	}
	ctx, cancel := context.WithTimeout(ctx, m.cfg.Timeout)
	defer cancel()
	if err := c.DialAndSendWithContext(ctx, built...); err != nil {
		if m.cfg.TLS == TLSMandatory && strings.Contains(err.Error(), "does not support STARTTLS") {
			// Not sent in clear: the server (or someone on the path) did not offer TLS.
			return &Error{Op: "send", Err: fmt.Errorf("%w: nothing was sent; use a server that offers STARTTLS, smtps:// for TLS from the start, or smtp+insecure:// only for a local mail sink", err)}
		}
		if delivered(built) {
			return nil
		}
		if maybeSent(err) {
			return &Error{Op: "send", Err: fmt.Errorf("%w: the connection broke after the message was handed over, so the server may have accepted it", err), MaybeSent: true}
		}
		return &Error{Op: "send", Err: err, Permanent: permanent(err)}
	}
	return nil
}

// delivered reports whether the server accepted every message (go-mail marks a message
// delivered once the server answered 250 to its DATA).
func delivered(msgs []*gomail.Msg) bool {
	for _, m := range msgs {
		if !m.IsDelivered() {
			return false
		}
	}
	return len(msgs) > 0
}

// maybeSent reports whether err leaves the server's verdict unknown: the message's final
// dot was sent (go-mail's ErrSMTPDataClose) but no SMTP reply came back (no 4xx/5xx code:
// a timeout or a dropped connection). Every earlier failure (dial, MAIL, RCPT, DATA, a
// write of the body) leaves an SMTP transaction the server cannot have completed.
func maybeSent(err error) bool {
	var se *gomail.SendError
	if !errors.As(err, &se) {
		return false
	}
	return se.Reason == gomail.ErrSMTPDataClose && se.ErrorCode() == 0
}

func (m *Mailer) options() []gomail.Option {
	opts := []gomail.Option{gomail.WithPort(m.cfg.Port), gomail.WithTimeout(m.cfg.Timeout)}
	switch m.cfg.TLS {
	case TLSNone:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	case TLSOpportunistic:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSOpportunistic))
	case TLSImplicit:
		opts = append(opts, gomail.WithSSL())
	default:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	}
	if m.cfg.Username != "" {
		pw := ""
		if m.cfg.Password != nil {
			pw = m.cfg.Password()
		}
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover),
			gomail.WithUsername(m.cfg.Username), gomail.WithPassword(pw))
	}
	return opts
}

func (m *Mailer) build(msg Message, opts ...gomail.MsgOption) (*gomail.Msg, error) {
	gm := gomail.NewMsg(opts...)
	from := m.cfg.From
	if msg.From != "" {
		from = msg.From
	}
	if err := gm.From(from); err != nil {
		return nil, &Error{Op: "set sender", Err: err, Permanent: true}
	}
	if len(msg.To) == 0 {
		return nil, &Error{Op: "set recipients", Err: errors.New("no recipient"), Permanent: true}
	}
	if err := gm.To(msg.To...); err != nil {
		return nil, &Error{Op: "set recipients", Err: err, Permanent: true}
	}
	gm.Subject(msg.Subject)
	if msg.MessageID != "" {
		gm.SetMessageIDWithValue(strings.Trim(msg.MessageID, "<>"))
	} else {
		gm.SetMessageID()
	}
	gm.SetDate()
	for k, v := range msg.Headers {
		gm.SetGenHeader(gomail.Header(k), v)
	}
	switch {
	case msg.Text != "" && msg.HTML != "":
		gm.SetBodyString(gomail.TypeTextPlain, msg.Text)
		gm.AddAlternativeString(gomail.TypeTextHTML, msg.HTML)
	case msg.HTML != "":
		gm.SetBodyString(gomail.TypeTextHTML, msg.HTML)
	default:
		gm.SetBodyString(gomail.TypeTextPlain, msg.Text)
	}
	return gm, nil
}

// Error is a failed send. It names the operation; addresses and bodies stay
// out of it except as the SMTP server echoed them.
type Error struct {
	Op        string
	Err       error
	Permanent bool
	// MaybeSent: the server may have accepted the message despite the error.
	MaybeSent bool
}

func (e *Error) Error() string { return "email: " + e.Op + ": " + e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// SMTPCode is the server's reply code (550), 0 when no reply came. The worker reads it
// through an interface of its own, to say what the server answered without the chain.
func (e *Error) SMTPCode() int {
	var se *gomail.SendError
	if errors.As(e.Err, &se) {
		return se.ErrorCode()
	}
	return 0
}

// IsPermanent reports whether err will fail again however often it is retried.
func IsPermanent(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Permanent
}

// MaybeSent reports whether the server may have accepted the message despite err
// (retrying could deliver it twice).
func MaybeSent(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.MaybeSent
}

func permanent(err error) bool {
	var se *gomail.SendError
	if !errors.As(err, &se) || se.IsTemp() {
		return false
	}
	// A 5xx reply is final; anything else (no reply, a dropped connection) may pass later.
	code := se.ErrorCode()
	return code >= 500 && code < 600
}
