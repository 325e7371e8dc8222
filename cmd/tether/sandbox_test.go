package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"os/exec"
	"strings"
	"testing"
	"time"

	"tether/config"
	"tether/connectors/sandbox"
	"tether/internal/syncbuf"
)

// TestSandboxVerb runs `tether sandbox` with the example scenario on a free port, reads the
// JSON line of base URLs and talks to them over HTTP as curl would.
func TestSandboxVerb(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	var stderr syncbuf.Buffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"tether", "sandbox", "--addr", "127.0.0.1:0", "--scenario", "../../testdata/sandbox-scenario.json"},
			func(string) string { return "" }, strings.NewReader(""), pw, &stderr)
		_ = pw.Close()
	}()
	stopped := false
	stop := func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(10 * time.Second):
			t.Fatal("tether sandbox did not stop within 10s of SIGTERM")
			return nil
		}
	}
	defer stop()

	line := make(chan string, 1)
	go func() {
		l, _ := bufio.NewReader(pr).ReadString('\n')
		line <- l
	}()
	var urls sandbox.BaseURLs
	select {
	case l := <-line:
		if err := json.Unmarshal([]byte(l), &urls); err != nil {
			t.Fatalf("first line %q is not the base URLs: %v (stderr: %s)", l, err, stderr.String())
		}
	case err := <-done:
		t.Fatalf("tether sandbox exited before listening: %v\n%s", err, stderr.String())
	case <-time.After(10 * time.Second):
		t.Fatal("no base URL line within 10s")
	}
	if !strings.HasSuffix(urls.Salesforce, "/salesforce") || !strings.HasPrefix(urls.Salesforce, "http://127.0.0.1:") {
		t.Fatalf("salesforce base URL %q", urls.Salesforce)
	}
	// The log says how to point tether at it, with the port the free one turned out to be.
	hint := `eval \"$(tether sandbox --print-env --base-url ` + strings.TrimSuffix(urls.Salesforce, "/salesforce") + `)\"`
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(stderr.String(), hint); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("stderr lacks %s:\n%s", hint, stderr.String())
		}
	}

	get := func(u string) (int, string) {
		t.Helper()
		res, err := http.Get(u)
		if err != nil {
			t.Fatalf("GET %s: %v", u, err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	// The versions list answers without a token, as Salesforce's does.
	if code, body := get(urls.Salesforce + "/services/data/"); code != 200 || !strings.Contains(body, `"version"`) {
		t.Errorf("GET salesforce versions: %d %s", code, body)
	}
	// The scenario's fixed team grant works against the REST API: its user is the team user.
	req, _ := http.NewRequest(http.MethodGet, urls.Salesforce+"/services/data/v62.0/query?q="+
		url.QueryEscape("SELECT Username FROM User WHERE Username = 'tether.integration@acme7.example.com'"), nil)
	req.Header.Set("Authorization", "Bearer 00Dsandbox!team-access-token")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(body), `"totalSize":1`) || res.Header.Get("Sforce-Limit-Info") == "" {
		t.Errorf("query as the scenario's team user: %d %s (Sforce-Limit-Info %q)", res.StatusCode, body, res.Header.Get("Sforce-Limit-Info"))
	}
	// The admin API counts that query.
	code, raw := get(urls.Admin + "/counters")
	var counters struct {
		Endpoints map[string]struct {
			Calls int `json:"calls"`
		} `json:"endpoints"`
	}
	if err := json.Unmarshal([]byte(raw), &counters); code != 200 || err != nil || counters.Endpoints["salesforce.query"].Calls != 1 {
		t.Errorf("GET admin counters: %d %v; want salesforce.query called once: %.300s", code, err, raw)
	}
	if err := stop(); err != nil {
		t.Errorf("tether sandbox after SIGTERM returned %v, want nil", err)
	}
	// One log line per request; the access token never appears in them.
	logs := stderr.String()
	if !strings.Contains(logs, "sandbox request") || !strings.Contains(logs, "/services/data/v62.0/query") {
		t.Errorf("request log lacks the query:\n%s", logs)
	}
	if strings.Contains(logs, "team-access-token") {
		t.Errorf("request log shows a token:\n%s", logs)
	}
}

// A taken address is one sentence naming --addr and a neighbour to try, as the other
// listeners' are.
func TestSandboxAddressInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	addr := ln.Addr().String()
	res := runTether(t, t.Context(), map[string]string{}, "sandbox", "--addr", addr)
	if res.err == nil || !strings.HasPrefix(res.err.Error(), "sandbox address "+addr+" is in use") || !strings.Contains(res.err.Error(), "give --addr a free address") {
		t.Fatalf("sandbox on a taken address: %v", res.err)
	}
}

