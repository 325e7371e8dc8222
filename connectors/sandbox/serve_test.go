package sandbox

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"tether/internal/syncbuf"
)

// TestListenAndServe runs the sandbox as `tether sandbox` does and talks to the printed
// base URLs over real HTTP, as curl would.
func TestListenAndServe(t *testing.T) {
	scenario := filepath.Join(t.TempDir(), "scenario.json")
	err := os.WriteFile(scenario, []byte(`{
	  "users": [{"provider":"google","id":"555","email":"rep@example.com","given_name":"Rep"}],
	  "grants": [{"provider":"google","subject":"rep@example.com","scopes":["openid","email"],
	              "access_token":"ya29.fixed","refresh_token":"1//fixed"}],
	  "salesforce": {"orgs":[{"name":"Acme"}]}
	}`), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	var logs syncbuf.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- ListenAndServe(ctx, ServeOptions{Addr: "127.0.0.1:0", ScenarioFile: scenario, Stdout: pw, Logger: zerolog.New(&logs)})
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatalf("reading the base-URL line: %v", err)
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	var urls BaseURLs
	if err := json.Unmarshal([]byte(line), &urls); err != nil || urls.Google == "" || urls.Salesforce == "" || urls.Microsoft == "" || urls.Zoom == "" {
		t.Fatalf("base-URL line %q: %v", line, err)
	}

	resp, err := http.Get(urls.Google + "/tokeninfo?access_token=ya29.fixed")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"email":"rep@example.com"`) {
		t.Fatalf("tokeninfo over HTTP: %d %s", resp.StatusCode, body)
	}
	resp, err = http.PostForm(urls.Google+"/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"1//fixed"},
		"client_id": {DefaultGoogleClientID}, "client_secret": {DefaultGoogleClientSecret}})
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"access_token"`) {
		t.Fatalf("refresh over HTTP: %d %s", resp.StatusCode, body)
	}
	resp, err = http.Get(urls.Admin + "/counters")
	if err != nil {
		t.Fatal(err)
	}
	var c Counters
	err = json.NewDecoder(resp.Body).Decode(&c)
	resp.Body.Close()
	if err != nil || c.Endpoint(Google, "token").OK != 1 || c.Endpoint(Google, "tokeninfo").Calls != 1 {
		t.Fatalf("counters over HTTP: %v %+v", err, c.Endpoints)
	}
	// Salesforce org from the scenario is served by sfdc.
	resp, err = http.Get(urls.Salesforce + "/services/data/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET /services/data/: %d", resp.StatusCode)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("ListenAndServe returned %v after cancel", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ListenAndServe did not stop after cancel")
	}
	l := logs.String()
	if !strings.Contains(l, `"path":"/google/tokeninfo"`) || strings.Contains(l, "ya29.fixed") || strings.Contains(l, "1//fixed") {
		t.Fatalf("request log must name paths and never tokens:\n%s", l)
	}
}

func TestListenAndServeBadScenario(t *testing.T) {
	scenario := filepath.Join(t.TempDir(), "bad.json")
	_ = os.WriteFile(scenario, []byte(`{"grants":[{"provider":"google","subject":"nobody@example.com"}]}`), 0o600)
	err := ListenAndServe(context.Background(), ServeOptions{ScenarioFile: scenario})
	if err == nil || !strings.Contains(err.Error(), "grants[0]") {
		t.Fatalf("bad scenario: %v, want an error naming grants[0]", err)
	}
	_ = os.WriteFile(scenario, []byte(`{"apps":[],"typo":true}`), 0o600)
	if err := ListenAndServe(context.Background(), ServeOptions{ScenarioFile: scenario}); err == nil || !strings.Contains(err.Error(), "typo") {
		t.Fatalf("unknown key: %v, want an error naming it", err)
	}
}
