package soql

import (
	"math"
	"strconv"
	"strings"
)

// MaxLength is Salesforce's default SOQL length limit (characters).
const MaxLength = 100000

var reserved = map[string]bool{
	"AND": true, "ASC": true, "DESC": true, "EXCLUDES": true, "FIRST": true, "FROM": true,
	"GROUP": true, "HAVING": true, "IN": true, "INCLUDES": true, "LAST": true, "LIKE": true,
	"LIMIT": true, "NOT": true, "NULL": true, "NULLS": true, "OR": true, "SELECT": true,
	"WHERE": true, "WITH": true, "ORDER": true, "OFFSET": true, "BY": true, "TRUE": true,
	"FALSE": true, "USING": true, "FOR": true, "TYPEOF": true,
}

// DateLiterals lists the relative date literals the parser accepts; the ones ending in _N_
// take an ":n" argument.
var dateLiterals = map[string]bool{
	"YESTERDAY": false, "TODAY": false, "TOMORROW": false,
	"LAST_WEEK": false, "THIS_WEEK": false, "NEXT_WEEK": false,
	"LAST_MONTH": false, "THIS_MONTH": false, "NEXT_MONTH": false,
	"LAST_90_DAYS": false, "NEXT_90_DAYS": false,
	"THIS_YEAR": false, "LAST_YEAR": false, "NEXT_YEAR": false,
	"LAST_N_DAYS": true, "NEXT_N_DAYS": true, "LAST_N_WEEKS": true, "NEXT_N_WEEKS": true,
	"LAST_N_MONTHS": true, "NEXT_N_MONTHS": true, "LAST_N_YEARS": true, "NEXT_N_YEARS": true,
}

type parser struct {
	src  string
	toks []token
	i    int
}

// Parse parses one SOQL SELECT statement. Any error is a *SyntaxError.
func Parse(src string) (*Query, error) {
	if len(src) > MaxLength {
		return nil, &SyntaxError{Query: src[:200], Pos: 0, Msg: "Query string exceeds maximum length of " + strconv.Itoa(MaxLength) + " characters"}
	}
	toks, lerr := lex(src)
	if lerr != nil {
		return nil, lerr
	}
	p := &parser{src: src, toks: toks}
	q, err := p.query()
	if err != nil {
		return nil, err
	}
	return q, nil
}

func (p *parser) peek() token { return p.toks[p.i] }

func (p *parser) advance() token {
	t := p.toks[p.i]
	if t.kind != tEOF {
		p.i++
	}
	return t
}

func (p *parser) unexpected(t token) *SyntaxError {
	if t.kind == tEOF {
		return &SyntaxError{Query: p.src, Pos: t.pos, Msg: "unexpected token: <EOF>"}
	}
	return &SyntaxError{Query: p.src, Pos: t.pos, Msg: "unexpected token: '" + t.text + "'"}
}

// isKW reports whether the next token is the keyword kw (case-insensitive).
func (p *parser) isKW(kw string) bool {
	t := p.peek()
	return t.kind == tIdent && strings.EqualFold(t.text, kw)
}

func (p *parser) expectKW(kw string) *SyntaxError {
	if !p.isKW(kw) {
		return p.unexpected(p.peek())
	}
	p.advance()
	return nil
}

