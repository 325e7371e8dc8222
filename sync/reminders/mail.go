package reminders

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"html"
	"slices"
	"strings"
	"time"

	"tether/sync/connect"
	"tether/sync/connections"
	"tether/sync/directory"
)

// admins are the org's active admins, the people reminders name and escalate to.
func (s *Service) admins(ctx context.Context, orgID string) ([]directory.Member, error) {
	ms, err := s.c.Store.ListMembers(ctx, orgID, directory.MembershipFilter{Role: directory.RoleAdmin,
		Status: directory.MembershipActive, Limit: 50})
	if err != nil {
		return nil, fmt.Errorf("list admins of org %s: %w", orgID, err)
	}
	return ms, nil
}

func emails(ms []directory.Member) []string {
	out := make([]string, 0, len(ms))
	for _, m := range ms {
		out = append(out, m.Email)
	}
	return out
}

// reasonKinds names what each reason is about once: the failing connection's kind, else
// the requirement.
func reasonKinds(rs []directory.ActionReason) []string {
	var out []string
	for _, r := range rs {
		k := cmp.Or(r.Kind, r.Requirement)
		if !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	return out
}

func adminLine(ms []directory.Member) string {
	if len(ms) == 0 {
		return "Your org has no admin in tether yet."
	}
	var names []string
	for _, m := range ms {
		n := m.Email
		if m.Name != "" && m.Name != m.Email {
			n = m.Name + " <" + m.Email + ">"
		}
		names = append(names, n)
	}
	return "Your admin: " + strings.Join(names, ", ") + "."
}

type linkLine struct {
	reason directory.ActionReason
	links  []connect.Issued
}

// sendRep sends the rep's reminder or all-set note as message seq: the email, then the
// same text as a Slack message when the org set Slack up.
func (s *Service) sendRep(ctx context.Context, m directory.Membership, d Decision, seq int) (Reminder, outcome, error) {
	at := s.c.Now()
	msg, err := s.repMessage(ctx, m, d, seq, at)
	if err != nil {
		return Reminder{}, outcomeNotSent, err
	}
	msg.ID = MessageID(m.ID, seq)
	r := Reminder{OrgID: m.OrgID, MembershipID: m.ID, Reasons: reasonWords(d.RepReasons), Channel: ChannelEmail,
		Sequence: seq, Kind: d.Rep, MessageID: msg.ID, Recipients: msg.To, LinksAt: at}
	got, o, err := s.send(ctx, r, func(ctx context.Context) (SlackMessage, error) { return SlackMessage{}, s.c.Mailer.Send(ctx, msg) })
	if err != nil || o != outcomeSent {
		return got, o, err
	}
	err = s.slack(ctx, m, msg.To[0], seq, d.Rep, r.Reasons, msg.Text)
	return got, o, err
}

// retrySlack sends the Slack twin of the rep's latest email when its send failed (a rate
// limit, a network error) and the task was retried: the state is read again, so a rep
// fixed meanwhile is not told to reconnect. Its links are the email's own, re-issued
// from the email's LinksAt and the ids derived from (membership, sequence, kind): one
// link per connection and message, whichever channel the rep follows it from (a kind
// the email did not link gets its link the same way). An email recorded before
// migration 00015 has no LinksAt: its twin gets new links.
func (s *Service) retrySlack(ctx context.Context, m directory.Membership, d Decision, now time.Time) error {
	prev, ok, err := s.pendingSlack(ctx, m, now)
	if err != nil || !ok {
		return err
	}
	rd := Decision{Rep: prev.Kind, Streak: d.Streak}
	if prev.Kind == KindReminder {
		if len(d.RepReasons) == 0 {
			return nil
		}
		rd.RepReasons = d.RepReasons
	}
	at := prev.LinksAt
	if at.IsZero() {
		at = s.c.Now()
	}
	msg, err := s.repMessage(ctx, m, rd, prev.Sequence, at)
	if err != nil {
		return err
	}
	return s.slack(ctx, m, msg.To[0], prev.Sequence, prev.Kind, reasonWords(rd.RepReasons), msg.Text)
}

// repMessage builds the rep's message seq for d, with a connect link per broken or
// missing connection, issued at at under an id derived from (membership, seq, kind) so
// that the same message built again carries the same links.
func (s *Service) repMessage(ctx context.Context, m directory.Membership, d Decision, seq int, at time.Time) (Message, error) {
	org, err := s.c.Store.GetOrg(ctx, m.OrgID)
	if err != nil {
		return Message{}, fmt.Errorf("read org %s: %w", m.OrgID, err)
	}
	u, err := s.c.Store.GetUser(ctx, m.UserID)
	if err != nil {
		return Message{}, fmt.Errorf("read user of member %s: %w", m.ID, err)
	}
	admins, err := s.admins(ctx, m.OrgID)
	if err != nil {
		return Message{}, err
	}
	var lines []linkLine
	if d.Rep == KindReminder {
		for _, r := range d.RepReasons {
			l := linkLine{reason: r}
			served := false
			for _, k := range connect.KindsFor(r) {
				is, err := s.c.Links.Issue(ctx, connect.IssueRequest{OrgID: m.OrgID, MembershipID: m.ID, Kind: k,
					ID: linkID(m.ID, seq, k), At: at})
				if errors.Is(err, connect.ErrAlreadyConnected) {
					// The member's Microsoft grant already serves k (the reason was read
					// before it was connected): a link would ask them to replace a working grant.
					served = true
					continue
				}
				if err != nil {
					return Message{}, fmt.Errorf("connect link for %s of member %s: %w", k, m.ID, err)
				}
				l.links = append(l.links, is)
			}
			if served && len(l.links) == 0 {
				continue // met by that grant: nothing for the rep to do
			}
			lines = append(lines, l)
		}
	}
	return repMessage(org, u, m, d, lines, admins), nil
}

// linkID is the connect link id of message seq of the membership for kind: stable, so
// a retry re-issues the same link, and distinct per message, so each is single-use on
// its own. Not a secret (it is readable in the link); the link's signature is.
func linkID(membershipID string, seq int, kind connections.Kind) string {
	h := sha256.Sum256([]byte(fmt.Sprintf("tether-reminder-link\x00%s\x00%d\x00%s", membershipID, seq, kind)))
	return "r" + base64.RawURLEncoding.EncodeToString(h[:12])
}

func repMessage(org directory.Org, u directory.User, m directory.Membership, d Decision, lines []linkLine, admins []directory.Member) Message {
	name := u.Name
	if name == "" || name == u.Email {
		name = "there"
	}
	var t, h strings.Builder
	msg := Message{To: []string{u.Email}}
	if d.Rep == KindAllSet {
		msg.Subject = "You're all set in " + org.Name
		done := fmt.Sprintf("Everything %s needs from you is connected now. No more reminders.", org.Name)
		if len(d.AdminReasons) > 0 {
			// "Everything is connected" would be untrue: a connection is still broken, only
			// not one the rep can fix (a disabled account, an app to approve).
			done = fmt.Sprintf("Nothing more is needed from you, so no more reminders. Still not working, and only an admin can fix it: %s.",
				strings.Join(reasonKinds(d.AdminReasons), ", "))
		}
		fmt.Fprintf(&t, "Hi %s,\n\n%s\n\n%s\n", name, done, adminLine(admins))
		fmt.Fprintf(&h, "<p>Hi %s,</p><p>%s</p><p>%s</p>",
			html.EscapeString(name), html.EscapeString(done), html.EscapeString(adminLine(admins)))
		msg.Text, msg.HTML = t.String(), h.String()
		return msg
	}
	links := 0
	for _, l := range lines {
		links += len(l.links)
	}
	// A reminder of a missing photo alone carries no link: it must not ask to reconnect.
	todo, needs := "reconnect your accounts", "these connections"
	if links == 0 {
		todo, needs = "finish your profile", "them"
	}
	msg.Subject = fmt.Sprintf("Action needed: %s for %s", todo, org.Name)
	if d.Streak > 1 {
		msg.Subject = fmt.Sprintf("Reminder %d: %s for %s", d.Streak, todo, org.Name)
	}
	fmt.Fprintf(&t, "Hi %s,\n\n%s needs you to act on %s:\n\n", name, org.Name, directory.Plural(len(lines), "item"))
	fmt.Fprintf(&h, "<p>Hi %s,</p><p>%s needs you to act on %s:</p><ul>", html.EscapeString(name), html.EscapeString(org.Name), directory.Plural(len(lines), "item"))
	for _, l := range lines {
		fmt.Fprintf(&t, "- %s\n", l.reason.Message)
		fmt.Fprintf(&h, "<li>%s", html.EscapeString(l.reason.Message))
		for _, is := range l.links {
			fmt.Fprintf(&t, "    Connect %s: %s\n", is.Kind.Title(), is.URL)
			fmt.Fprintf(&h, `<br><a href="%s">Connect %s</a>`, html.EscapeString(is.URL), html.EscapeString(is.Kind.Title()))
		}
		if len(l.links) == 0 && l.reason.Requirement == directory.RequirementPhoto {
			t.WriteString("    Add it in your profile in the app.\n")
			h.WriteString("<br>Add it in your profile in the app.")
		}
		h.WriteString("</li>")
	}
	why := fmt.Sprintf("You get this because your role (%s) in %s requires %s. Reminders stop as soon as it is fixed; they cannot be turned off while a requirement is missing.", m.Role, org.Name, needs)
	t.WriteString("\n")
	h.WriteString("</ul>")
	if links > 0 {
		t.WriteString("Each link works once and expires; a newer reminder brings new ones.\n\n")
		h.WriteString("<p>Each link works once and expires; a newer reminder brings new ones.</p>")
	}
	fmt.Fprintf(&t, "%s\n%s\n", why, adminLine(admins))
	fmt.Fprintf(&h, "<p>%s</p><p>%s</p>", html.EscapeString(why), html.EscapeString(adminLine(admins)))
	msg.Text, msg.HTML = t.String(), h.String()
	return msg
}

// sendAdmin tells the org's admins about the member's problems only they can fix.
func (s *Service) sendAdmin(ctx context.Context, m directory.Membership, d Decision, seq int) (Reminder, outcome, error) {
	org, err := s.c.Store.GetOrg(ctx, m.OrgID)
	if err != nil {
		return Reminder{}, outcomeNotSent, fmt.Errorf("read org %s: %w", m.OrgID, err)
	}
	u, err := s.c.Store.GetUser(ctx, m.UserID)
	if err != nil {
		return Reminder{}, outcomeNotSent, fmt.Errorf("read user of member %s: %w", m.ID, err)
	}
	admins, err := s.admins(ctx, m.OrgID)
	if err != nil {
		return Reminder{}, outcomeNotSent, err
	}
	if len(admins) == 0 {
		return Reminder{}, outcomeNotSent, fmt.Errorf("org %s has no active admin to tell about member %s: add one with tether members set %s MEMBER --role admin", m.OrgID, m.ID, m.OrgID)
	}
	var t, h strings.Builder
	fmt.Fprintf(&t, "%s (%s) in %s needs an admin; reconnecting cannot fix this, so they were not asked to:\n\n", u.Email, m.Role, org.Name)
	fmt.Fprintf(&h, "<p>%s (%s) in %s needs an admin; reconnecting cannot fix this, so they were not asked to:</p><ul>",
		html.EscapeString(u.Email), m.Role, html.EscapeString(org.Name))
	for _, r := range d.AdminReasons {
		code := ""
		if r.Code != "" {
			code = " [" + r.Code + "]"
		}
		fmt.Fprintf(&t, "- %s%s (who acts: %s)\n", r.Message, code, r.Actor)
		fmt.Fprintf(&h, "<li>%s%s (who acts: %s)</li>", html.EscapeString(r.Message), html.EscapeString(code), r.Actor)
	}
	fmt.Fprintf(&t, "\nSee: tether members list %s --action-required\n", m.OrgID)
	fmt.Fprintf(&h, "</ul><p>See: <code>tether members list %s --action-required</code></p>", html.EscapeString(m.OrgID))
	msg := Message{To: emails(admins), Subject: fmt.Sprintf("%s needs an admin in %s", u.Email, org.Name),
		Text: t.String(), HTML: h.String(), ID: MessageID(m.ID, seq)}
	r := Reminder{OrgID: m.OrgID, MembershipID: m.ID, Reasons: reasonWords(d.AdminReasons), Channel: ChannelEmail,
		Sequence: seq, Kind: KindAdmin, AdminKey: d.AdminKey, MessageID: msg.ID, Recipients: msg.To}
	return s.send(ctx, r, func(ctx context.Context) (SlackMessage, error) { return SlackMessage{}, s.c.Mailer.Send(ctx, msg) })
}
