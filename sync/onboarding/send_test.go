package onboarding_test

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"tether/connectors/email"
	"tether/connectors/email/mailsink"
	"tether/sync/delivery"
	"tether/sync/directory"
	"tether/sync/onboarding"
	"tether/sync/store"
	"tether/sync/store/storetest"
)

// smtpMailer sends through the real SMTP client to the sink.
type smtpMailer struct{ m *email.Mailer }

func (s smtpMailer) Send(ctx context.Context, e onboarding.Email) error {
	return email.InviteMailer(s.m, "").Send(ctx, e)
}

// crashingStore wraps the real store; while crash is set, recording a delivery fails as if
// the process died between the SMTP accept and the commit.
type crashingStore struct {
	*store.Store
	crash atomic.Bool
}

func (c *crashingStore) RecordInviteDelivery(ctx context.Context, orgID string, d directory.InviteDelivery) (bool, error) {
	if c.crash.Load() {
		return false, errors.New("simulated crash before commit")
	}
	return c.Store.RecordInviteDelivery(ctx, orgID, d)
}

type sendBundle struct {
	st     *crashingStore
	sink   *mailsink.Sink
	sender *onboarding.Sender
	org    directory.Org
	now    time.Time
}

func setupSend(t *testing.T, s *store.Store) *sendBundle {
	t.Helper()
	sink, err := mailsink.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sink.Close() })
	m, err := email.New(email.Config{Host: sink.Host(), Port: sink.Port(), TLS: email.TLSNone, From: "invite@acme.example"})
	if err != nil {
		t.Fatal(err)
	}
	b := &sendBundle{st: &crashingStore{Store: s}, sink: sink, now: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}
	b.sender, err = onboarding.NewSender(onboarding.SenderConfig{Store: b.st, Mailer: smtpMailer{m},
		PublicURL: "https://tether.example.com/", Now: func() time.Time { return b.now }})
	if err != nil {
		t.Fatal(err)
	}
	b.org, err = s.CreateOrg(t.Context(), directory.Org{Name: "Acme <EU>"})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (b *sendBundle) invite(t *testing.T, email string) directory.Invite {
	t.Helper()
	tok, _ := onboarding.NewToken(strings.NewReader(strings.Repeat(email[:1], 32)))
	inv, err := b.st.CreateInvite(t.Context(), b.org.ID, directory.Invite{Email: email, Role: directory.RoleMeetings,
		TokenHash: tok.Hash, ExpiresAt: b.now.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	return inv
}

var linkRE = regexp.MustCompile(`https://tether\.example\.com/join/([A-Za-z0-9_-]{43})`)

// linkHash returns the stored form of the token in the i-th received email.
func (b *sendBundle) linkHash(t *testing.T, i int) string {
	t.Helper()
	msgs := b.sink.Messages()
	m := linkRE.FindStringSubmatch(msgs[i].Text)
	if m == nil {
		t.Fatalf("email %d has no Join link: %s", i, msgs[i].Text)
	}
	h, ok := onboarding.HashToken(m[1])
	if !ok {
		t.Fatalf("link token %q does not parse", m[1])
	}
	return h
}

func TestSendOncePerAttempt(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		t.Parallel()
		b := setupSend(t, s)
		ctx := t.Context()
		inv := b.invite(t, "ann@acme.example")

		out, err := b.sender.Send(ctx, b.org.ID, inv.ID, 1)
		if err != nil || out != onboarding.Sent {
			t.Fatalf("send attempt 1: %s, %v", out, err)
		}
		msg := b.sink.Messages()[0]
		if !strings.Contains(msg.Subject, "Acme <EU>") || !strings.Contains(msg.HTML, "Acme &lt;EU&gt;") || !strings.Contains(msg.Text, "Meetings") {
			t.Fatalf("email: subject %q\n%s\n%s", msg.Subject, msg.Text, msg.HTML)
		}
		got, _ := b.st.GetInvite(ctx, b.org.ID, inv.ID)
		if got.TokenHash != b.linkHash(t, 0) || got.SentCount != 1 || !got.ExpiresAt.Equal(b.now.Add(onboarding.DefaultTokenTTL)) {
			t.Fatalf("invite after send: %+v", got)
		}

		// A re-run of attempt 1 (task retried after the record committed) sends nothing.
		if out, err := b.sender.Send(ctx, b.org.ID, inv.ID, 1); err != nil || out != onboarding.AlreadySent {
			t.Fatalf("re-run of attempt 1: %s, %v", out, err)
		}
		if n := len(b.sink.Messages()); n != 1 {
			t.Fatalf("%d emails after a re-run, want 1", n)
		}

		// Attempt 2 (a resend): new link, the old one stops working.
		if out, err := b.sender.Send(ctx, b.org.ID, inv.ID, 2); err != nil || out != onboarding.Sent {
			t.Fatalf("attempt 2: %s, %v", out, err)
		}
		got, _ = b.st.GetInvite(ctx, b.org.ID, inv.ID)
		if got.TokenHash != b.linkHash(t, 1) || got.TokenHash == b.linkHash(t, 0) || got.ResendCount != 1 {
			t.Fatalf("after resend: %+v", got)
		}
		if _, err := b.st.GetInviteByTokenHash(ctx, b.linkHash(t, 0)); !errors.Is(err, directory.ErrNotFound) {
			t.Fatalf("old link still resolves: %v", err)
		}

		// A revoked invite is not emailed.
		if err := b.st.RevokeInvite(ctx, b.org.ID, inv.ID, b.now); err != nil {
			t.Fatal(err)
		}
		if out, err := b.sender.Send(ctx, b.org.ID, inv.ID, 3); err != nil || out != onboarding.NotPending {
			t.Fatalf("send of a revoked invite: %s, %v", out, err)
		}
		if _, err := b.sender.Send(ctx, b.org.ID, "no-such-invite", 1); !errors.Is(err, onboarding.ErrInviteNotFound) {
			t.Fatalf("send of a missing invite: %v", err)
		}
		if n := len(b.sink.Messages()); n != 2 {
			t.Fatalf("%d emails, want 2", n)
		}
	})
}

