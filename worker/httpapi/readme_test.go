package httpapi_test

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// Every /v1 body must be sent as JSON (415 otherwise, see Security), so every curl in the
// README that sends one to /v1 must say so: an operator pastes them as written.
func TestREADMECurlBodiesSayJSON(t *testing.T) {
	raw, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	body := regexp.MustCompile(`(^|\s)(-d|--data|--data-raw)\s`)
	text := strings.ReplaceAll(string(raw), "\\\n", " ") // a command continued on the next line
	for i, line := range strings.Split(text, "\n") {
		if !strings.Contains(line, "curl ") || !strings.Contains(line, "/v1/") || !body.MatchString(line) {
			continue
		}
		if !strings.Contains(line, "Content-Type: application/json") {
			t.Errorf("README line ~%d sends a /v1 body without -H 'Content-Type: application/json' (tether answers 415): %s", i+1, strings.TrimSpace(line))
		}
	}
}