func (p *parser) query() (*Query, *SyntaxError) {
	q := &Query{Limit: -1}
	if err := p.expectKW("SELECT"); err != nil {
		return nil, err
	}
	for {
		item, err := p.selectItem()
		if err != nil {
			return nil, err
		}
		q.Fields = append(q.Fields, item)
		if p.peek().kind != tComma {
			break
		}
		p.advance()
	}
	if err := p.expectKW("FROM"); err != nil {
		return nil, err
	}
	from := p.peek()
	if from.kind != tIdent || reserved[strings.ToUpper(from.text)] || strings.Contains(from.text, ".") {
		return nil, p.unexpected(from)
	}
	p.advance()
	q.From, q.FromPos = from.text, from.pos
	if p.isKW("WHERE") {
		p.advance()
		cond, err := p.condition()
		if err != nil {
			return nil, err
		}
		q.Where = cond
	}
	if p.isKW("GROUP") {
		p.advance()
		if err := p.expectKW("BY"); err != nil {
			return nil, err
		}
		for {
			path, err := p.path()
			if err != nil {
				return nil, err
			}
			q.GroupBy = append(q.GroupBy, path)
			if p.peek().kind != tComma {
				break
			}
			p.advance()
		}
	}
	if p.isKW("ORDER") {
		p.advance()
		if err := p.expectKW("BY"); err != nil {
			return nil, err
		}
		for {
			path, err := p.path()
			if err != nil {
				return nil, err
			}
			item := OrderItem{Field: path}
			if p.isKW("ASC") {
				p.advance()
			} else if p.isKW("DESC") {
				p.advance()
				item.Desc = true
			}
			item.NullsFirst = !item.Desc
			if p.isKW("NULLS") {
				p.advance()
				switch {
				case p.isKW("FIRST"):
					item.NullsFirst = true
				case p.isKW("LAST"):
					item.NullsFirst = false
				default:
					return nil, p.unexpected(p.peek())
				}
				p.advance()
			}
			q.OrderBy = append(q.OrderBy, item)
			if p.peek().kind != tComma {
				break
			}
			p.advance()
		}
	}
	if p.isKW("LIMIT") {
		p.advance()
		n, err := p.nonNegInt()
		if err != nil {
			return nil, err
		}
		q.Limit = n
	}
	if p.isKW("OFFSET") {
		p.advance()
		n, err := p.nonNegInt()
		if err != nil {
			return nil, err
		}
		q.Offset = n
	}
	if t := p.peek(); t.kind != tEOF {
		return nil, p.unexpected(t)
	}
	return q, nil
}

func (p *parser) nonNegInt() (int, *SyntaxError) {
	t := p.peek()
	if t.kind != tNumber {
		return 0, p.unexpected(t)
	}
	n, err := strconv.Atoi(t.text)
	if err != nil || n < 0 {
		return 0, p.unexpected(t)
	}
	p.advance()
	return n, nil
}

func (p *parser) selectItem() (SelectItem, *SyntaxError) {
	t := p.peek()
	if t.kind != tIdent {
		return SelectItem{}, p.unexpected(t)
	}
	// An aggregate: an identifier directly followed by "(".
	if p.toks[p.i+1].kind == tLParen {
		fn := strings.ToUpper(t.text)
		if fn != "COUNT" && fn != "COUNT_DISTINCT" && fn != "MIN" && fn != "MAX" && fn != "SUM" && fn != "AVG" {
			return SelectItem{}, p.unexpected(t)
		}
		p.advance()
		p.advance() // (
		item := SelectItem{Func: fn, Pos: t.pos}
		if p.peek().kind == tRParen {
			if fn != "COUNT" {
				return SelectItem{}, p.unexpected(p.peek())
			}
			item.CountAll = true
		} else {
			path, err := p.path()
			if err != nil {
				return SelectItem{}, err
			}
			item.Field = path
		}
		if p.peek().kind != tRParen {
			return SelectItem{}, p.unexpected(p.peek())
		}
		p.advance()
		if a := p.peek(); a.kind == tIdent && !reserved[strings.ToUpper(a.text)] && !item.CountAll {
			if strings.Contains(a.text, ".") {
				return SelectItem{}, p.unexpected(a)
			}
			item.Alias = a.text
			p.advance()
		}
		return item, nil
	}
	path, err := p.path()
	if err != nil {
		return SelectItem{}, err
	}
	return SelectItem{Field: path, Pos: path.Pos}, nil
}

// path reads a (possibly dotted) field reference that is not a reserved word.
func (p *parser) path() (Path, *SyntaxError) {
	t := p.peek()
	if t.kind != tIdent || reserved[strings.ToUpper(t.text)] {
		return Path{}, p.unexpected(t)
	}
	parts := strings.Split(t.text, ".")
	for _, part := range parts {
		if part == "" || !isIdentStart(part[0]) {
			return Path{}, p.unexpected(t)
		}
	}
	p.advance()
	return Path{Parts: parts, Pos: t.pos}, nil
}

// condition reads terms joined by one kind of connective; Salesforce refuses to mix AND
// and OR at one level without parentheses.
func (p *parser) condition() (Expr, *SyntaxError) { return p.conditionDepth(0) }

// maxDepth bounds nesting so hostile input cannot exhaust the stack.
const maxDepth = 200

