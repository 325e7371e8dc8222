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
