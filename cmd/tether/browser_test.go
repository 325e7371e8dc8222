package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"tether/jobs"
	"tether/sync/connections"
)

// chromiumPath is the browser the test drives: TETHER_TEST_CHROMIUM, or Debian's
// chromium (scripts/test.sh installs it with apt-get when it is missing).
func chromiumPath(t *testing.T) string {
	t.Helper()
	p := os.Getenv("TETHER_TEST_CHROMIUM")
	if p == "" {
		p = "/usr/bin/chromium"
	}
	if _, err := os.Stat(p); err != nil {
		// Never a skip: a browser test that does not run proves nothing.
		t.Fatalf("no browser at %s (%v): run scripts/test.sh, which installs Debian's chromium, or set TETHER_TEST_CHROMIUM", p, err)
	}
	return p
}

// artifactDir is where screenshots go: TETHER_TEST_ARTIFACTS (CI keeps it), else
// testdata/artifacts at the repository root (git-ignored).
func artifactDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("TETHER_TEST_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join("..", "..", "testdata", "artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// newBrowser starts a fresh headless Chromium (own profile directory) for one test.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(412, 915), // a phone: the pages must read there
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(func() { cancelTimeout(); cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		t.Fatalf("start %s: %v", chromiumPath(t), err)
	}
	return ctx
}

// finalPage waits for tether's page, saves a PNG screenshot as name and returns the
// page's heading and text.
func finalPage(t *testing.T, ctx context.Context, name string) (heading, text string) {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS("main h1"))); err != nil {
		loc, _ := chromedp.Run(ctx, chromedp.Location())
		t.Fatalf("%s: no tether page (at %s): %v", name, loc, err)
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(artifactDir(t), name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
	heading, err = chromedp.Run(ctx, chromedp.Text(chromedp.CSS("main h1")))
	if err != nil {
		t.Fatal(err)
	}
	text, err = chromedp.Run(ctx, chromedp.Text(chromedp.CSS("main")))
	if err != nil {
		t.Fatal(err)
	}
	return heading, text
}

// openAndPress opens a connect link and presses its button, as a person does.
func openAndPress(t *testing.T, ctx context.Context, link string) {
	t.Helper()
	if err := chromedp.Do(ctx,
		chromedp.Navigate(link),
		chromedp.WaitVisible(chromedp.CSS(`form[method=post] button[type=submit]`)),
		chromedp.Click(chromedp.CSS(`form[method=post] button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`button[value=allow]`)), // the provider's consent page
	); err != nil {
		loc, _ := chromedp.Run(ctx, chromedp.Location())
		t.Fatalf("open %s and press its button (now at %s): %v", link, loc, err)
	}
}

// consentAs fills the sandbox consent page's account and presses Allow or Deny.
func consentAs(t *testing.T, ctx context.Context, login, decision string) {
	t.Helper()
	actions := []chromedp.Action[chromedp.Void]{}
	if login != "" {
		actions = append(actions, chromedp.SetValue(chromedp.CSS(`input[name=login]`), login))
	}
	actions = append(actions, chromedp.Click(chromedp.CSS(`button[value=`+decision+`]`)))
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("consent page: %v", err)
	}
}

// TestBrowserConnect drives Debian's headless Chromium through the connect flow of a real
// tether serve: (1) an admin connects the team-level Salesforce user from the link
// `tether org connect-salesforce` printed; (2) a rep connects Google Calendar from the
// link `tether members connect-link` printed; (3) a tampered link and a denied consent
// show their pages and store nothing. Each final page is saved as a PNG.
func TestBrowserConnect(t *testing.T) {
	b := setupConnectE2E(t, 13)
	ctx := newBrowser(t)

	// (1) The admin and the team-level Salesforce user.
	link := linkFrom(t, b.tether(t, "org", "connect-salesforce", b.orgID))
	openAndPress(t, ctx, link)
	consentAs(t, ctx, b.teamLogin, "allow")
	heading, text := finalPage(t, ctx, "team-salesforce-connected")
	if heading != "Salesforce connected" || !strings.Contains(text, "permission check") {
		t.Fatalf("team connect page: %q\n%s", heading, text)
	}
	if show := b.tether(t, "org", "show", b.orgID); !strings.Contains(show, "team Salesforce connection: healthy") {
		t.Fatalf("org show after the browser connect:\n%s", show)
	}
	tasks, err := b.inspector.ListPendingTasks(jobs.QueueDefault)
	if err != nil || len(tasks) != 1 || tasks[0].Type != jobs.TypeAuditPermissions {
		t.Fatalf("audit queued by the team connect: %v %v", tasks, err)
	}

	// (2) A rep and Google Calendar (the consent page's account is pre-filled from the
	// link's member, as login_hint).
	rep := "ada@example.com" // the sandbox's Google account
	b.addRep(t, rep)
	link = linkFrom(t, b.tether(t, "members", "connect-link", b.orgID, rep, "google_calendar"))
	openAndPress(t, ctx, link)
	consentAs(t, ctx, "", "allow")
	heading, text = finalPage(t, ctx, "rep-google-connected")
	if heading != "Google connected" || !strings.Contains(text, rep) {
		t.Fatalf("google connect page: %q\n%s", heading, text)
	}
	c, err := b.memberConnection(t, rep, connections.KindGoogleCalendar)
	if err != nil || c.State != connections.StateHealthy || c.NextRefreshAt.IsZero() || !c.NextRefreshAt.After(time.Now()) {
		t.Fatalf("google connection: %+v, %v", c, err)
	}
	// The page goes on with what the rep's role (chat) still needs: Salesforce, the
	// photo, and conferencing as recommended; the calendar just connected is not asked for.
	for _, want := range []string{"Still to do", "Connect Salesforce", "Add a profile photo", "Connect Zoom or Microsoft Teams (recommended)"} {
		if !strings.Contains(text, want) {
			t.Fatalf("the google connect page does not say %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "Connect Google Calendar") || strings.Contains(text, "You can close this page") {
		t.Fatalf("the google connect page asks for what is done, or says nothing is left:\n%s", text)
	}
	// (2b) Its Zoom button connects Zoom at once: no link mailed, no second page.
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.Search(`//button[normalize-space()="Connect Zoom"]`)),
		chromedp.WaitVisible(chromedp.CSS(`button[value=allow]`)),
	); err != nil {
		t.Fatalf("press Connect Zoom on the result page: %v", err)
	}
	consentAs(t, ctx, "", "allow")
	heading, text = finalPage(t, ctx, "rep-zoom-connected-from-next-step")
	if heading != "Zoom connected" || strings.Contains(text, "Connect Zoom") || !strings.Contains(text, "Connect Salesforce") {
		t.Fatalf("zoom connect page after the next-step button: %q\n%s", heading, text)
	}
	if c, err := b.memberConnection(t, rep, connections.KindZoom); err != nil || c.State != connections.StateHealthy {
		t.Fatalf("zoom connection from the next-step button: %+v, %v", c, err)
	}

	// (3) A tampered link: its page, nothing stored.
	link = linkFrom(t, b.tether(t, "members", "connect-link", b.orgID, rep, "teams"))
	i := strings.LastIndex(link, ".") + 3
	flip := "A"
	if link[i] == 'A' {
		flip = "B"
	}
	tampered := link[:i] + flip + link[i+1:]
	if err := chromedp.Do(ctx, chromedp.Navigate(tampered)); err != nil {
		t.Fatal(err)
	}
	heading, _ = finalPage(t, ctx, "tampered-link")
	if heading != "This link is not valid" {
		t.Fatalf("tampered link page: %q", heading)
	}
	if _, err := b.memberConnection(t, rep, connections.KindTeams); err == nil {
		t.Fatal("a teams connection exists after the tampered link")
	}

	// ... and a denied consent: its page, nothing stored, the link still good.
	link = linkFrom(t, b.tether(t, "members", "connect-link", b.orgID, rep, "microsoft_calendar"))
	openAndPress(t, ctx, link)
	consentAs(t, ctx, "", "deny")
	heading, text = finalPage(t, ctx, "consent-denied")
	if heading != "Access was not allowed" || strings.Contains(text, "AADSTS") {
		t.Fatalf("denied consent page: %q\n%s", heading, text)
	}
	if _, err := b.memberConnection(t, rep, connections.KindMicrosoftCalendar); err == nil {
		t.Fatal("a microsoft connection exists after a denied consent")
	}
}

// TestBrowserJoin is an invitation by email in Chromium: its Join page, the button, the
// welcome page that goes on with what the rep's role (meetings) still needs, and one of
// its buttons connecting Google Calendar at once, after which only the rest is asked for.
func TestBrowserJoin(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "mail")
	b := newConnectE2E(t, 16, "all", map[string]string{"TETHER_MAILER": "dir", "TETHER_MAIL_DIR": dir})
	rep := "bea@example.com"
	b.tether(t, "invite", "emails", "--org", b.orgID, "--role", "meetings", rep)
	link := joinLinkFromDir(t, dir, b.public, rep)

	ctx := newBrowser(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(link), chromedp.WaitVisible(chromedp.CSS(`form[method=post] button[type=submit]`))); err != nil {
		t.Fatal(err)
	}
	heading, text := finalPage(t, ctx, "join-1-invitation")
	if heading != "Join Acme" || !strings.Contains(text, "You are invited to join Acme.") {
		t.Fatalf("join page: %q\n%s", heading, text)
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`form[method=post] button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`h2`))); err != nil {
		t.Fatalf("press the Join button: %v", err)
	}
	heading, text = finalPage(t, ctx, "join-2-welcome")
	for _, want := range []string{"You have joined Acme.", "Still to do for Acme", "Connect Google Calendar or Outlook calendar.",
		"Add a profile photo.", "Connect Zoom or Microsoft Teams (recommended)."} {
		if !strings.Contains(text, want) {
			t.Fatalf("welcome page %q does not say %q:\n%s", heading, want, text)
		}
	}
	if strings.Contains(text, "Connect Salesforce") {
		t.Fatalf("a meetings member is asked for Salesforce:\n%s", text)
	}
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.Search(`//button[normalize-space()="Connect Google Calendar"]`)),
		chromedp.WaitVisible(chromedp.CSS(`button[value=allow]`)),
	); err != nil {
		t.Fatalf("press Connect Google Calendar on the welcome page: %v", err)
	}
	consentAs(t, ctx, "ada@example.com", "allow") // the sandbox's Google account
	heading, text = finalPage(t, ctx, "join-3-google-connected")
	if heading != "Google connected" || strings.Contains(text, "Outlook calendar") || !strings.Contains(text, "Add a profile photo.") {
		t.Fatalf("after the welcome page's Google button: %q\n%s", heading, text)
	}
	if c, err := b.memberConnection(t, rep, connections.KindGoogleCalendar); err != nil || c.State != connections.StateHealthy {
		t.Fatalf("google connection from the welcome page: %+v, %v", c, err)
	}
}
