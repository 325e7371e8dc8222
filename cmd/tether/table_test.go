package main

import (
	"strings"
	"testing"

	"github.com/jedib0t/go-pretty/v6/table"
)

// Every table the CLI prints aligns by display width and ends no line in padding.
func TestTableAlignsByDisplayWidthWithoutTrailingBlanks(t *testing.T) {
	t.Parallel()
	var out strings.Builder
	tb := newTable(&out, "NAME", "EMAIL", "NOTE")
	tb.AppendRow(table.Row{"山田太郎", "taro@example.org", "-"})
	tb.AppendRow(table.Row{"Ann", "ann@example.org", "a much longer note than the others"})
	tb.Render()
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("want a header and 2 rows:\n%s", out.String())
	}
	for _, l := range lines {
		if strings.HasSuffix(l, " ") {
			t.Errorf("line ends in blanks: %q", l)
		}
	}
	// The kanji are two columns each: the email starts at the same column on every row.
	col := func(l, field string) int {
		i := strings.Index(l, field)
		if i < 0 {
			t.Fatalf("%q not in %q", field, l)
		}
		w := 0
		for _, r := range l[:i] {
			w++
			if r >= 0x3000 {
				w++
			}
		}
		return w
	}
	if a, b, c := col(lines[0], "EMAIL"), col(lines[1], "taro@"), col(lines[2], "ann@"); a != b || b != c {
		t.Errorf("EMAIL at display columns %d, %d, %d:\n%s", a, b, c, out.String())
	}
}
