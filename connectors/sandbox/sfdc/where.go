package sfdc

import (
	"strings"
	"time"
	"unicode"

	"tether/connectors/sandbox/sfdc/soql"
)

type typeClass int

const (
	classString typeClass = iota
	classID
	classBool
	classNumber
	classDateTime
	classDate
	classOther // address, location: not filterable
)

func classOf(t string) typeClass {
	switch t {
	case "id", "reference":
		return classID
	case "boolean":
		return classBool
	case "int", "double", "currency", "percent":
		return classNumber
	case "datetime":
		return classDateTime
	case "date":
		return classDate
	case "address", "location":
		return classOther
	}
	return classString
}

func (q *queryCtx) filterTypeErr(v soql.Value, f *fieldDef) *apiError {
	switch classOf(f.Type) {
	case classString:
		return q.errAt(v.Pos, "INVALID_QUERY_FILTER_OPERATOR", "value of filter criterion for field '"+f.Name+"' must be of type string and should be enclosed in quotes")
	case classBool:
		return q.errAt(v.Pos, "INVALID_QUERY_FILTER_OPERATOR", "value of filter criterion for field '"+f.Name+"' must be of type boolean and should not be enclosed in quotes")
	case classNumber:
		return q.errAt(v.Pos, "INVALID_QUERY_FILTER_OPERATOR", "value of filter criterion for field '"+f.Name+"' must be of type double and should not be enclosed in quotes")
	case classDateTime:
		return q.errAt(v.Pos, "INVALID_QUERY_FILTER_OPERATOR", "value of filter criterion for field '"+f.Name+"' must be of type dateTime and should not be enclosed in quotes")
	case classDate:
		return q.errAt(v.Pos, "INVALID_QUERY_FILTER_OPERATOR", "value of filter criterion for field '"+f.Name+"' must be of type date and should not be enclosed in quotes")
	}
	return q.errAt(v.Pos, "INVALID_QUERY_FILTER_OPERATOR", "invalid operator on field '"+f.Name+"'")
}

// lit is a literal converted to the field's type. For date literals lo/hi is the range.
type lit struct {
	null   bool
	str    string
	b      bool
	num    float64
	t      time.Time
	isDate bool // t is a date (compare date parts)
	rng    bool
	lo, hi time.Time
}

func (q *queryCtx) convert(v soql.Value, f *fieldDef) (lit, *apiError) {
	if v.Kind == soql.KindNull {
		return lit{null: true}, nil
	}
	switch classOf(f.Type) {
	case classID:
		if v.Kind != soql.KindString {
			return lit{}, q.filterTypeErr(v, f)
		}
		id, ok := NormalizeID(v.Str)
		if !ok {
			return lit{}, q.errAt(v.Pos, "INVALID_QUERY_FILTER_OPERATOR", "invalid ID field: "+v.Str)
		}
		return lit{str: id}, nil
	case classString:
		if v.Kind != soql.KindString {
			return lit{}, q.filterTypeErr(v, f)
		}
		return lit{str: v.Str}, nil
	case classBool:
		if v.Kind != soql.KindBool {
			return lit{}, q.filterTypeErr(v, f)
		}
		return lit{b: v.Bool}, nil
	case classNumber:
		if v.Kind != soql.KindNumber {
			return lit{}, q.filterTypeErr(v, f)
		}
		return lit{num: v.Num}, nil
	case classDateTime, classDate:
		isDate := classOf(f.Type) == classDate
		switch {
		case v.Kind == soql.KindDateLiteral:
			lo, hi := dateRange(v, q.s.clock())
			return lit{rng: true, lo: lo, hi: hi, isDate: isDate}, nil
		case v.Kind == soql.KindDateTime && !isDate, v.Kind == soql.KindDate && isDate:
			return lit{t: v.Time, isDate: isDate}, nil
		}
	}
	return lit{}, q.filterTypeErr(v, f)
}

