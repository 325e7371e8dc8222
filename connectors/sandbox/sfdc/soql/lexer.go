package soql

import (
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

type tokKind int

const (
	tEOF tokKind = iota
	tIdent
	tString
	tNumber
	tDate
	tDateTime
	tOp     // = != <> < > <= >=
	tLParen // (
	tRParen // )
	tComma
	tColon
)

type token struct {
	kind tokKind
	text string // raw text as written
	pos  int
	str  string // unescaped value (tString)
	like string // LIKE form (tString)
	t    time.Time
}

type lexer struct {
	src  string
	pos  int
	toks []token
}

func isIdentStart(c byte) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

func isIdentChar(c byte) bool {
	return isIdentStart(c) || (c >= '0' && c <= '9')
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// lex splits the whole query into tokens, failing on the first character SOQL does not allow.
func lex(src string) ([]token, *SyntaxError) {
	l := &lexer{src: src}
	for {
		l.skipSpace()
		if l.pos >= len(src) {
			l.toks = append(l.toks, token{kind: tEOF, pos: l.pos, text: "<EOF>"})
			return l.toks, nil
		}
		if err := l.next(); err != nil {
			return nil, err
		}
	}
}

func (l *lexer) errf(pos int, msg string) *SyntaxError {
	return &SyntaxError{Query: l.src, Pos: pos, Msg: msg}
}

func (l *lexer) skipSpace() {
	for l.pos < len(l.src) {
		switch l.src[l.pos] {
		case ' ', '\t', '\n', '\r', '\f':
			l.pos++
		default:
			return
		}
	}
}

func (l *lexer) emit(k tokKind, start int) {
	l.toks = append(l.toks, token{kind: k, text: l.src[start:l.pos], pos: start})
}

func (l *lexer) next() *SyntaxError {
	start := l.pos
	c := l.src[l.pos]
	switch {
	case c == '\'':
		return l.lexString()
	case isDigit(c) || ((c == '-' || c == '+' || c == '.') && l.pos+1 < len(l.src) && isDigit(l.src[l.pos+1])):
		return l.lexNumberOrDate()
	case isIdentStart(c):
		// Dotted paths are one token; the parser splits them.
		for l.pos < len(l.src) && (isIdentChar(l.src[l.pos]) || l.src[l.pos] == '.') {
			l.pos++
		}
		l.emit(tIdent, start)
		return nil
	case c == '(':
		l.pos++
		l.emit(tLParen, start)
	case c == ')':
		l.pos++
		l.emit(tRParen, start)
	case c == ',':
		l.pos++
		l.emit(tComma, start)
	case c == ':':
		l.pos++
		l.emit(tColon, start)
	case c == '=':
		l.pos++
		l.emit(tOp, start)
	case c == '!':
		if l.pos+1 < len(l.src) && l.src[l.pos+1] == '=' {
			l.pos += 2
			l.emit(tOp, start)
			return nil
		}
		return l.errf(start, "unexpected token: '!'")
	case c == '<':
		l.pos++
		if l.pos < len(l.src) && (l.src[l.pos] == '=' || l.src[l.pos] == '>') {
			l.pos++
		}
		l.emit(tOp, start)
	case c == '>':
		l.pos++
		if l.pos < len(l.src) && l.src[l.pos] == '=' {
			l.pos++
		}
		l.emit(tOp, start)
	default:
		r, _ := utf8.DecodeRuneInString(l.src[l.pos:])
		return l.errf(start, "unexpected token: '"+string(r)+"'")
	}
	return nil
}

// lexString reads a single-quoted literal with SOQL's backslash escapes. \_ and \% are
// kept distinguishable for LIKE, where they mean a literal underscore / percent sign.
func (l *lexer) lexString() *SyntaxError {
	start := l.pos
	l.pos++ // opening quote
	var val, like strings.Builder
	for {
		if l.pos >= len(l.src) {
			return l.errf(start, "line 1:"+strconv.Itoa(start)+" mismatched character '<EOF>' expecting '''")
		}
		c := l.src[l.pos]
		switch c {
		case '\'':
			l.pos++
			l.toks = append(l.toks, token{kind: tString, text: l.src[start:l.pos], pos: start, str: val.String(), like: like.String()})
			return nil
		case '\\':
			if l.pos+1 >= len(l.src) {
				return l.errf(start, "line 1:"+strconv.Itoa(start)+" mismatched character '<EOF>' expecting '''")
			}
			e := l.src[l.pos+1]
			var out byte
			switch e {
			case '\'', '"':
				out = e
			case '\\':
				val.WriteByte('\\')
				like.WriteString(`\\`)
				l.pos += 2
				continue
			case 'n':
				out = '\n'
			case 'r':
				out = '\r'
			case 't':
				out = '\t'
			case 'b':
				out = '\b'
			case 'f':
				out = '\f'
			case '_', '%':
				val.WriteByte(e)
				like.WriteByte('\\')
				like.WriteByte(e)
				l.pos += 2
				continue
			default:
				r, size := utf8.DecodeRuneInString(l.src[l.pos+1:])
				return l.errf(start, "Invalid string literal '"+l.src[start:l.pos+1+size]+"'. Illegal character sequence '\\"+string(r)+"' in string literal.")
			}
			val.WriteByte(out)
			like.WriteByte(out)
			l.pos += 2
		default:
			val.WriteByte(c)
			like.WriteByte(c)
			l.pos++
		}
	}
}

// lexNumberOrDate reads numbers (42, -1.5) and ISO dates / datetimes, which SOQL writes
// unquoted (2024-01-31, 2024-01-31T10:00:00Z, 2024-01-31T10:00:00.000+02:00).
func (l *lexer) lexNumberOrDate() *SyntaxError {
	start := l.pos
	// A date starts with four digits and a dash.
	if l.pos+10 <= len(l.src) && isDigit(l.src[l.pos]) && isDigit(l.src[l.pos+1]) && isDigit(l.src[l.pos+2]) && isDigit(l.src[l.pos+3]) && l.src[l.pos+4] == '-' {
		end := l.pos
		for end < len(l.src) && (isIdentChar(l.src[end]) || strings.IndexByte("-:+.", l.src[end]) >= 0) {
			end++
		}
		text := l.src[start:end]
		l.pos = end
		if t, err := time.Parse("2006-01-02", text); err == nil {
			l.toks = append(l.toks, token{kind: tDate, text: text, pos: start, t: t})
			return nil
		}
		for _, layout := range []string{"2006-01-02T15:04:05Z", "2006-01-02T15:04:05.000Z", "2006-01-02T15:04:05-07:00", "2006-01-02T15:04:05.000-07:00"} {
			if t, err := time.Parse(layout, text); err == nil {
				l.toks = append(l.toks, token{kind: tDateTime, text: text, pos: start, t: t})
				return nil
			}
		}
		return l.errf(start, "line 1:"+strconv.Itoa(start)+" no viable alternative at character '"+text+"'")
	}
	if l.src[l.pos] == '-' || l.src[l.pos] == '+' {
		l.pos++
	}
	digits, dot := 0, false
	for l.pos < len(l.src) {
		c := l.src[l.pos]
		if isDigit(c) {
			digits++
		} else if c == '.' && !dot {
			dot = true
		} else {
			break
		}
		l.pos++
	}
	if digits == 0 || (l.pos < len(l.src) && isIdentStart(l.src[l.pos])) {
		for l.pos < len(l.src) && isIdentChar(l.src[l.pos]) {
			l.pos++
		}
		return l.errf(start, "unexpected token: '"+l.src[start:l.pos]+"'")
	}
	l.emit(tNumber, start)
	return nil
}
