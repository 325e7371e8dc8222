package salesforce

import (
	"net/url"
	"slices"
	"strings"
	"testing"

	"tether/connectors/sandbox/sfdc/soql"
)

func TestEscapeString(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want, like string }{
		{`plain`, `plain`, `plain`},
		{`O'Brien`, `O\'Brien`, `O\'Brien`},
		{`O'Brien\' OR Name != '`, `O\'Brien\\\' OR Name != \'`, `O\'Brien\\\' OR Name != \'`},
		{"a\nb\rc\td\be\ff", `a\nb\rc\td\be\ff`, `a\nb\rc\td\be\ff`},
		{`say "hi"`, `say \"hi\"`, `say \"hi\"`},
		{`50%_off`, `50%_off`, `50\%\_off`},
		{`Ünïcödé ✓`, `Ünïcödé ✓`, `Ünïcödé ✓`},
	}
	for _, tt := range tests {
		if got := EscapeString(tt.in); got != tt.want {
			t.Errorf("EscapeString(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if got := EscapeLike(tt.in); got != tt.like {
			t.Errorf("EscapeLike(%q) = %q, want %q", tt.in, got, tt.like)
		}
	}
}

// literalOf parses q with the sandbox's SOQL parser and returns the single
// string literal compared in its WHERE clause.
func literalOf(t *testing.T, q string) (soql.Value, string) {
	t.Helper()
	parsed, err := soql.Parse(q)
	if err != nil {
		t.Fatalf("escaped query does not parse: %v\n%s", err, q)
	}
	c, ok := parsed.Where.(*soql.Compare)
	if !ok {
		t.Fatalf("WHERE is %T, want one comparison (the literal broke out): %s", parsed.Where, q)
	}
	if c.Field.String() != "Name" || c.Value.Kind != soql.KindString {
		t.Fatalf("WHERE compares %s to kind %d, want Name to a string: %s", c.Field, c.Value.Kind, q)
	}
	if parsed.Limit != -1 || len(parsed.OrderBy) != 0 {
		t.Fatalf("the literal leaked clauses: %+v", parsed)
	}
	return c.Value, c.Op
}

// FuzzEscapeString: whatever the input, the escaped literal is exactly one
// string value equal to the input, and nothing after it is SOQL.
// Run longer: go test ./connectors/salesforce -run '^$' -fuzz FuzzEscapeString -fuzztime 60s
func FuzzEscapeString(f *testing.F) {
	for _, s := range []string{`O'Brien\' OR Name != '`, `\`, `'`, `\'`, `%_`, "\n\r\t\b\f", `') OR (Id != '`, "\xff'\\", `' LIMIT 1 --`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, op := literalOf(t, "SELECT Id FROM Profile WHERE Name = "+Quote(s))
		if op != "=" || v.Str != s {
			t.Fatalf("Quote(%q) parsed back as %q (op %s)", s, v.Str, op)
		}
		lv, op := literalOf(t, "SELECT Id FROM Profile WHERE Name LIKE '"+EscapeLike(s)+"'")
		if op != "LIKE" || lv.Str != s {
			t.Fatalf("EscapeLike(%q) parsed back as %q", s, lv.Str)
		}
		// In the LIKE form no wildcard survives unescaped.
		unescaped := strings.NewReplacer(`\\`, "", `\%`, "", `\_`, "").Replace(lv.Like)
		if strings.ContainsAny(unescaped, "%_") {
			t.Fatalf("EscapeLike(%q) leaves a live wildcard: %q", s, lv.Like)
		}
	})
}

func TestSplitIN(t *testing.T) {
	t.Parallel()
	before := "SELECT Id FROM User WHERE Id IN "
	after := " ORDER BY Id"
	ids := make([]string, 1000)
	for i := range ids {
		ids[i] = "005" + strings.Repeat("0", 9) + string(rune('A'+i%26)) + string(rune('a'+i/26%26)) + string(rune('0'+i/676))
	}
	ids = append(ids, ids[3], ids[7]) // duplicates are dropped
	const budget = 4000
	qs, err := SplitIN(before, after, ids, budget)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for i, q := range qs {
		if n := len(url.QueryEscape(q)); n > budget {
			t.Errorf("query %d is %d bytes encoded, budget %d", i, n, budget)
		}
		parsed, err := soql.Parse(q)
		if err != nil {
			t.Fatalf("query %d does not parse: %v", i, err)
		}
		in, ok := parsed.Where.(*soql.In)
		if !ok || in.Op != "IN" || in.Field.String() != "Id" {
			t.Fatalf("query %d: WHERE is %+v", i, parsed.Where)
		}
		for _, v := range in.Values {
			got = append(got, v.Str)
		}
	}
	if !slices.Equal(got, ids[:1000]) {
		t.Fatalf("values across queries differ from the input (got %d, want 1000)", len(got))
	}
	// The split is tight: each query but the last could not take one more id.
	for i := 0; i < len(qs)-1; i++ {
		if n := len(url.QueryEscape(qs[i])) + len(url.QueryEscape(","+Quote(ids[0]))); n <= budget {
			t.Errorf("query %d has room for another id (%d <= %d)", i, n, budget)
		}
	}
	if want := 1000*len(url.QueryEscape(","+Quote(ids[0])))/(budget-len(url.QueryEscape(before+"()"+after))) + 1; len(qs) != want {
		t.Errorf("%d queries, want %d", len(qs), want)
	}

	if qs, err := SplitIN(before, after, nil, budget); err != nil || qs != nil {
		t.Errorf("empty list: %v %v", qs, err)
	}
	if _, err := SplitIN(before, after, []string{strings.Repeat("x", budget)}, budget); err == nil {
		t.Error("oversized single value accepted")
	}
}