// dateRange returns [lo, hi) for a relative date literal, in UTC.
func dateRange(v soql.Value, now time.Time) (time.Time, time.Time) {
	now = now.UTC()
	day := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	week := day.AddDate(0, 0, -int(day.Weekday()))
	month := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	year := time.Date(now.Year(), 1, 1, 0, 0, 0, 0, time.UTC)
	n := v.N
	switch v.Str {
	case "YESTERDAY":
		return day.AddDate(0, 0, -1), day
	case "TOMORROW":
		return day.AddDate(0, 0, 1), day.AddDate(0, 0, 2)
	case "LAST_WEEK":
		return week.AddDate(0, 0, -7), week
	case "THIS_WEEK":
		return week, week.AddDate(0, 0, 7)
	case "NEXT_WEEK":
		return week.AddDate(0, 0, 7), week.AddDate(0, 0, 14)
	case "LAST_MONTH":
		return month.AddDate(0, -1, 0), month
	case "THIS_MONTH":
		return month, month.AddDate(0, 1, 0)
	case "NEXT_MONTH":
		return month.AddDate(0, 1, 0), month.AddDate(0, 2, 0)
	case "LAST_90_DAYS":
		return day.AddDate(0, 0, -90), day.AddDate(0, 0, 1)
	case "NEXT_90_DAYS":
		return day.AddDate(0, 0, 1), day.AddDate(0, 0, 91)
	case "THIS_YEAR":
		return year, year.AddDate(1, 0, 0)
	case "LAST_YEAR":
		return year.AddDate(-1, 0, 0), year
	case "NEXT_YEAR":
		return year.AddDate(1, 0, 0), year.AddDate(2, 0, 0)
	case "LAST_N_DAYS":
		return day.AddDate(0, 0, -n), day.AddDate(0, 0, 1)
	case "NEXT_N_DAYS":
		return day.AddDate(0, 0, 1), day.AddDate(0, 0, n+1)
	case "LAST_N_WEEKS":
		return week.AddDate(0, 0, -7*n), week
	case "NEXT_N_WEEKS":
		return week.AddDate(0, 0, 7), week.AddDate(0, 0, 7*(n+1))
	case "LAST_N_MONTHS":
		return month.AddDate(0, -n, 0), month
	case "NEXT_N_MONTHS":
		return month.AddDate(0, 1, 0), month.AddDate(0, n+1, 0)
	case "LAST_N_YEARS":
		return year.AddDate(-n, 0, 0), year
	case "NEXT_N_YEARS":
		return year.AddDate(1, 0, 0), year.AddDate(n+1, 0, 0)
	}
	return day, day.AddDate(0, 0, 1) // TODAY
}

func (q *queryCtx) compile(e soql.Expr) (func(any) bool, *apiError) {
	switch x := e.(type) {
	case *soql.And:
		terms, err := q.compileAll(x.Terms)
		if err != nil {
			return nil, err
		}
		return func(r any) bool {
			for _, t := range terms {
				if !t(r) {
					return false
				}
			}
			return true
		}, nil
	case *soql.Or:
		terms, err := q.compileAll(x.Terms)
		if err != nil {
			return nil, err
		}
		return func(r any) bool {
			for _, t := range terms {
				if t(r) {
					return true
				}
			}
			return false
		}, nil
	case *soql.Not:
		inner, err := q.compile(x.X)
		if err != nil {
			return nil, err
		}
		return func(r any) bool { return !inner(r) }, nil
	case *soql.Compare:
		return q.compileCompare(x)
	case *soql.In:
		return q.compileIn(x)
	}
	return nil, q.errAt(0, "MALFORMED_QUERY", "unexpected condition")
}

func (q *queryCtx) compileAll(es []soql.Expr) ([]func(any) bool, *apiError) {
	out := make([]func(any) bool, len(es))
	for i, e := range es {
		f, err := q.compile(e)
		if err != nil {
			return nil, err
		}
		out[i] = f
	}
	return out, nil
}

