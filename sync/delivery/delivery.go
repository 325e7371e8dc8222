// Package delivery names the outcomes of handing a message to a server (an SMTP
// server, a chat API) that every sending package shares, so a connector classifies a
// failure once and each sync package reads it the same way without importing the
// connector.
package delivery

import "errors"

// ErrMaybeSent marks a send failure after which the server may have accepted the
// message: the connection broke (or timed out) after the whole message was handed over
// and before the server's verdict arrived. Senders wrap such failures with it; a caller
// that must not send twice records the outcome as unknown and never sends that message
// again. Any other send error must mean the message certainly was not accepted.
var ErrMaybeSent = errors.New("the server may have accepted the message")