// TestSandboxPrintEnv: what `tether sandbox --print-env` prints, evaluated by a real shell,
// is a configuration tether accepts, with every provider at the sandbox's address (a
// wildcard listen address made dialable) and the secrets intact through the quoting.
func TestSandboxPrintEnv(t *testing.T) {
	r := runTether(t, t.Context(), nil, "sandbox", "--print-env", "--addr", "0.0.0.0:18091")
	if r.err != nil {
		t.Fatalf("--print-env: %v\n%s", r.err, r.stderr)
	}
	out, err := exec.Command("sh", "-c", `eval "$1" && env`, "sh", r.stdout).Output()
	if err != nil {
		t.Fatalf("sh could not evaluate the exports: %v\n%s", err, r.stdout)
	}
	got := map[string]string{}
	for _, l := range strings.Split(string(out), "\n") {
		if k, v, ok := strings.Cut(l, "="); ok && strings.HasPrefix(k, "TETHER_") {
			got[k] = v
		}
	}
	want := map[string]string{
		"TETHER_SALESFORCE_CLIENT_ID":     sandbox.DefaultSalesforceClientID,
		"TETHER_MICROSOFT_CLIENT_SECRET":  sandbox.DefaultMicrosoftClientSecret,
		"TETHER_ZOOM_CLIENT_SECRET":       sandbox.DefaultZoomClientSecret,
		"TETHER_SALESFORCE_LOGIN_URL":     "http://127.0.0.1:18091/salesforce",
		"TETHER_GOOGLE_TOKEN_URL":         "http://127.0.0.1:18091/google/token",
		"TETHER_MICROSOFT_LOGIN_URL":      "http://127.0.0.1:18091/microsoft/common",
		"TETHER_ZOOM_API_URL":             "http://127.0.0.1:18091/zoom",
		"TETHER_GOOGLE_CLIENT_SECRET":     sandbox.DefaultGoogleClientSecret,
		"TETHER_SALESFORCE_CLIENT_SECRET": sandbox.DefaultSalesforceClientSecret,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	cfg, err := config.Load(func(k string) string { return got[k] }, nil)
	if err != nil {
		t.Fatalf("tether refuses the printed settings: %v", err)
	}
	// Every provider URL tether reads points at the sandbox, none at a real provider.
	for name, u := range map[string]string{"SalesforceLoginURL": cfg.SalesforceLoginURL, "SalesforceSandboxLoginURL": cfg.SalesforceSandboxLoginURL,
		"GoogleAuthURL": cfg.GoogleAuthURL, "GoogleTokenURL": cfg.GoogleTokenURL, "GoogleAPIURL": cfg.GoogleAPIURL,
		"MicrosoftLoginURL": cfg.MicrosoftLoginURL, "MicrosoftGraphURL": cfg.MicrosoftGraphURL, "ZoomOAuthURL": cfg.ZoomOAuthURL, "ZoomAPIURL": cfg.ZoomAPIURL} {
		if !strings.HasPrefix(u, "http://127.0.0.1:18091/") {
			t.Errorf("%s = %q, not at the sandbox", name, u)
		}
	}
	if cfg.GoogleClientID != sandbox.DefaultGoogleClientID || cfg.MicrosoftClientID != sandbox.DefaultMicrosoftClientID || cfg.ZoomClientID != sandbox.DefaultZoomClientID {
		t.Errorf("client ids %q %q %q", cfg.GoogleClientID, cfg.MicrosoftClientID, cfg.ZoomClientID)
	}

	// --base-url wins over --addr; a free port is refused, naming the flag.
	r = runTether(t, t.Context(), nil, "sandbox", "--print-env", "--base-url", "https://sandbox.example.com/")
	if r.err != nil || !strings.Contains(r.stdout, "export TETHER_ZOOM_OAUTH_URL='https://sandbox.example.com/zoom'\n") {
		t.Fatalf("--base-url: %v\n%s", r.err, r.stdout)
	}
	r = runTether(t, t.Context(), nil, "sandbox", "--print-env", "--addr", "127.0.0.1:0")
	if r.err == nil || !strings.Contains(r.err.Error(), "--addr 127.0.0.1:8090") || r.stdout != "" {
		t.Fatalf("--print-env with port 0: %v\n%s", r.err, r.stdout)
	}
}