func (q *queryCtx) bindFilter(p soql.Path) (*boundPath, *apiError) {
	bp, err := q.bind(p)
	if err != nil {
		return nil, err
	}
	if classOf(bp.field.Type) == classOther || bp.field.Type == "textarea" && bp.field.Length > 255 {
		return nil, q.errAt(p.Pos, "INVALID_FIELD", "field '"+bp.field.Name+"' can not be filtered in a query call")
	}
	return bp, nil
}

func (q *queryCtx) compileCompare(x *soql.Compare) (func(any) bool, *apiError) {
	bp, err := q.bindFilter(x.Field)
	if err != nil {
		return nil, err
	}
	s := q.s
	cls := classOf(bp.field.Type)
	if x.Op == "LIKE" {
		if cls != classString {
			return nil, q.errAt(x.Value.Pos, "INVALID_QUERY_FILTER_OPERATOR", "invalid operator on "+opFieldKind(cls)+" field")
		}
		if x.Value.Kind != soql.KindString {
			return nil, q.filterTypeErr(x.Value, bp.field)
		}
		m := newLikeMatcher(x.Value.Like)
		return func(r any) bool {
			v, ok := s.get(bp, r).(string)
			return ok && m.match(v)
		}, nil
	}
	l, err := q.convert(x.Value, bp.field)
	if err != nil {
		return nil, err
	}
	if l.null {
		switch x.Op {
		case "=":
			return func(r any) bool { return s.get(bp, r) == nil }, nil
		case "!=":
			return func(r any) bool { return s.get(bp, r) != nil }, nil
		}
		return nil, q.errAt(x.Value.Pos, "INVALID_QUERY_FILTER_OPERATOR", "invalid operator on null value")
	}
	if cls == classBool && x.Op != "=" && x.Op != "!=" {
		return nil, q.errAt(x.Value.Pos, "INVALID_QUERY_FILTER_OPERATOR", "invalid operator on boolean field")
	}
	op := x.Op
	if g := userStringGetter(bp); g != nil && (op == "=" || op == "!=") {
		want := op == "="
		return func(r any) bool {
			u, ok := r.(*user)
			if !ok {
				return false
			}
			v, present := g(u)
			if !present {
				return !want
			}
			return strings.EqualFold(v, l.str) == want
		}, nil
	}
	return func(r any) bool {
		v := s.get(bp, r)
		if v == nil {
			return op == "!="
		}
		c, ok := compareLit(v, l, cls)
		if !ok {
			return false
		}
		switch op {
		case "=":
			return c == 0
		case "!=":
			return c != 0
		case "<":
			return c < 0
		case "<=":
			return c <= 0
		case ">":
			return c > 0
		case ">=":
			return c >= 0
		}
		return false
	}, nil
}

func opFieldKind(c typeClass) string {
	switch c {
	case classID:
		return "id"
	case classBool:
		return "boolean"
	case classNumber:
		return "numeric"
	case classDate:
		return "date"
	case classDateTime:
		return "datetime"
	}
	return "this"
}

// compareLit compares a non-null field value with a literal: <0, 0, >0. A date-literal
// range counts as equal to anything inside it.
func compareLit(v any, l lit, cls typeClass) (int, bool) {
	switch cls {
	case classID:
		s, ok := v.(string)
		if !ok {
			return 0, false
		}
		if strings.EqualFold(s, l.str) {
			return 0, true
		}
		return strings.Compare(s, l.str), true
	case classString:
		s, ok := v.(string)
		if !ok {
			return 0, false
		}
		return compareFold(s, l.str), true
	case classBool:
		b, ok := v.(bool)
		if !ok {
			return 0, false
		}
		if b == l.b {
			return 0, true
		}
		return 1, true
	case classNumber:
		return compareFloat(toFloat(v), l.num), true
	case classDateTime, classDate:
		var t time.Time
		switch x := v.(type) {
		case time.Time:
			t = x
		case date:
			t = time.Time(x)
		default:
			return 0, false
		}
		if l.rng {
			switch {
			case t.Before(l.lo):
				return -1, true
			case !t.Before(l.hi):
				return 1, true
			}
			return 0, true
		}
		if l.isDate {
			t = time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
		}
		return t.Compare(l.t), true
	}
	return 0, false
}

