package soql

import (
	"errors"
	"strconv"
	"strings"
	"testing"
)

func TestParseImportQuery(t *testing.T) {
	q, err := Parse(`SELECT Id, Username, Email, Profile.Name, Profile.UserLicense.Name
FROM User
WHERE IsActive = true AND UserType = 'Standard' AND ProfileId IN ('00e000000000001AAA', '00e000000000002AAA')
ORDER BY Id`)
	if err != nil {
		t.Fatal(err)
	}
	if q.From != "User" || len(q.Fields) != 5 || q.Limit != -1 {
		t.Fatalf("got %+v", q)
	}
	if got := q.Fields[4].Field.Parts; strings.Join(got, "|") != "Profile|UserLicense|Name" {
		t.Errorf("path = %v", got)
	}
	and, ok := q.Where.(*And)
	if !ok || len(and.Terms) != 3 {
		t.Fatalf("where = %#v", q.Where)
	}
	in := and.Terms[2].(*In)
	if in.Op != "IN" || len(in.Values) != 2 || in.Values[1].Str != "00e000000000002AAA" {
		t.Errorf("in = %+v", in)
	}
	if b := and.Terms[0].(*Compare); b.Value.Kind != KindBool || !b.Value.Bool {
		t.Errorf("bool = %+v", b)
	}
	if len(q.OrderBy) != 1 || q.OrderBy[0].Desc || !q.OrderBy[0].NullsFirst {
		t.Errorf("order = %+v", q.OrderBy)
	}
}

func TestParseClauses(t *testing.T) {
	q, err := Parse(`select count(Id) n, ProfileId from user where (Name like 'a\_b%' or NOT Email = null) and CreatedDate > 2024-01-02T03:04:05Z and LastLoginDate < LAST_N_DAYS:30 and Id not in ('x') group by ProfileId order by Name desc nulls first, Id limit 10 offset 5`)
	if err != nil {
		t.Fatal(err)
	}
	if q.Fields[0].Func != "COUNT" || q.Fields[0].Alias != "n" || q.Fields[0].Field.String() != "Id" {
		t.Errorf("count item = %+v", q.Fields[0])
	}
	if q.Limit != 10 || q.Offset != 5 || len(q.GroupBy) != 1 {
		t.Errorf("limit/offset/group = %d %d %v", q.Limit, q.Offset, q.GroupBy)
	}
	if !q.OrderBy[0].Desc || !q.OrderBy[0].NullsFirst || q.OrderBy[1].Desc || !q.OrderBy[1].NullsFirst {
		t.Errorf("order = %+v", q.OrderBy)
	}
	and := q.Where.(*And)
	or := and.Terms[0].(*Or)
	like := or.Terms[0].(*Compare)
	if like.Op != "LIKE" || like.Value.Str != "a_b%" || like.Value.Like != `a\_b%` {
		t.Errorf("like = %+v", like.Value)
	}
	if n, ok := or.Terms[1].(*Not); !ok || n.X.(*Compare).Value.Kind != KindNull {
		t.Errorf("not = %#v", or.Terms[1])
	}
	if c := and.Terms[1].(*Compare); c.Value.Kind != KindDateTime || c.Value.Time.Year() != 2024 {
		t.Errorf("datetime = %+v", c.Value)
	}
	if c := and.Terms[2].(*Compare); c.Value.Kind != KindDateLiteral || c.Value.Str != "LAST_N_DAYS" || c.Value.N != 30 {
		t.Errorf("date literal = %+v", c.Value)
	}
	if in := and.Terms[3].(*In); in.Op != "NOT IN" {
		t.Errorf("not in = %+v", in)
	}
	q, err = Parse(`SELECT COUNT() FROM User`)
	if err != nil || !q.Fields[0].CountAll {
		t.Fatalf("count() = %+v, %v", q, err)
	}
}

func TestParseStringEscapes(t *testing.T) {
	q, err := Parse(`SELECT Id FROM User WHERE Name = 'O\'Brien \"x\" \\ \n\r\t\b\f \_ \%'`)
	if err != nil {
		t.Fatal(err)
	}
	got := q.Where.(*Compare).Value
	want := "O'Brien \"x\" \\ \n\r\t\b\f _ %"
	if got.Str != want {
		t.Errorf("Str = %q, want %q", got.Str, want)
	}
	if got.Like != "O'Brien \"x\" \\\\ \n\r\t\b\f \\_ \\%" {
		t.Errorf("Like = %q", got.Like)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		q   string
		msg string // substring of the message
		col int    // 1-based column reported
	}{
		{`SELECT Id FROM User WHERE`, "unexpected token: <EOF>", 26},
		{`SELECT Id FROM User WHERE A = 1 AND B = 2 OR C = 3`, "unexpected token: 'OR'", 43},
		{`SELECT FROM User`, "unexpected token: 'FROM'", 8},
		{`SELECT Id User`, "unexpected token: 'User'", 11},
		{`SELECT Id, FROM User`, "unexpected token: 'FROM'", 12},
		{`SELECT Id FROM User WHERE Name = 'abc`, "mismatched character '<EOF>'", 34},
		{`SELECT Id FROM User WHERE Name = 'a\qb'`, "Illegal character sequence '\\q'", 34},
		{`SELECT Id FROM User WHERE Name = Email`, "unexpected token: 'Email'", 34},
		{`SELECT Id FROM User LIMIT -1`, "unexpected token: '-1'", 27},
		{`SELECT Id FROM User WHERE Name IN ()`, "unexpected token: ')'", 36},
		{`SELECT Id FROM User ORDER BY`, "unexpected token: <EOF>", 29},
		{`SELECT Id FROM User WHERE CreatedDate > LAST_N_DAYS`, "unexpected token: <EOF>", 52},
		{`SELECT Profile..Name FROM User`, "unexpected token: 'Profile..Name'", 8},
		{`SELECT Id FROM User WHERE Id = '1' #`, "unexpected token: '#'", 36},
		{`DELETE FROM User`, "unexpected token: 'DELETE'", 1},
		{`SELECT Id FROM User WHERE Id = :x`, "unexpected token: ':'", 32},
		{"SELECT Id\nFROM User\nWHERE", "ERROR at Row:3:Column:6", 6},
	}
	for _, tt := range tests {
		_, err := Parse(tt.q)
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("Parse(%q) err = %v, want SyntaxError", tt.q, err)
			continue
		}
		msg := se.Error()
		if !strings.Contains(msg, tt.msg) {
			t.Errorf("Parse(%q) = %q, want it to contain %q", tt.q, msg, tt.msg)
		}
		if !strings.Contains(msg, "Column:"+strconv.Itoa(tt.col)+"\n") {
			t.Errorf("Parse(%q) = %q, want column %d", tt.q, msg, tt.col)
		}
	}
}

func TestFormat(t *testing.T) {
	got := Format("SELECT Id FROM Usr", 15, "sObject type 'Usr' is not supported.")
	want := "\nSELECT Id FROM Usr\n               ^\nERROR at Row:1:Column:16\nsObject type 'Usr' is not supported."
	if got != want {
		t.Errorf("Format = %q, want %q", got, want)
	}
}

func TestParseDepthLimit(t *testing.T) {
	q := "SELECT Id FROM User WHERE " + strings.Repeat("(", 5000) + "Id = '1'" + strings.Repeat(")", 5000)
	if _, err := Parse(q); err == nil || !strings.Contains(err.Error(), "too complicated") {
		t.Errorf("deep nesting err = %v", err)
	}
}
