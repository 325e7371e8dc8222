package email_test

import (
	"context"
	"io"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"tether/connectors/email"
)

// TestDirMailer: with a mail directory each message is one owner-only .eml file a mail
// client or a parser reads, its long link on one line (8bit, not quoted-printable, which
// would fold it), and a directory that cannot be written fails the send, leaving nothing.
func TestDirMailer(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "mail")
	m, err := email.New(email.Config{Dir: dir, From: "tether <invite@example.com>"})
	if err != nil {
		t.Fatal(err)
	}
	link := "http://127.0.0.1:8080/join/" + strings.Repeat("Tk_9-", 12) + "end=1"
	err = m.Send(context.Background(),
		email.Message{To: []string{"rep@acme.example"}, Subject: "Join Acme", Text: "Join here: " + link + "\n",
			HTML: `<p><a href="` + link + `">Join</a></p>`, MessageID: "invite-42-1@tether.example"},
		email.Message{To: []string{"other@acme.example"}, Subject: "Second", Text: "second"})
	if err != nil {
		t.Fatal(err)
	}
	files, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 2 {
		t.Fatalf("%d files in the mail directory, want 2: %v", len(files), files)
	}
	first := files[0].Name()
	if !strings.HasSuffix(first, "-invite-42-1@tether.example.eml") {
		t.Errorf("file name %q does not end with the message id", first)
	}
	fi, err := os.Stat(filepath.Join(dir, first))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600: a Join link is a credential", fi.Mode().Perm())
	}
	raw, err := os.ReadFile(filepath.Join(dir, first))
	if err != nil {
		t.Fatal(err)
	}
	msg, err := mail.ReadMessage(strings.NewReader(string(raw)))
	if err != nil {
		t.Fatalf("not a mail message: %v\n%s", err, raw)
	}
	if msg.Header.Get("Subject") != "Join Acme" || !strings.Contains(msg.Header.Get("To"), "rep@acme.example") ||
		msg.Header.Get("Message-Id") != "<invite-42-1@tether.example>" || !strings.Contains(msg.Header.Get("From"), "invite@example.com") {
		t.Errorf("headers %v", msg.Header)
	}
	body, _ := io.ReadAll(msg.Body)
	if !strings.Contains(string(body), "Join here: "+link+"\r\n") && !strings.Contains(string(body), "Join here: "+link+"\n") {
		t.Errorf("the link is not whole on one line:\n%s", body)
	}

	// A file where the directory should be: the send fails and leaves no file.
	blocked := filepath.Join(t.TempDir(), "blocked")
	if err := os.WriteFile(blocked, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	bm, err := email.New(email.Config{Dir: blocked, From: "tether <invite@example.com>"})
	if err != nil {
		t.Fatal(err)
	}
	if err := bm.Send(context.Background(), email.Message{To: []string{"rep@acme.example"}, Subject: "x", Text: "x"}); err == nil ||
		!strings.Contains(err.Error(), "mail directory") || email.IsPermanent(err) || email.MaybeSent(err) {
		t.Fatalf("send into a file: %v (permanent %v, maybe sent %v)", err, email.IsPermanent(err), email.MaybeSent(err))
	}

	if _, err := email.New(email.Config{From: "tether <invite@example.com>"}); err == nil {
		t.Error("a config with neither host nor directory was accepted")
	}
}