func TestNormalizeID(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want string
		ok       bool
	}{
		// Documented pairs: the org id of salesforce.md's example and the
		// Identity fixture.
		{"0M01Y0000008QAh", "0M01Y0000008QAhSAM", true}, // pair recorded in describe_account_full
		{"00Dx0000000BV7z", "00Dx0000000BV7zEAG", true},
		{"005x00000012Q9P", "005x00000012Q9PAAU", true},
		{"00Dx0000000BV7zEAG", "00Dx0000000BV7zEAG", true},
		// 18-character ids are case-insensitive: the suffix restores case.
		{"00dx0000000bv7zeag", "00Dx0000000BV7zEAG", true},
		{"00DX0000000BV7ZEAG", "00Dx0000000BV7zEAG", true},
		{"005xx000001SwiUAAS", "005xx000001SwiUAAS", true},
		{"005xx000001SwiU", "005xx000001SwiUAAS", true},
		{"", "", false},
		{"005xx000001Swi", "", false},     // 14
		{"005xx000001SwiUA", "", false},   // 16
		{"005xx000001SwiU'", "", false},   // not alphanumeric
		{"00Dx0000000BV7z9AG", "", false}, // suffix flags a digit as upper case
		{"005xx000001SwiU!AS", "", false}, // bad suffix character
		{"005xx000001SwiUAAS' OR Id != '", "", false},
	}
	for _, tt := range tests {
		got, err := NormalizeID(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("NormalizeID(%q) = %q, %v; want %q ok=%t", tt.in, got, err, tt.want, tt.ok)
		}
		if ValidID(tt.in) != tt.ok {
			t.Errorf("ValidID(%q) = %t", tt.in, !tt.ok)
		}
	}
}

func TestParseLimitInfo(t *testing.T) {
	t.Parallel()
	tests := []struct {
		h    string
		want Usage
		ok   bool
	}{
		{"api-usage=18/5000", Usage{18, 5000}, true},
		{"api-usage=25/5000; per-app-api-usage=17/250(appName=sample-connected-app)", Usage{25, 5000}, true},
		{"per-app-api-usage=17/250(appName=x); api-usage=10018/100000", Usage{10018, 100000}, true},
		{"api-usage=10018/100000; api-bursts=1/750", Usage{10018, 100000}, true},
		{"per-app-api-usage=17/250(appName=x)", Usage{}, false},
		{"", Usage{}, false},
	}
	for _, tt := range tests {
		got, ok := ParseLimitInfo(tt.h)
		if got != tt.want || ok != tt.ok {
			t.Errorf("ParseLimitInfo(%q) = %+v %t, want %+v %t", tt.h, got, ok, tt.want, tt.ok)
		}
	}
}

func TestParseIdentityURL(t *testing.T) {
	t.Parallel()
	id, err := ParseIdentityURL("https://login.salesforce.com/id/00Dx0000000BV7z/005x00000012Q9P")
	if err != nil {
		t.Fatal(err)
	}
	want := Identity{OrgID: "00Dx0000000BV7zEAG", UserID: "005x00000012Q9PAAU", LoginURL: "https://login.salesforce.com"}
	if id != want {
		t.Fatalf("got %+v, want %+v", id, want)
	}
	sb, err := ParseIdentityURL("http://127.0.0.1:8080/salesforce/id/00Dx0000000BV7zEAG/005x00000012Q9PAAU")
	if err != nil || sb.LoginURL != "http://127.0.0.1:8080/salesforce" {
		t.Fatalf("sandbox-style URL: %+v %v", sb, err)
	}
	// The restforce refresh fixture's id is "…/id/foo/bar": not ids.
	for _, bad := range []string{"https://login.salesforce.com/id/foo/bar", "not a url", "https://x/id/00Dx0000000BV7z", "https://x/id/005x00000012Q9P/00Dx0000000BV7z"} {
		if _, err := ParseIdentityURL(bad); err == nil {
			t.Errorf("ParseIdentityURL(%q) accepted", bad)
		}
	}
}
