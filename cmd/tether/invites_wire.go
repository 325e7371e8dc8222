package main

import (
	"cmp"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"tether/connectors/email"
	"tether/sync/onboarding"
	"tether/worker/httpapi"
)

// smtpConfig turns TETHER_SMTP_URL into a mailer config sending from from.
func smtpConfig(raw, from string) (email.Config, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return email.Config{}, fmt.Errorf("TETHER_SMTP_URL: not a URL")
	}
	c := email.Config{Host: u.Hostname(), From: from, Timeout: 30 * time.Second}
	switch u.Scheme {
	case "smtp":
		// STARTTLS required: opportunistic TLS lets anyone on the path strip it and read
		// Join links, which are credentials.
		c.TLS, c.Port = email.TLSMandatory, 587
	case "smtps":
		c.TLS, c.Port = email.TLSImplicit, 465
	case "smtp+insecure", "smtp+plain": // smtp+plain: the earlier name, still accepted
		c.TLS, c.Port = email.TLSNone, 25
	default:
		return email.Config{}, fmt.Errorf("TETHER_SMTP_URL: scheme %q: want smtp (STARTTLS required), smtps (TLS) or smtp+insecure (no TLS, local mail sinks only)", u.Scheme)
	}
	if p := u.Port(); p != "" {
		if c.Port, err = strconv.Atoi(p); err != nil {
			return email.Config{}, fmt.Errorf("TETHER_SMTP_URL: port %q", p)
		}
	}
	if u.User != nil {
		c.Username = u.User.Username()
		pw, _ := u.User.Password()
		c.Password = func() string { return pw }
	}
	return c, nil
}

// inviteSender builds the invitation sender: through TETHER_SMTP_URL, into TETHER_MAIL_DIR
// with TETHER_MAILER=dir, or with TETHER_MAILER=log a mailer that only logs each email's
// recipient and subject. Without any it refuses, naming the variable: a worker must not
// take invites:send tasks it cannot complete.
func inviteSender(d deps, verb string) (*onboarding.Sender, error) {
	if err := d.cfg.RequireMailer(verb); err != nil {
		return nil, err
	}
	senderCfg := onboarding.SenderConfig{Store: d.store, PublicURL: d.cfg.PublicURL, TokenTTL: d.cfg.InviteTTL,
		ConnectSalesforce: joinConnectsSalesforce(d)}
	if d.cfg.Mailer == "log" {
		d.log.Warn().Msg("TETHER_MAILER=log: invitation emails are logged (recipient and subject), not sent")
		senderCfg.Mailer = email.LogMailer(d.log.With().Str("component", "mail").Logger())
		return onboarding.NewSender(senderCfg)
	}
	m, err := d.app.outMailer()
	if err != nil {
		return nil, err
	}
	senderCfg.Mailer = email.InviteMailer(m, cmp.Or(d.cfg.InviteFrom, d.cfg.MailFrom))
	return onboarding.NewSender(senderCfg)
}

// joinHandler builds the Join routes of tether serve. A Salesforce-sourced invite joins
// through the connect flow's Salesforce sign-in; without a Salesforce client id it is
// accepted at once (the member connects later from a link).
func joinHandler(d deps, cp connectParts) http.Handler {
	return httpapi.NewJoin(httpapi.JoinParams{Joiner: cp.joiner, Connect: cp.flow, Logger: d.log.With().Str("component", "join").Logger(),
		SecureCookie: strings.HasPrefix(d.cfg.PublicURL, "https://")})
}
