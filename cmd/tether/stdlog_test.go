package main

import (
	"bytes"
	"encoding/json"
	"log"
	"testing"

	"github.com/rs/zerolog"
)

// What a library prints through the standard log package (Asynq's queue metrics collector
// when Redis does not answer a scrape) is one JSON line of the process's logger, not a
// line of its own format.
func TestStdlogGoesThroughTheLogger(t *testing.T) {
	var buf bytes.Buffer
	restore := redirectStdlog(zerolog.New(&buf).With().Str("component", "asynq").Logger())
	log.Printf("Failed to collect metrics data: %v", "dial tcp: connection refused")
	restore()
	var line map[string]string
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatalf("not one JSON object: %q (%v)", buf.String(), err)
	}
	if line["level"] != "warn" || line["component"] != "asynq" ||
		line["message"] != "Failed to collect metrics data: dial tcp: connection refused" {
		t.Fatalf("logged %v", line)
	}
}
