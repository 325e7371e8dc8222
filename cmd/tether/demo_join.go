package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"time"

	"tether/connectors/email"
	"tether/sync/directory"
	"tether/sync/onboarding"
)

var demoJoinLink = regexp.MustCompile(`http://[^\s"]+/join/[A-Za-z0-9_-]{43}`)

// demoJoin emails an invitation to the demo's SMTP sink, follows the Join link from the
// received email against the running tether serve, and shows the membership that results.
func demoJoin(ctx context.Context, dm *demo) error {
	// The process's one mailer (TETHER_SMTP_URL points at the demo's sink).
	m, err := dm.d.app.smtpMailer()
	if err != nil {
		return err
	}
	sender, err := onboarding.NewSender(onboarding.SenderConfig{Store: dm.d.store,
		Mailer: email.InviteMailer(m, "tether <invite@demo.example>"), PublicURL: dm.httpURL})
	if err != nil {
		return err
	}
	st := dm.d.store
	org, err := st.CreateOrg(ctx, directory.Org{Name: "Demo Join Co"})
	if err != nil {
		return err
	}
	placeholder, err := onboarding.NewToken(rand.Reader)
	if err != nil {
		return err
	}
	inv, err := st.CreateInvite(ctx, org.ID, directory.Invite{Email: "rep@demo.example", Role: directory.RoleChat,
		TokenHash: placeholder.Hash, ExpiresAt: time.Now().Add(time.Hour)})
	if err != nil {
		return err
	}
	if _, err := sender.Send(ctx, org.ID, inv.ID, 1); err != nil {
		return err
	}
	// A second run of the same attempt (as after a crash) sends nothing.
	if out, err := sender.Send(ctx, org.ID, inv.ID, 1); err != nil || out != onboarding.AlreadySent {
		return fmt.Errorf("re-run of attempt 1: %s, %v", out, err)
	}
	msgs, err := dm.waitMail(ctx, "invitation to "+inv.Email, 1, to(inv.Email))
	if err != nil {
		return err
	}
	dm.ok("invitation to %s: %q, Message-ID %s (1 email after 2 runs of attempt 1)", msgs[0].To[0], msgs[0].Subject, msgs[0].MessageID)
	link := demoJoinLink.FindString(msgs[0].Text)
	if link == "" {
		return fmt.Errorf("no Join link in the email")
	}
	call := func(method string) (int, error) {
		req, err := http.NewRequestWithContext(ctx, method, link, nil)
		if err != nil {
			return 0, err
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err
		}
		defer res.Body.Close()
		_, _ = io.Copy(io.Discard, res.Body)
		return res.StatusCode, nil
	}
	// A mail scanner opening the link spends nothing: GET and HEAD only show the page.
	for _, method := range []string{http.MethodGet, http.MethodHead} {
		if code, err := call(method); err != nil || code != http.StatusOK {
			return fmt.Errorf("%s Join link: %d, %v", method, code, err)
		}
	}
	if got, err := st.GetInvite(ctx, org.ID, inv.ID); err != nil || got.Status != directory.InvitePending {
		return fmt.Errorf("after GET and HEAD of the Join link the invite is %s (%v); want pending", got.Status, err)
	}
	dm.ok("GET and HEAD %s/join/…: 200, the invite still pending", dm.httpURL)
	code, err := call(http.MethodPost)
	if err != nil || code != http.StatusOK {
		return fmt.Errorf("POST Join link (the page's button): %d, %v", code, err)
	}
	u, err := st.GetUserByEmail(ctx, inv.Email)
	if err != nil {
		return err
	}
	mem, err := st.GetMembershipByUser(ctx, org.ID, u.ID)
	if err != nil {
		return err
	}
	dm.ok("POST %s/join/… (the page's button): 200; user %s created, membership %s as %s", dm.httpURL, u.Email, mem.Status, mem.Role)
	if code, err = call(http.MethodGet); err != nil || code != http.StatusGone {
		return fmt.Errorf("GET of the used Join link: %d, %v", code, err)
	}
	dm.ok("the same link again: 410 (used)")
	return nil
}
