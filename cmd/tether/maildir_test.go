package main

import (
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestMailDirTrial is the trial without a mail server: tether all with TETHER_MAILER=dir
// writes the invitation into TETHER_MAIL_DIR as a file, the invite is recorded as sent,
// and the Join link read from the file joins the org over HTTP.
func TestMailDirTrial(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "mail")
	b := newConnectE2E(t, 15, "all", map[string]string{"TETHER_MAILER": "dir", "TETHER_MAIL_DIR": dir})
	b.tether(t, "invite", "emails", "--org", b.orgID, "--role", "meetings", "ann@example.com")

	link := joinLinkFromDir(t, dir, b.public, "ann@example.com")
	if out := b.tether(t, "invite", "list", "--org", b.orgID); !regexp.MustCompile(`ann@example\.com\s+meetings\s+pending\s+\S+ \S+\s+1\s+sent`).MatchString(out) {
		t.Fatalf("the invite is not recorded as sent:\n%s", out)
	}

	res, err := http.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !strings.Contains(string(body), "You are invited to join Acme") {
		t.Fatalf("GET the Join link: %d\n%s", res.StatusCode, body)
	}
	res, err = http.PostForm(link, url.Values{})
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !strings.Contains(string(body), "You have joined Acme") {
		t.Fatalf("POST the Join link: %d\n%s", res.StatusCode, body)
	}
	if out := b.tether(t, "members", "list", b.orgID); !regexp.MustCompile(`ann@example\.com\s+meetings\s+active`).MatchString(out) {
		t.Fatalf("ann is not an active member after joining:\n%s", out)
	}
}

// joinLinkFromDir waits for the one email TETHER_MAILER=dir writes into dir, checks it is
// to email, and returns its Join link (at public, tether's public URL).
func joinLinkFromDir(t *testing.T, dir, public, email string) string {
	t.Helper()
	var raw []byte
	for deadline := time.Now().Add(20 * time.Second); raw == nil; time.Sleep(50 * time.Millisecond) {
		files, _ := filepath.Glob(filepath.Join(dir, "*.eml"))
		if len(files) > 1 {
			t.Fatalf("%d emails for one invitation: %v", len(files), files)
		}
		if len(files) == 1 {
			var err error
			if raw, err = os.ReadFile(files[0]); err != nil {
				t.Fatal(err)
			}
		} else if time.Now().After(deadline) {
			t.Fatal("no email in the mail directory within 20s")
		}
	}
	if !strings.Contains(string(raw), "To: <"+email+">") {
		t.Fatalf("the email is not to the invitee:\n%s", raw)
	}
	link := regexp.MustCompile(regexp.QuoteMeta(public) + `/join/[A-Za-z0-9_-]+`).FindString(string(raw))
	if link == "" {
		t.Fatalf("no whole Join link in the email:\n%s", raw)
	}
	return link
}