// TestSendCrashBeforeRecord: the server accepted attempt 1 and the record did not commit
// (the run died). The retry finds the attempt still attempting and sends nothing: one
// email, the invite's delivery unknown, its link the one that email carries; a resend
// by the operator is a new attempt and is sent.
func TestSendCrashBeforeRecord(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		t.Parallel()
		b := setupSend(t, s)
		ctx := t.Context()
		inv := b.invite(t, "bob@acme.example")

		b.st.crash.Store(true)
		if _, err := b.sender.Send(ctx, b.org.ID, inv.ID, 1); err == nil {
			t.Fatal("send with a failing record reported success")
		}
		got, _ := b.st.GetInvite(ctx, b.org.ID, inv.ID)
		if got.SentCount != 0 || got.TokenHash != inv.TokenHash || got.Delivery() != directory.DeliveryUnsent {
			t.Fatalf("uncommitted attempt changed the invite: %+v", got)
		}
		b.st.crash.Store(false)
		if out, err := b.sender.Send(ctx, b.org.ID, inv.ID, 1); err != nil || out != onboarding.Unknown {
			t.Fatalf("retry: %s, %v; want unknown, nil", out, err)
		}
		if out, err := b.sender.Send(ctx, b.org.ID, inv.ID, 1); err != nil || out != onboarding.AlreadySent {
			t.Fatalf("second retry: %s, %v; want already_sent", out, err)
		}
		if n := len(b.sink.Messages()); n != 1 {
			t.Fatalf("%d emails after a crash and two retries, want 1", n)
		}
		got, _ = b.st.GetInvite(ctx, b.org.ID, inv.ID)
		if got.Delivery() != directory.DeliveryUnknown || got.LastAttempt != 1 || got.SentCount != 0 || got.TokenHash != b.linkHash(t, 0) {
			t.Fatalf("after the retry: delivery %s, %+v; want unknown with the emailed link", got.Delivery(), got)
		}
		if l, err := b.st.ListInvites(ctx, b.org.ID, directory.InviteFilter{Delivery: directory.DeliveryUnknown}); err != nil || len(l) != 1 || l[0].ID != inv.ID {
			t.Fatalf("listing unknown: %v, %v", l, err)
		}
		// The operator resends: attempt 2, a new email and link.
		if out, err := b.sender.Send(ctx, b.org.ID, inv.ID, 2); err != nil || out != onboarding.Sent {
			t.Fatalf("resend: %s, %v", out, err)
		}
		got, _ = b.st.GetInvite(ctx, b.org.ID, inv.ID)
		if n := len(b.sink.Messages()); n != 2 || got.Delivery() != directory.DeliverySent || got.TokenHash != b.linkHash(t, 1) {
			t.Fatalf("after resend: %d emails, delivery %s", n, got.Delivery())
		}
	})
}

