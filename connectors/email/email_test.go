package email_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"tether/connectors/email"
	"tether/connectors/email/mailsink"
)

func setup(t *testing.T) (*email.Mailer, *mailsink.Sink) {
	t.Helper()
	sink, err := mailsink.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sink.Close() })
	m, err := email.New(email.Config{
		Host: sink.Host(), Port: sink.Port(), TLS: email.TLSNone,
		From: "tether <invite@example.com>", Timeout: 5 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	return m, sink
}

func TestSendTextAndHTML(t *testing.T) {
	m, sink := setup(t)
	ctx := context.Background()
	err := m.Send(ctx, email.Message{
		To:        []string{"Rep.One@Example.com"},
		Subject:   "Join Acme on tether — ünïcode",
		Text:      "Join: https://tether.example/join/abc",
		HTML:      `<p><a href="https://tether.example/join/abc">Join</a></p>`,
		MessageID: "invite-42-1@tether",
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := sink.Wait(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	r := got[0]
	if r.From != "invite@example.com" || len(r.To) != 1 || r.To[0] != "Rep.One@Example.com" {
		t.Errorf("envelope = %q -> %v", r.From, r.To)
	}
	if r.Subject != "Join Acme on tether — ünïcode" {
		t.Errorf("subject = %q", r.Subject)
	}
	if r.MessageID != "invite-42-1@tether" {
		t.Errorf("message id = %q", r.MessageID)
	}
	if !strings.Contains(r.Text, "https://tether.example/join/abc") || !strings.Contains(r.HTML, `href="https://tether.example/join/abc"`) {
		t.Errorf("bodies: text %q html %q", r.Text, r.HTML)
	}
}

func TestRefusalsAreClassified(t *testing.T) {
	m, sink := setup(t)
	ctx := context.Background()
	msg := email.Message{To: []string{"a@example.com"}, Subject: "s", Text: "t"}

	sink.FailNext(1, 451)
	err := m.Send(ctx, msg)
	if err == nil || email.IsPermanent(err) {
		t.Fatalf("451: err = %v, permanent = %v; want a temporary error", err, email.IsPermanent(err))
	}
	sink.FailNext(1, 554)
	err = m.Send(ctx, msg)
	if err == nil || !email.IsPermanent(err) {
		t.Fatalf("554: err = %v, permanent = %v; want a permanent error", err, email.IsPermanent(err))
	}
	if err := m.Send(ctx, msg); err != nil {
		t.Fatalf("after faults: %v", err)
	}
	if n := len(sink.Messages()); n != 1 {
		t.Fatalf("sink kept %d messages, want 1 (refused ones are not kept)", n)
	}
}

func TestUnreachableServerIsTemporary(t *testing.T) {
	m, err := email.New(email.Config{Host: "127.0.0.1", Port: 1, TLS: email.TLSNone, From: "a@example.com", Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	err = m.Send(context.Background(), email.Message{To: []string{"b@example.com"}, Text: "x"})
	if err == nil || email.IsPermanent(err) {
		t.Fatalf("connection refused: err = %v; want a temporary error", err)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		cfg  email.Config
		want string
	}{
		{email.Config{From: "a@example.com"}, "smtp host is empty"},
		{email.Config{Host: "h", From: "not an address"}, "is not an address"},
		{email.Config{Host: "h", From: "a@example.com", TLS: "sometimes"}, "tls policy"},
	}
	for _, tt := range tests {
		if err := tt.cfg.Validate(); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Validate(%+v) = %v, want %q", tt.cfg, err, tt.want)
		}
	}
	if _, err := email.New(email.Config{Host: "h", From: "a@example.com"}); err != nil {
		t.Errorf("valid config refused: %v", err)
	}
}

func TestInvalidRecipientIsPermanent(t *testing.T) {
	m, _ := setup(t)
	err := m.Send(context.Background(), email.Message{To: []string{"not-an-address"}, Text: "x"})
	if err == nil || !email.IsPermanent(err) {
		t.Fatalf("err = %v; want permanent", err)
	}
}
