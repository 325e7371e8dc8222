package slack

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"

	"github.com/slack-go/slack"

	"tether/sync/delivery"
	"tether/sync/reminders"
	"tether/sync/vault"
)

// DefaultAPIURL is Slack's Web API.
const DefaultAPIURL = "https://slack.com/api/"

// Client sends direct messages. The zero value talks to Slack with http.DefaultClient.
// Safe for concurrent use.
type Client struct {
	// APIURL is the Web API's base URL, ending in "/". Empty means DefaultAPIURL; tests
	// point it at a slackfake server.
	APIURL string
	// HTTP is the client used; nil means http.DefaultClient.
	HTTP *http.Client
}

var _ reminders.SlackSender = Client{}

// tokenCodes are the errors that say the token itself is refused: no retry helps.
var tokenCodes = map[string]bool{
	"not_authed": true, "invalid_auth": true, "account_inactive": true, "token_revoked": true,
	"token_expired": true, "no_permission": true, "missing_scope": true, "not_allowed_token_type": true,
	"team_access_not_granted": true, "ekm_access_denied": true, "org_login_required": true,
}

// DirectMessage implements reminders.SlackSender.
func (c Client) DirectMessage(ctx context.Context, token vault.Token, email, text string) (reminders.SlackMessage, error) {
	opts := []slack.Option{slack.OptionAPIURL(cmpOr(c.APIURL, DefaultAPIURL))}
	if c.HTTP != nil {
		opts = append(opts, slack.OptionHTTPClient(c.HTTP))
	}
	api := slack.New(token.Reveal(), opts...)
	u, err := api.GetUserByEmailContext(ctx, email)
	if err != nil {
		return reminders.SlackMessage{}, classify("users.lookupByEmail", err)
	}
	ch, _, _, err := api.OpenConversationContext(ctx, &slack.OpenConversationParameters{Users: []string{u.ID}})
	if err != nil {
		return reminders.SlackMessage{}, classify("conversations.open", err)
	}
	channel, ts, err := api.PostMessageContext(ctx, ch.ID, slack.MsgOptionText(text, false),
		slack.MsgOptionDisableLinkUnfurl(), slack.MsgOptionDisableMediaUnfurl())
	if err != nil {
		if postMaybeDone(err) {
			return reminders.SlackMessage{}, fmt.Errorf("%w: slack chat.postMessage: %s", delivery.ErrMaybeSent, strings.TrimSpace(err.Error()))
		}
		return reminders.SlackMessage{}, classify("chat.postMessage", err)
	}
	return reminders.SlackMessage{Channel: channel, TS: ts}, nil
}

// classify maps a slack-go error to the reminders contract. Slack's error strings and
// HTTP statuses carry no token.
func classify(method string, err error) error {
	var (
		rl  *slack.RateLimitedError
		se  slack.SlackErrorResponse
		sce slack.StatusCodeError
	)
	switch {
	case errors.As(err, &rl):
		return &reminders.SlackRateLimited{Delay: rl.RetryAfter}
	case errors.As(err, &se) && se.Err == "users_not_found":
		return reminders.ErrSlackUserNotFound
	case errors.As(err, &se) && tokenCodes[se.Err]:
		return &reminders.SlackTokenError{Code: se.Err}
	case errors.As(err, &se):
		return &reminders.SlackError{Method: method, Code: se.Err}
	case errors.As(err, &sce):
		return &reminders.SlackError{Method: method, Code: fmt.Sprintf("HTTP %d", sce.Code)}
	}
	return fmt.Errorf("slack %s: %s", method, strings.TrimSpace(err.Error()))
}

// postMaybeDone reports whether a chat.postMessage error leaves unknown whether Slack
// posted the message: the request went out and no answer came back (a dropped
// connection, a timeout). A Slack answer (an error string, an HTTP status, a rate limit)
// says it did not post; so does a failure to connect at all.
func postMaybeDone(err error) bool {
	var (
		rl  *slack.RateLimitedError
		se  slack.SlackErrorResponse
		sce slack.StatusCodeError
		op  *net.OpError
	)
	switch {
	case errors.As(err, &rl), errors.As(err, &se), errors.As(err, &sce):
		return false
	case errors.As(err, &op) && op.Op == "dial":
		return false
	}
	return true
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
