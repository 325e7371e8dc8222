package main

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jedib0t/go-pretty/v6/table"

	"tether/sync/directory"
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

// On a terminal an import's progress is go-pretty's bar: indeterminate until the worker
// has counted the rows, then filled by what is done, and a last frame that says done.
// Elsewhere it is one plain line per change.
func TestImportProgressBarAndLines(t *testing.T) {
	t.Parallel()
	var term syncBuffer
	p := &progress{w: &term, tty: true}
	imp := directory.Import{Status: directory.ImportQueued}
	p.show(imp)
	time.Sleep(250 * time.Millisecond)
	imp.Status, imp.Progress = directory.ImportRunning, directory.ImportProgress{Done: 5, Total: 10}
	imp.Counts.Invited = 4
	p.show(imp)
	time.Sleep(250 * time.Millisecond)
	imp.Status, imp.Progress.Done = directory.ImportDone, 10
	p.show(imp)
	p.end()
	out := term.String()
	for _, want := range []string{"queued, 0 invited", "running, 4 invited", "50.00%", "done, 4 invited", "done!"} {
		if !strings.Contains(out, want) {
			t.Errorf("the bar never showed %q:\n%s", want, out)
		}
	}
	if p.end(); term.String() != out {
		t.Errorf("a second end drew again")
	}

	var plain strings.Builder
	p = newProgress(&plain)
	p.show(imp)
	p.show(imp)
	p.end()
	if got := plain.String(); got != "done 10/10, 4 invited\n" {
		t.Errorf("not a terminal: %q, want one line per change", got)
	}
}

// syncBuffer is written by the bar's renderer goroutine and read by the test.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