func (p *parser) termDepth(depth int) (Expr, *SyntaxError) {
	if depth > maxDepth {
		return nil, &SyntaxError{Query: p.src, Pos: p.peek().pos, Msg: "Query is too complicated"}
	}
	if p.isKW("NOT") {
		p.advance()
		x, err := p.termDepth(depth + 1)
		if err != nil {
			return nil, err
		}
		return &Not{X: x}, nil
	}
	if p.peek().kind == tLParen {
		p.advance()
		x, err := p.conditionDepth(depth + 1)
		if err != nil {
			return nil, err
		}
		if p.peek().kind != tRParen {
			return nil, p.unexpected(p.peek())
		}
		p.advance()
		return x, nil
	}
	return p.simple()
}

func (p *parser) conditionDepth(depth int) (Expr, *SyntaxError) {
	first, err := p.termDepth(depth)
	if err != nil {
		return nil, err
	}
	terms := []Expr{first}
	conn := ""
	for p.isKW("AND") || p.isKW("OR") {
		t := p.peek()
		op := strings.ToUpper(t.text)
		if conn != "" && op != conn {
			return nil, p.unexpected(t)
		}
		conn = op
		p.advance()
		next, err := p.termDepth(depth)
		if err != nil {
			return nil, err
		}
		terms = append(terms, next)
	}
	switch conn {
	case "AND":
		return &And{Terms: terms}, nil
	case "OR":
		return &Or{Terms: terms}, nil
	}
	return first, nil
}

func (p *parser) simple() (Expr, *SyntaxError) {
	field, err := p.path()
	if err != nil {
		return nil, err
	}
	t := p.peek()
	switch {
	case t.kind == tOp:
		p.advance()
		op := t.text
		if op == "<>" {
			op = "!="
		}
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		return &Compare{Field: field, Op: op, Value: v}, nil
	case p.isKW("LIKE"):
		p.advance()
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		return &Compare{Field: field, Op: "LIKE", Value: v}, nil
	case p.isKW("IN"), p.isKW("NOT"), p.isKW("INCLUDES"), p.isKW("EXCLUDES"):
		op := strings.ToUpper(p.advance().text)
		if op == "NOT" {
			if err := p.expectKW("IN"); err != nil {
				return nil, err
			}
			op = "NOT IN"
		}
		if p.peek().kind != tLParen {
			return nil, p.unexpected(p.peek())
		}
		p.advance()
		var vals []Value
		for {
			v, err := p.value()
			if err != nil {
				return nil, err
			}
			vals = append(vals, v)
			if p.peek().kind != tComma {
				break
			}
			p.advance()
		}
		if p.peek().kind != tRParen {
			return nil, p.unexpected(p.peek())
		}
		p.advance()
		return &In{Field: field, Op: op, Values: vals}, nil
	}
	return nil, p.unexpected(t)
}

func (p *parser) value() (Value, *SyntaxError) {
	t := p.peek()
	v := Value{Pos: t.pos, Raw: t.text}
	switch t.kind {
	case tString:
		v.Kind, v.Str, v.Like = KindString, t.str, t.like
	case tNumber:
		f, err := strconv.ParseFloat(t.text, 64)
		if err != nil || math.IsInf(f, 0) {
			return Value{}, p.unexpected(t)
		}
		v.Kind, v.Num = KindNumber, f
	case tDate:
		v.Kind, v.Time = KindDate, t.t
	case tDateTime:
		v.Kind, v.Time = KindDateTime, t.t
	case tIdent:
		up := strings.ToUpper(t.text)
		switch up {
		case "TRUE", "FALSE":
			v.Kind, v.Bool = KindBool, up == "TRUE"
		case "NULL":
			v.Kind = KindNull
		default:
			param, ok := dateLiterals[up]
			if !ok {
				return Value{}, p.unexpected(t)
			}
			v.Kind, v.Str = KindDateLiteral, up
			p.advance()
			if param {
				if p.peek().kind != tColon {
					return Value{}, p.unexpected(p.peek())
				}
				p.advance()
				n, err := p.nonNegInt()
				if err != nil {
					return Value{}, err
				}
				v.N = n
			}
			return v, nil
		}
	default:
		return Value{}, p.unexpected(t)
	}
	p.advance()
	return v, nil
}