func (q *queryCtx) compileIn(x *soql.In) (func(any) bool, *apiError) {
	bp, err := q.bindFilter(x.Field)
	if err != nil {
		return nil, err
	}
	cls := classOf(bp.field.Type)
	if (x.Op == "INCLUDES" || x.Op == "EXCLUDES") && bp.field.Type != "multipicklist" {
		return nil, q.errAt(x.Values[0].Pos, "INVALID_QUERY_FILTER_OPERATOR", "includes or excludes operator only valid on multipicklist field")
	}
	lits := make([]lit, len(x.Values))
	set := map[string]bool{}
	hasNull := false
	for i, v := range x.Values {
		l, err := q.convert(v, bp.field)
		if err != nil {
			return nil, err
		}
		lits[i] = l
		if l.null {
			hasNull = true
		} else if cls == classID || cls == classString {
			set[strings.ToLower(l.str)] = true
		}
	}
	neg := x.Op == "NOT IN" || x.Op == "EXCLUDES"
	s := q.s
	useSet := (cls == classID || cls == classString) && len(set) > 8
	if g := userStringGetter(bp); g != nil && !useSet {
		return func(r any) bool {
			u, ok := r.(*user)
			if !ok {
				return false
			}
			v, present := g(u)
			in := !present && hasNull
			for _, l := range lits {
				if present && !l.null && strings.EqualFold(v, l.str) {
					in = true
					break
				}
			}
			return in != neg
		}, nil
	}
	return func(r any) bool {
		v := s.get(bp, r)
		in := false
		if v == nil {
			in = hasNull
		} else if useSet {
			str, _ := v.(string)
			in = set[strings.ToLower(str)]
		} else {
			for _, l := range lits {
				if l.null {
					continue
				}
				if c, ok := compareLit(v, l, cls); ok && c == 0 {
					in = true
					break
				}
			}
		}
		return in != neg
	}, nil
}

// likeMatcher matches SOQL LIKE patterns case-insensitively: % any run, _ one character,
// \% and \_ literal.
type likeMatcher struct {
	toks []likeTok
}

type likeTok struct {
	kind byte // 'c' literal rune, '%' any run, '_' one rune
	r    rune
}

func newLikeMatcher(pattern string) likeMatcher {
	var m likeMatcher
	rs := []rune(pattern)
	for i := 0; i < len(rs); i++ {
		switch rs[i] {
		case '\\':
			if i+1 < len(rs) {
				i++
			}
			m.toks = append(m.toks, likeTok{kind: 'c', r: foldRune(rs[i])})
		case '%':
			m.toks = append(m.toks, likeTok{kind: '%'})
		case '_':
			m.toks = append(m.toks, likeTok{kind: '_'})
		default:
			m.toks = append(m.toks, likeTok{kind: 'c', r: foldRune(rs[i])})
		}
	}
	return m
}

func foldRune(r rune) rune {
	if r < 128 {
		return rune(lower(byte(r)))
	}
	return unicode.ToLower(r)
}

func (m likeMatcher) match(s string) bool {
	rs := []rune(s)
	for i := range rs {
		rs[i] = foldRune(rs[i])
	}
	// Iterative wildcard matching with backtracking to the last %.
	ti, si := 0, 0
	star, mark := -1, 0
	for si < len(rs) {
		if ti < len(m.toks) && (m.toks[ti].kind == '_' || m.toks[ti].kind == 'c' && m.toks[ti].r == rs[si]) {
			ti++
			si++
		} else if ti < len(m.toks) && m.toks[ti].kind == '%' {
			star, mark = ti, si
			ti++
		} else if star >= 0 {
			ti = star + 1
			mark++
			si = mark
		} else {
			return false
		}
	}
	for ti < len(m.toks) && m.toks[ti].kind == '%' {
		ti++
	}
	return ti == len(m.toks)
}
