package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"tether/connectors/email/mailsink"
	"tether/connectors/sandbox"
	"tether/sync/connections"
)

// reminderHref is a connect link in a reminder's HTML part, with the kind it connects.
var reminderHref = regexp.MustCompile(`<a href="([^"]+/connect/[^"]+)">Connect ([^<]+)</a>`)

// TestBrowserReminderLink is issue 11's browser scenario on a real `tether all` (worker,
// scheduler, serve) with the sandbox and an in-process SMTP server: a rep's Google
// Calendar, connected in Chromium, is revoked at the provider; the refresh finds it
// needs_reconnect; the worker emails one reminder; the email's HTML is opened in Chromium
// and its link clicked, through the sandbox's consent, and the calendar is healthy again.
// Screenshots of the email and of each final page go to TETHER_TEST_ARTIFACTS.
func TestBrowserReminderLink(t *testing.T) {
	sink, err := mailsink.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sink.Close() })
	b := newConnectE2E(t, 14, "all", map[string]string{"TETHER_MAILER": "",
		"TETHER_SMTP_URL": fmt.Sprintf("smtp+insecure://%s:%d", sink.Host(), sink.Port())})
	ctx := newBrowser(t)

	rep := "ada@example.com" // the sandbox's Google account
	b.addRep(t, rep)
	openAndPress(t, ctx, linkFrom(t, b.tether(t, "members", "connect-link", b.orgID, rep, "google_calendar")))
	consentAs(t, ctx, "", "allow")
	if heading, _ := finalPage(t, ctx, "reminder-1-google-connected"); heading != "Google connected" {
		t.Fatalf("first connect: %q", heading)
	}
	c, err := b.memberConnection(t, rep, connections.KindGoogleCalendar)
	if err != nil || c.State != connections.StateHealthy {
		t.Fatalf("google connection after the first connect: %+v, %v", c, err)
	}
	// Only a calendar is required of a chat rep, so the reminder is about it alone; a short
	// grace and no quiet hours, so the test does not wait for the wall clock's morning.
	// Both after the connect: a policy change queues the reminders its reasons call for,
	// and with a 1 s grace a rep still in the consent pages would be reminded to connect a
	// calendar (either kind, two links) before the one the test breaks.
	b.tether(t, "org", "set", b.orgID, "--policy", "chat=calendar")
	b.tether(t, "org", "reminders", b.orgID, "--grace", "1s", "--quiet-hours", "none")

	// At the provider: the grant is revoked (the sandbox's admin API).
	res, err := http.Get(b.sbURL + "/admin/grants")
	if err != nil {
		t.Fatal(err)
	}
	var grants []sandbox.GrantInfo
	err = json.NewDecoder(res.Body).Decode(&grants)
	res.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	revoked := ""
	for _, g := range grants {
		if g.Provider == sandbox.Google && g.Subject == c.ProviderAccountID && g.Live {
			revoked = g.ID
		}
	}
	if revoked == "" {
		t.Fatalf("no live Google grant of %s (account %s) at the sandbox: %+v", rep, c.ProviderAccountID, grants)
	}
	res, err = http.Post(b.sbURL+"/admin/grants/"+revoked+"/revoke", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode/100 != 2 {
		t.Fatalf("revoke grant %s: %d", revoked, res.StatusCode)
	}
	// The refresh an operator (or the worker's sweep) runs finds it; the worker reminds.
	// It exits 3: the rep must act.
	if r := runTether(t, t.Context(), b.env, "connections", "refresh", b.orgID, c.ID); exitCode(r.err) != exitConnectionNeedsAction ||
		!strings.Contains(r.stdout, string(connections.StateNeedsReconnect)) {
		t.Fatalf("refresh after the revocation: %v\n%s", r.err, r.stdout)
	}

	wctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if _, err := sink.Wait(wctx, 1); err != nil {
		t.Fatalf("no reminder email: %v", err)
	}
	msgs := sink.Messages()
	if len(msgs) != 1 || len(msgs[0].To) != 1 || msgs[0].To[0] != rep || !strings.HasPrefix(msgs[0].MessageID, "reminder-") {
		t.Fatalf("want one reminder to %s, got %+v", rep, msgs)
	}
	mail := msgs[0]
	links := reminderHref.FindAllStringSubmatch(mail.HTML, -1)
	if len(links) != 1 || links[0][2] != connections.KindGoogleCalendar.Title() || !strings.Contains(mail.Text, links[0][1]) {
		t.Fatalf("want one google_calendar link in both parts; HTML links %v\ntext:\n%s", links, mail.Text)
	}

	// The rep opens the email and clicks its link.
	page := filepath.Join(t.TempDir(), "reminder.html")
	if err := os.WriteFile(page, []byte(mail.HTML), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate("file://"+page), chromedp.WaitVisible(chromedp.CSS(`a[href*="/connect/"]`))); err != nil {
		t.Fatalf("open the reminder's HTML: %v", err)
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	shot := filepath.Join(artifactDir(t), "reminder-2-email.png")
	if err := os.WriteFile(shot, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", shot)
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`a[href*="/connect/"]`)),
		chromedp.WaitVisible(chromedp.CSS(`form[method=post] button[type=submit]`)),
		chromedp.Click(chromedp.CSS(`form[method=post] button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`button[value=allow]`)),
	); err != nil {
		loc, _ := chromedp.Run(ctx, chromedp.Location())
		t.Fatalf("click the reminder's link and press its button (now at %s): %v", loc, err)
	}
	consentAs(t, ctx, "", "allow")
	heading, text := finalPage(t, ctx, "reminder-3-google-reconnected")
	if heading != "Google connected" || !strings.Contains(text, rep) {
		t.Fatalf("reconnect page: %q\n%s", heading, text)
	}

	after, err := b.memberConnection(t, rep, connections.KindGoogleCalendar)
	if err != nil || after.ID != c.ID || after.State != connections.StateHealthy || !after.NextRefreshAt.After(time.Now()) {
		t.Fatalf("google connection after the reminder's link: %+v, %v (before: %s)", after, err, c.ID)
	}
	// What an admin reads: the connection healthy, the member no longer Action Required.
	if out := b.tether(t, "connections", "list", b.orgID); !regexp.MustCompile(c.ID + `\s+google_calendar\s+\S+\s+healthy`).MatchString(out) {
		t.Fatalf("connections list after the reconnect:\n%s", out)
	}
	if out := b.tether(t, "members", "list", b.orgID, "--action-required"); strings.Contains(out, rep) {
		t.Fatalf("%s still Action Required:\n%s", rep, out)
	}
}