// TestSendMaybeAccepted: the server kept the email but the connection broke before its
// "250": the mailer cannot tell, so the attempt is unknown at once and never retried.
func TestSendMaybeAccepted(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		t.Parallel()
		b := setupSend(t, s)
		ctx := t.Context()
		inv := b.invite(t, "dee@acme.example")
		b.sink.DropNext(1)
		if out, err := b.sender.Send(ctx, b.org.ID, inv.ID, 1); err != nil || out != onboarding.Unknown {
			t.Fatalf("send answered by a dropped connection: %s, %v; want unknown, nil", out, err)
		}
		if out, err := b.sender.Send(ctx, b.org.ID, inv.ID, 1); err != nil || out != onboarding.AlreadySent {
			t.Fatalf("retry: %s, %v", out, err)
		}
		got, _ := b.st.GetInvite(ctx, b.org.ID, inv.ID)
		if n := len(b.sink.Messages()); n != 1 || got.Delivery() != directory.DeliveryUnknown {
			t.Fatalf("%d emails, delivery %s; want 1, unknown", n, got.Delivery())
		}
	})
}

func TestSendPermanentFailure(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		t.Parallel()
		b := setupSend(t, s)
		inv := b.invite(t, "cy@acme.example")
		b.sink.FailNext(1, 554)
		_, err := b.sender.Send(t.Context(), b.org.ID, inv.ID, 1)
		if !errors.Is(err, onboarding.ErrUndeliverable) {
			t.Fatalf("554: %v, want ErrUndeliverable", err)
		}
		b.sink.FailNext(1, 421)
		_, err = b.sender.Send(t.Context(), b.org.ID, inv.ID, 1)
		if err == nil || errors.Is(err, onboarding.ErrUndeliverable) || errors.Is(err, delivery.ErrMaybeSent) {
			t.Fatalf("421: %v, want a transient error", err)
		}
		// A refusal certainly sent nothing: the retry of the same attempt sends it, once.
		if out, err := b.sender.Send(t.Context(), b.org.ID, inv.ID, 1); err != nil || out != onboarding.Sent {
			t.Fatalf("retry after 421: %s, %v", out, err)
		}
		got, _ := b.st.GetInvite(t.Context(), b.org.ID, inv.ID)
		if n := len(b.sink.Messages()); n != 1 || got.Delivery() != directory.DeliverySent {
			t.Fatalf("%d emails, delivery %s; want 1, sent", n, got.Delivery())
		}
	})
}

func TestHashToken(t *testing.T) {
	t.Parallel()
	tok, err := onboarding.NewToken(strings.NewReader(strings.Repeat("x", 32)))
	if err != nil {
		t.Fatal(err)
	}
	if h, ok := onboarding.HashToken(tok.Plain); !ok || h != tok.Hash || strings.Contains(tok.String(), tok.Plain) {
		t.Fatalf("HashToken(%q) = %q, %t; token %v", tok.Plain, h, ok, tok)
	}
	for _, bad := range []string{"", "short", tok.Plain + "A", strings.Repeat("=", 43)} {
		if _, ok := onboarding.HashToken(bad); ok {
			t.Errorf("HashToken(%q) accepted", bad)
		}
	}
	if _, err := onboarding.NewToken(strings.NewReader("too short")); err == nil {
		t.Error("NewToken with a short random source succeeded")
	}
}

