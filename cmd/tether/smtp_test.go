package main

import (
	"fmt"
	"strings"
	"testing"

	"tether/connectors/email"
	"tether/connectors/email/mailsink"
)

// TETHER_SMTP_URL=smtp://… requires STARTTLS: against a server that does not offer it (a
// plain go-smtp server, which is what stripping looks like) the send fails and nothing
// arrives in clear. smtp+insecure:// is the explicit opt-out for a local sink.
func TestSMTPURLRequiresSTARTTLS(t *testing.T) {
	sink, err := mailsink.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sink.Close() })
	send := func(scheme string) error {
		c, err := smtpConfig(fmt.Sprintf("%s://%s:%d", scheme, sink.Host(), sink.Port()), "tether <invite@acme.example>")
		if err != nil {
			t.Fatal(err)
		}
		m, err := email.New(c)
		if err != nil {
			t.Fatal(err)
		}
		return m.Send(t.Context(), email.Message{To: []string{"rep@acme.example"}, Subject: "Join", Text: "a Join link"})
	}
	if err := send("smtp"); err == nil || !strings.Contains(err.Error(), "STARTTLS") {
		t.Fatalf("smtp:// to a server without STARTTLS: %v; want the send refused", err)
	}
	if n := len(sink.Messages()); n != 0 {
		t.Fatalf("smtp:// delivered %d messages without TLS", n)
	}
	for _, scheme := range []string{"smtp+insecure", "smtp+plain"} {
		if err := send(scheme); err != nil {
			t.Fatalf("%s:// to the local sink: %v", scheme, err)
		}
	}
	if _, err := smtpConfig("smtp+tls://mail.example.com", "a@example.com"); err == nil || !strings.Contains(err.Error(), "smtp+insecure") {
		t.Fatalf("unknown scheme: %v; want the accepted ones named", err)
	}
}
