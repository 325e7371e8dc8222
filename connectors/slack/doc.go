// Package slack delivers reminder direct messages through the Slack Web API with
// github.com/slack-go/slack: users.lookupByEmail, conversations.open, chat.postMessage.
//
// It turns Slack's answers into sync/reminders' errors, so the reminders service never
// parses Slack: users_not_found is reminders.ErrSlackUserNotFound, a refused token
// (invalid_auth, account_inactive, token_revoked, ...) a *reminders.SlackTokenError, a
// 429 with Retry-After a *reminders.SlackRateLimited. The token travels only in the
// Authorization header; no error carries it.
//
// Subpackage slackfake is a local HTTP server speaking those three methods with the
// Web API's recorded shapes, for tests and the demo.
package slack
