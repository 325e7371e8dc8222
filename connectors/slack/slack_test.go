package slack_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"tether/connectors/slack"
	"tether/connectors/slack/slackfake"
	"tether/sync/delivery"
	"tether/sync/reminders"
	"tether/sync/vault"
)

const token = "xoxb-1111-2222-secretsecret"

func TestDirectMessage(t *testing.T) {
	srv := slackfake.Start()
	t.Cleanup(srv.Close)
	srv.AddToken(token)
	uid := srv.AddUser("Rep@Acme.example")
	c := slack.Client{APIURL: srv.URL()}
	tok := vault.NewToken(token)

	posted, err := c.DirectMessage(t.Context(), tok, "rep@acme.example", "Reconnect: https://tether.example.com/connect/abc")
	if err != nil || posted.TS == "" || posted.Channel != "D"+uid[1:] {
		t.Fatalf("send: posted %+v, %v", posted, err)
	}
	msgs := srv.Messages()
	if len(msgs) != 1 || msgs[0].User != uid || msgs[0].Channel != posted.Channel || msgs[0].TS != posted.TS || msgs[0].Token != token ||
		!strings.Contains(msgs[0].Text, "https://tether.example.com/connect/abc") {
		t.Fatalf("posted %+v", msgs)
	}

	for _, tc := range []struct {
		name  string
		setup func()
		email string
		check func(error) bool
	}{
		{"unknown email", func() {}, "nobody@acme.example", func(err error) bool { return errors.Is(err, reminders.ErrSlackUserNotFound) }},
		{"rate limited", func() { srv.RateLimit("chat.postMessage", 1, 7*time.Second) }, "rep@acme.example", func(err error) bool {
			var rl *reminders.SlackRateLimited
			return errors.As(err, &rl) && rl.RetryAfter() == 7*time.Second
		}},
		{"revoked token", func() { srv.RefuseToken(token, "token_revoked") }, "rep@acme.example", func(err error) bool {
			var te *reminders.SlackTokenError
			return errors.As(err, &te) && te.Code == "token_revoked"
		}},
		{"server error", func() { srv.AddToken(token); srv.Fail("conversations.open", "internal_error", 1) }, "rep@acme.example", func(err error) bool {
			var te *reminders.SlackTokenError
			return err != nil && !errors.As(err, &te) && !errors.Is(err, delivery.ErrMaybeSent) && strings.Contains(err.Error(), "internal_error")
		}},
		// Posted, but the answer was lost: maybe sent, so never retried.
		{"answer lost", func() { srv.DropAnswer("chat.postMessage", 1) }, "rep@acme.example", func(err error) bool {
			return errors.Is(err, delivery.ErrMaybeSent)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.setup()
			_, err := c.DirectMessage(t.Context(), tok, tc.email, "hello")
			if !tc.check(err) {
				t.Fatalf("error %v (%T)", err, err)
			}
			if strings.Contains(err.Error(), token) {
				t.Fatalf("the error carries the token: %v", err)
			}
		})
	}
	if _, err := (slack.Client{APIURL: srv.URL()}).DirectMessage(t.Context(), vault.NewToken("xoxb-unknown"), "rep@acme.example", "x"); err == nil {
		t.Fatal("an unknown token was accepted")
	} else if te := new(reminders.SlackTokenError); !errors.As(err, &te) || te.Code != "invalid_auth" {
		t.Fatalf("unknown token: %v", err)
	}
	if n := len(srv.Messages()); n != 2 {
		t.Fatalf("%d messages posted, want the first and the one whose answer was lost", n)
	}
	// Slack unreachable: certainly not posted, retried as any failure.
	closed := slackfake.Start()
	closed.Close()
	if _, err := (slack.Client{APIURL: closed.URL()}).DirectMessage(t.Context(), tok, "rep@acme.example", "x"); err == nil || errors.Is(err, delivery.ErrMaybeSent) {
		t.Fatalf("Slack unreachable: %v; want a plain, retried error", err)
	}
}