func TestSameSalesforceID(t *testing.T) {
	t.Parallel()
	tests := []struct {
		a, b string
		want bool
	}{
		{"005000000000001", "005000000000001AAA", true}, // 15 vs 18 forms
		{"005000000000001AAA", "005000000000001AAA", true},
		{"005000000000001", "005000000000002", false},
		{"005000000000001", "005000000000001aaa", true}, // the suffix is case-insensitive
		{"005Ab0000000001", "005ab0000000001iaa", true}, // an 18-character id in any case
		{"005Ab0000000001", "005ab0000000001", false},   // 15-character ids are case-sensitive
		{"", "", false},
		{"0050000000000011", "0050000000000011", false}, // 16 characters is no id
	}
	for _, tt := range tests {
		if got := onboarding.SameSalesforceID(tt.a, tt.b); got != tt.want {
			t.Errorf("SameSalesforceID(%q, %q) = %t, want %t", tt.a, tt.b, got, tt.want)
		}
	}
}

// TestSendSaysWhatJoinDoes: a Salesforce-sourced invite's email says Join is the
// Salesforce sign-in when the Join connects Salesforce, and that Salesforce is connected
// afterwards from a link when Join accepts at once; an email invite says neither.
func TestSendSaysWhatJoinDoes(t *testing.T) {
	t.Parallel()
	b := setupSend(t, storetest.SQLite(t))
	m, err := email.New(email.Config{Host: b.sink.Host(), Port: b.sink.Port(), TLS: email.TLSNone, From: "invite@acme.example"})
	if err != nil {
		t.Fatal(err)
	}
	const signIn, later = "the link takes you to Salesforce's sign-in", "You connect your Salesforce account afterwards, from a separate link"
	for i, tc := range []struct {
		source          directory.InviteSource
		connect         bool   // SenderConfig.ConnectSalesforce
		want, wantNot   string // in the text part
		wantHTML        string
		wantNotAnywhere string
	}{
		{directory.SourceSalesforce, true, signIn, later, "the button takes you to Salesforce's sign-in", "After joining"},
		{directory.SourceSalesforce, false, later, signIn, later, "After joining"},
		{directory.SourceEmail, true, "Join here", "Salesforce", "Join", "Salesforce"},
	} {
		sender, err := onboarding.NewSender(onboarding.SenderConfig{Store: b.st, Mailer: smtpMailer{m}, ConnectSalesforce: tc.connect,
			PublicURL: "https://tether.example.com/", Now: func() time.Time { return b.now }})
		if err != nil {
			t.Fatal(err)
		}
		inv, err := b.st.CreateInvite(t.Context(), b.org.ID, directory.Invite{Email: fmt.Sprintf("rep%d@acme.example", i), Role: directory.RoleChat,
			Source: tc.source, TokenHash: fmt.Sprintf("tok-%d", i), ExpiresAt: b.now.Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		if out, err := sender.Send(t.Context(), b.org.ID, inv.ID, 1); err != nil || out != onboarding.Sent {
			t.Fatalf("send %d: %s, %v", i, out, err)
		}
		msg := b.sink.Messages()[i]
		if !strings.Contains(msg.Text, tc.want) || strings.Contains(msg.Text, tc.wantNot) || !strings.Contains(msg.HTML, tc.wantHTML) ||
			strings.Contains(msg.Text+msg.HTML, tc.wantNotAnywhere) {
			t.Errorf("source %s, connect %v:\n%s\n%s", tc.source, tc.connect, msg.Text, msg.HTML)
		}
	}
}
