package sfdc

import (
	"strconv"
	"strings"

	"tether/connectors/sandbox/sfdc/soql"
)

// aggPlan is a GROUP BY / aggregate-function query. Results carry
// "attributes":{"type":"AggregateResult"} and alias keys (expr0, expr1, ... when unnamed).
type aggPlan struct {
	items  []aggItem
	groups []*boundPath
}

type aggItem struct {
	key string
	fn  string // "" for a grouped field
	bp  *boundPath
}

func (s *Server) bindAggregate(q *queryCtx, ast *soql.Query, p *plan) *apiError {
	if len(ast.Fields) == 1 && ast.Fields[0].CountAll && len(ast.GroupBy) == 0 {
		p.countAll = true
		return nil
	}
	a := &aggPlan{}
	grouped := map[string]bool{}
	for _, g := range ast.GroupBy {
		bp, e := q.bind(g)
		if e != nil {
			return e
		}
		a.groups = append(a.groups, bp)
		grouped[strings.ToLower(g.String())] = true
	}
	expr := 0
	for _, it := range ast.Fields {
		if it.CountAll {
			return q.errAt(it.Pos, "MALFORMED_QUERY", "COUNT() and COUNT(fieldName) cannot be used with other fields")
		}
		bp, e := q.bind(it.Field)
		if e != nil {
			return e
		}
		if it.Func == "" {
			if !grouped[strings.ToLower(it.Field.String())] {
				return q.errAt(it.Pos, "MALFORMED_QUERY", "Field must be grouped or aggregated: "+bp.field.Name)
			}
			a.items = append(a.items, aggItem{key: bp.field.Name, bp: bp})
			continue
		}
		key := it.Alias
		if key == "" {
			key = "expr" + strconv.Itoa(expr)
			expr++
		}
		if (it.Func == "SUM" || it.Func == "AVG") && classOf(bp.field.Type) != classNumber {
			return q.errAt(it.Pos, "MALFORMED_QUERY", "field "+bp.field.Name+" does not support aggregate operator "+it.Func)
		}
		a.items = append(a.items, aggItem{key: key, fn: it.Func, bp: bp})
	}
	p.agg = a
	return nil
}

func (s *Server) writeAggregate(p *plan, rows []any) []byte {
	type group struct{ rows []any }
	var order []string
	groups := map[string]*group{}
	for _, r := range rows {
		var kb []byte
		for _, g := range p.agg.groups {
			kb = appendValue(kb, s.get(g, r))
			kb = append(kb, 0)
		}
		k := string(kb)
		gr := groups[k]
		if gr == nil {
			gr = &group{}
			groups[k] = gr
			order = append(order, k)
		}
		gr.rows = append(gr.rows, r)
	}
	if len(p.agg.groups) == 0 && len(order) == 0 {
		order = append(order, "")
		groups[""] = &group{}
	}
	if p.limit >= 0 && len(order) > p.limit {
		order = order[:p.limit]
	}
	b := []byte(`{"totalSize":`)
	b = strconv.AppendInt(b, int64(len(order)), 10)
	b = append(b, `,"done":true,"records":[`...)
	for i, k := range order {
		if i > 0 {
			b = append(b, ',')
		}
		gr := groups[k]
		b = append(b, `{"attributes":{"type":"AggregateResult"}`...)
		for _, it := range p.agg.items {
			b = append(b, ',')
			b = appendString(b, it.key)
			b = append(b, ':')
			b = appendValue(b, s.aggregate(it, gr.rows))
		}
		b = append(b, '}')
	}
	return append(b, "]}"...)
}

func (s *Server) aggregate(it aggItem, rows []any) any {
	if it.fn == "" {
		if len(rows) == 0 {
			return nil
		}
		return s.get(it.bp, rows[0])
	}
	var vals []any
	for _, r := range rows {
		if v := s.get(it.bp, r); v != nil {
			vals = append(vals, v)
		}
	}
	switch it.fn {
	case "COUNT":
		return len(vals)
	case "COUNT_DISTINCT":
		seen := map[string]bool{}
		for _, v := range vals {
			seen[strings.ToLower(string(appendValue(nil, v)))] = true
		}
		return len(seen)
	case "MIN", "MAX":
		var best any
		for _, v := range vals {
			if best == nil {
				best = v
				continue
			}
			c := compareValues(v, best, it.bp.field.Type)
			if it.fn == "MIN" && c < 0 || it.fn == "MAX" && c > 0 {
				best = v
			}
		}
		return best
	case "SUM", "AVG":
		if len(vals) == 0 {
			return nil
		}
		sum := 0.0
		for _, v := range vals {
			sum += toFloat(v)
		}
		if it.fn == "AVG" {
			return sum / float64(len(vals))
		}
		return sum
	}
	return nil
}
