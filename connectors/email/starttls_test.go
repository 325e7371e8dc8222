package email_test

import (
	"strings"
	"testing"
	"time"

	"tether/connectors/email"
	"tether/connectors/email/mailsink"
)

// A server that does not offer STARTTLS (a plain go-smtp server, as a man in the middle
// stripping the STARTTLS capability looks) fails the send under the default policy, and
// nothing reaches it in clear. Only the explicit "none" policy sends there.
func TestSTARTTLSStrippedFailsTheSend(t *testing.T) {
	sink, err := mailsink.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sink.Close() })
	msg := email.Message{To: []string{"rep@acme.example"}, Subject: "Join", Text: "https://tether.example/join/secret-token"}
	for _, policy := range []email.TLSPolicy{"", email.TLSMandatory} {
		m, err := email.New(email.Config{Host: sink.Host(), Port: sink.Port(), TLS: policy, From: "a@example.com", Timeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		err = m.Send(t.Context(), msg)
		if err == nil || !strings.Contains(err.Error(), "STARTTLS") || !strings.Contains(err.Error(), "smtp+insecure://") {
			t.Fatalf("policy %q: send to a server without STARTTLS = %v; want a failure naming STARTTLS and the fix", policy, err)
		}
		if strings.Contains(err.Error(), "secret-token") {
			t.Fatalf("error carries the message: %v", err)
		}
	}
	if n := len(sink.Messages()); n != 0 {
		t.Fatalf("%d messages reached the server in clear", n)
	}
	m, err := email.New(email.Config{Host: sink.Host(), Port: sink.Port(), TLS: email.TLSNone, From: "a@example.com", Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Send(t.Context(), msg); err != nil {
		t.Fatalf("explicit no-TLS send to the local sink: %v", err)
	}
}
