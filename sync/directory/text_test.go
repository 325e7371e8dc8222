package directory_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"tether/sync/directory"
)

// Clip leaves storable text alone and makes anything else storable: valid UTF-8, no
// control character but tab, at most max characters, never cut inside a character.
func TestClip(t *testing.T) {
	for _, tc := range []struct {
		in   string
		max  int
		want string
	}{
		{"plain\ttext", 20, "plain\ttext"},
		{"a\x00b\nc", 20, "a b c"},
		{"a\xffb", 20, "a\uFFFDb"},
		{"ééééé", 3, "ééé"},
		{"", 0, ""},
		{"abc", 0, ""},
	} {
		got := directory.Clip(tc.in, tc.max)
		if got != tc.want || directory.CheckText("clipped", got, tc.max) != nil || !utf8.ValidString(got) {
			t.Errorf("Clip(%q, %d) = %q, want %q", tc.in, tc.max, got, tc.want)
		}
	}
	if got := directory.Clip(strings.Repeat("日", 5000), directory.MaxProviderText); utf8.RuneCountInString(got) != directory.MaxProviderText {
		t.Errorf("long text clipped to %d characters, want %d", utf8.RuneCountInString(got), directory.MaxProviderText)
	}
}

func TestPlural(t *testing.T) {
	for _, tc := range []struct {
		n    int
		noun string
		want string
	}{
		{0, "org", "0 orgs"},
		{1, "org", "1 org"},
		{2, "active member", "2 active members"},
		{1, "required permission check", "1 required permission check"},
	} {
		if got := directory.Plural(tc.n, tc.noun); got != tc.want {
			t.Errorf("Plural(%d, %q) = %q, want %q", tc.n, tc.noun, got, tc.want)
		}
	}
}
