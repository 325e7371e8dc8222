package sfdc

import (
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// cursor is a server-side query locator: the matched rows are kept, so later pages are
// slices, never a re-run of the query.
type cursor struct {
	id      string
	orgID   string
	plan    *plan
	rows    []any
	expires time.Time
}

type cursors struct {
	byID  map[string]*cursor
	order []string
	seq   uint64
}

func (s *Server) newCursor(c *call, p *plan, rows []any) string {
	s.umu.Lock()
	defer s.umu.Unlock()
	now := s.clock()
	s.cur.seq++
	id := MakeID(prefixLocator, s.cur.seq)
	s.cur.byID[id] = &cursor{id: id, orgID: c.org.ID, plan: p, rows: rows, expires: now.Add(s.cursorTTL)}
	s.cur.order = append(s.cur.order, id)
	// Drop expired cursors and the oldest beyond the cap.
	keep := s.cur.order[:0]
	for i, cid := range s.cur.order {
		cu := s.cur.byID[cid]
		if cu == nil {
			continue
		}
		if !now.Before(cu.expires) || len(s.cur.order)-i > s.maxCursors {
			delete(s.cur.byID, cid)
			continue
		}
		keep = append(keep, cid)
	}
	s.cur.order = keep
	return id
}

// queryMore serves GET /query/{locator}-{offset}.
func (s *Server) queryMore(c *call, tail string) result {
	invalid := errResult(&apiError{status: http.StatusBadRequest, code: "INVALID_QUERY_LOCATOR", message: "invalid query locator"})
	id, offStr, ok := strings.Cut(tail, "-")
	if !ok {
		return invalid
	}
	off, err := strconv.Atoi(offStr)
	s.umu.Lock()
	cu := s.cur.byID[id]
	if cu != nil && !s.clock().Before(cu.expires) {
		delete(s.cur.byID, id)
		cu = nil
	}
	s.umu.Unlock()
	if cu == nil || err != nil || off < 0 || off > len(cu.rows) || cu.orgID != c.org.ID {
		return invalid
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	batch := batchSize(c.header)
	locator := ""
	if off+batch < len(cu.rows) {
		locator = id
	}
	return result{status: http.StatusOK, body: s.writePage(c, cu.plan, cu.rows, off, batch, locator)}
}

// writePage renders rows[off:off+batch] as a query response. locator != "" means more
// pages follow.
func (s *Server) writePage(c *call, p *plan, rows []any, off, batch int, locator string) []byte {
	end := min(off+batch, len(rows))
	b := make([]byte, 0, 64+(end-off)*512)
	b = append(b, `{"totalSize":`...)
	b = strconv.AppendInt(b, int64(len(rows)), 10)
	if locator != "" {
		b = append(b, `,"done":false,"nextRecordsUrl":"/services/data/v`...)
		b = append(b, c.version...)
		b = append(b, "/query/"...)
		b = append(b, locator...)
		b = append(b, '-')
		b = strconv.AppendInt(b, int64(end), 10)
		b = append(b, '"')
	} else {
		b = append(b, `,"done":true`...)
	}
	b = append(b, `,"records":[`...)
	for i := off; i < end; i++ {
		if i > off {
			b = append(b, ',')
		}
		b = s.appendRecord(b, c.version, p.obj, p.proj.children, rows[i])
	}
	return append(b, "]}"...)
}

func (s *Server) appendRecord(b []byte, version string, o *objectDef, nodes []*projNode, row any) []byte {
	b = append(b, `{"attributes":{"type":"`...)
	b = append(b, o.Name...)
	b = append(b, `","url":"/services/data/v`...)
	b = append(b, version...)
	b = append(b, "/sobjects/"...)
	b = append(b, o.Name...)
	b = append(b, '/')
	u, isUser := row.(*user)
	if isUser {
		b = append(b, u.ID...)
	} else if id, ok := s.value(o, o.byLower["id"], row).(string); ok {
		b = append(b, id...)
	}
	b = append(b, `"}`...)
	for _, n := range nodes {
		b = append(b, ',', '"')
		b = append(b, n.key...)
		b = append(b, '"', ':')
		if isUser && n.userWriter != nil {
			b = n.userWriter(b, u)
			continue
		}
		if n.field != nil {
			b = appendValue(b, s.value(n.owner, n.field, row))
			continue
		}
		parent := s.follow(n.rel, row)
		if parent == nil {
			b = append(b, "null"...)
			continue
		}
		b = s.appendRecord(b, version, n.target, n.children, parent)
	}
	return append(b, '}')
}

// appendValue writes a field value the way Salesforce does (datetimes with +0000).
func appendValue(b []byte, v any) []byte {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...)
	case string:
		return appendString(b, x)
	case bool:
		return strconv.AppendBool(b, x)
	case int:
		return strconv.AppendInt(b, int64(x), 10)
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return append(b, "null"...)
		}
		return strconv.AppendFloat(b, x, 'f', -1, 64)
	case time.Time:
		b = append(b, '"')
		b = x.UTC().AppendFormat(b, "2006-01-02T15:04:05.000-0700")
		return append(b, '"')
	case date:
		b = append(b, '"')
		b = time.Time(x).AppendFormat(b, "2006-01-02")
		return append(b, '"')
	}
	return append(b, "null"...)
}

func appendStringOrNull(b []byte, s string) []byte {
	if s == "" {
		return append(b, "null"...)
	}
	return appendString(b, s)
}

const hexDigits = "0123456789abcdef"

// appendString writes a JSON string; like Salesforce it does not escape <, > or &.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 || r == '\u2028' || r == '\u2029' {
				b = append(b, s[start:i]...)
				if r == utf8.RuneError {
					b = append(b, `\ufffd`...)
				} else {
					b = append(b, `\u202`...)
					b = append(b, hexDigits[r&0xF])
				}
				i += size
				start = i
				continue
			}
			i += size
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
		}
		i++
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
