package orgs

import (
	"errors"
	"strings"
	"testing"

	"tether/sync/directory"
)

// untouchedStore panics on any call: the refusals below must come before the store.
type untouchedStore struct{ Store }

// TestUpdateRefusesEmptyPolicy: a policy naming no role is refused, not stored as a change.
func TestUpdateRefusesEmptyPolicy(t *testing.T) {
	s, err := New(Config{Store: untouchedStore{}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Update(t.Context(), "org1", Change{Policy: directory.Policy{}})
	var oe *Error
	if !errors.As(err, &oe) || oe.Code != CodeInvalidPolicy || !strings.Contains(oe.Message, "at least one role") {
		t.Fatalf("empty policy: %v, want %s saying what a policy must contain", err, CodeInvalidPolicy)
	}
}
