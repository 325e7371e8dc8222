// Package mailsink is an SMTP server that keeps what it receives, for tests
// and `tether demo`. It can refuse the next messages with a chosen reply code
// so callers' retry paths are exercised over real SMTP.
package mailsink

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
)

// Received is one message as the sink got it.
type Received struct {
	From      string
	To        []string
	Subject   string
	MessageID string
	Text      string
	HTML      string
	Raw       []byte
}

// Sink is a running SMTP server on loopback.
type Sink struct {
	srv *smtp.Server
	ln  net.Listener

	mu       sync.Mutex
	msgs     []Received
	failNext []int // reply codes for the next DATA commands
	dropNext int   // next messages kept but answered by a dropped connection
	notify   chan struct{}
}

// Start listens on 127.0.0.1 on a free port.
func Start() (*Sink, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("mailsink: listen: %w", err)
	}
	s := &Sink{ln: ln, notify: make(chan struct{}, 1)}
	s.srv = smtp.NewServer(backend{s})
	s.srv.Domain = "localhost"
	s.srv.ReadTimeout = 10 * time.Second
	s.srv.WriteTimeout = 10 * time.Second
	s.srv.AllowInsecureAuth = true
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

// Host and Port are where to point a mailer.
func (s *Sink) Host() string { return "127.0.0.1" }

// Port is the listening port.
func (s *Sink) Port() int { return s.ln.Addr().(*net.TCPAddr).Port }

// Close stops the server.
func (s *Sink) Close() error { return s.srv.Close() }

// FailNext makes the next n messages be refused at DATA with code
// (e.g. 451 for a temporary failure, 554 for a permanent one).
func (s *Sink) FailNext(n, code int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := 0; i < n; i++ {
		s.failNext = append(s.failNext, code)
	}
}

// DropNext makes the next n messages be kept (the sink has them, as a server that
// accepted them would) but answered by closing the connection instead of "250": the
// client cannot tell whether they were accepted.
func (s *Sink) DropNext(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dropNext += n
}

// Messages returns a copy of what has been received so far.
func (s *Sink) Messages() []Received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Received(nil), s.msgs...)
}

// Wait returns once at least n messages have arrived, or ctx ends.
func (s *Sink) Wait(ctx context.Context, n int) ([]Received, error) {
	for {
		if m := s.Messages(); len(m) >= n {
			return m, nil
		}
		select {
		case <-ctx.Done():
			return s.Messages(), fmt.Errorf("mailsink: %d of %d messages: %w", len(s.Messages()), n, ctx.Err())
		case <-s.notify:
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// deliver keeps r or refuses it; drop reports that the connection must be dropped
// instead of replying.
func (s *Sink) deliver(r Received) (drop bool, err error) {
	s.mu.Lock()
	if len(s.failNext) > 0 {
		code := s.failNext[0]
		s.failNext = s.failNext[1:]
		s.mu.Unlock()
		return false, &smtp.SMTPError{Code: code, Message: "refused by mailsink fault injection"}
	}
	s.msgs = append(s.msgs, r)
	if s.dropNext > 0 {
		s.dropNext--
		drop = true
	}
	s.mu.Unlock()
	select {
	case s.notify <- struct{}{}:
	default:
	}
	return drop, nil
}

type backend struct{ s *Sink }

func (b backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return &session{sink: b.s, conn: c}, nil
}

type session struct {
	sink *Sink
	conn *smtp.Conn
	from string
	to   []string
}

func (x *session) AuthMechanisms() []string                    { return []string{"PLAIN"} }
func (x *session) Mail(from string, _ *smtp.MailOptions) error { x.from = from; return nil }
func (x *session) Rcpt(to string, _ *smtp.RcptOptions) error   { x.to = append(x.to, to); return nil }
func (x *session) Reset()                                      { x.from, x.to = "", nil }
func (x *session) Logout() error                               { return nil }

func (x *session) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	rec, err := parse(raw)
	if err != nil {
		return &smtp.SMTPError{Code: 554, Message: "unparseable message: " + err.Error()}
	}
	rec.From, rec.To = x.from, append([]string(nil), x.to...)
	drop, err := x.sink.deliver(rec)
	if drop {
		_ = x.conn.Conn().Close()
	}
	return err
}

func parse(raw []byte) (Received, error) {
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return Received{}, err
	}
	dec := new(mime.WordDecoder)
	subject, err := dec.DecodeHeader(m.Header.Get("Subject"))
	if err != nil {
		subject = m.Header.Get("Subject")
	}
	rec := Received{
		Subject:   subject,
		MessageID: strings.Trim(m.Header.Get("Message-Id"), "<>"),
		Raw:       raw,
	}
	err = walk(m.Header.Get("Content-Type"), m.Header.Get("Content-Transfer-Encoding"), m.Body, &rec)
	return rec, err
}

// walk collects the text/plain and text/html parts, descending into multiparts.
func walk(contentType, encoding string, body io.Reader, rec *Received) error {
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		mt = "text/plain"
	}
	if strings.HasPrefix(mt, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextPart()
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return err
			}
			// multipart.Reader already undoes quoted-printable.
			if err := walk(p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), p, rec); err != nil {
				return err
			}
		}
	}
	b, err := decodeBody(encoding, body)
	if err != nil {
		return err
	}
	switch mt {
	case "text/html":
		rec.HTML = string(b)
	default:
		rec.Text = string(b)
	}
	return nil
}

func decodeBody(encoding string, r io.Reader) ([]byte, error) {
	switch strings.ToLower(encoding) {
	case "base64":
		raw, err := io.ReadAll(r)
		if err != nil {
			return nil, err
		}
		return decodeBase64(raw)
	case "quoted-printable":
		return io.ReadAll(newQP(r))
	default:
		return io.ReadAll(r)
	}
}
