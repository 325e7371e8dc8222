package sfdc

import (
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"tether/connectors/sandbox/sfdc/soql"
)

const (
	defaultBatch = 2000
	minBatch     = 200
	maxBatch     = 2000
	maxOffset    = 2000
)

// boundPath is a SOQL field path resolved against the schema.
type boundPath struct {
	rels  []*fieldDef  // reference fields followed, in order
	objs  []*objectDef // objs[i] is the object rels[i] leads to
	field *fieldDef    // final field
	owner *objectDef   // object the final field belongs to
}

// get evaluates the path on a root row.
func (s *Server) get(bp *boundPath, row any) any {
	for _, r := range bp.rels {
		row = s.follow(r, row)
		if row == nil {
			return nil
		}
	}
	return s.value(bp.owner, bp.field, row)
}

// queryCtx carries what binding needs for error messages.
type queryCtx struct {
	s   *Server
	c   *call
	src string
	obj *objectDef
}

func (q *queryCtx) errAt(pos int, code, msg string) *apiError {
	return &apiError{status: http.StatusBadRequest, code: code, message: soql.Format(q.src, pos, msg)}
}

func (q *queryCtx) invalidType(pos int, name string) *apiError {
	return q.errAt(pos, "INVALID_TYPE", "sObject type '"+name+"' is not supported. If you are attempting to use a custom object, be sure to append the '__c' after the entity name. Please reference your WSDL or the describe call for the appropriate names.")
}

// bind resolves a path; fields the user cannot read (FLS) are "No such column", as in
// Salesforce. A path may start with the FROM object's name (SELECT User.Name FROM User).
func (q *queryCtx) bind(p soql.Path) (*boundPath, *apiError) {
	parts := p.Parts
	if len(parts) > 1 && strings.EqualFold(parts[0], q.obj.Name) && q.obj.rel(parts[0]) == nil {
		parts = parts[1:]
	}
	bp := &boundPath{owner: q.obj}
	cur := q.obj
	for i, part := range parts {
		if i == len(parts)-1 {
			f := cur.field(part)
			if f == nil || (cur.access == accessCRM || cur.access == accessActivity) && q.c.eff.field(cur.Name, f)&fpRead == 0 {
				return nil, q.errAt(p.Pos, "INVALID_FIELD", "No such column '"+part+"' on entity '"+cur.Name+"'. If you are attempting to use a custom field, be sure to append the '__c' after the custom field name. Please reference your WSDL or the describe call for the appropriate names.")
			}
			bp.field, bp.owner = f, cur
			return bp, nil
		}
		rel := cur.rel(part)
		var target *objectDef
		if rel != nil {
			for _, t := range rel.ReferenceTo {
				if o := q.s.schema.object(t); o != nil && q.c.eff.canRead(o) {
					target = o
					if o.Name == "User" {
						break
					}
				}
			}
		}
		if target == nil {
			return nil, q.errAt(p.Pos, "INVALID_FIELD", "Didn't understand relationship '"+part+"' in field path. If you are attempting to use a custom relationship, be sure to append the '__r' after the custom relationship name. Please reference your WSDL or the describe call for the appropriate names.")
		}
		bp.rels = append(bp.rels, rel)
		bp.objs = append(bp.objs, target)
		cur = target
	}
	return nil, q.errAt(p.Pos, "MALFORMED_QUERY", "unexpected token: '"+p.String()+"'")
}

func queryParam(raw string) string {
	v, err := url.ParseQuery(raw)
	if err != nil {
		return ""
	}
	return v.Get("q")
}

// batchSize reads Sforce-Query-Options: batchSize=N, clamped to 200..2000.
func batchSize(h http.Header) int {
	for _, part := range strings.Split(h.Get("Sforce-Query-Options"), ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if ok && strings.EqualFold(strings.TrimSpace(k), "batchSize") {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				return defaultBatch
			}
			return min(max(n, minBatch), maxBatch)
		}
	}
	return defaultBatch
}

// projNode is one key of an output record: a field, or a parent relationship with its own
// fields.
type projNode struct {
	key        string
	userWriter func([]byte, *user) []byte // fast path when owner is User
	field      *fieldDef
	owner      *objectDef
	rel        *fieldDef
	target     *objectDef
	children   []*projNode
}

func (n *projNode) child(key string) *projNode {
	for _, c := range n.children {
		if strings.EqualFold(c.key, key) {
			return c
		}
	}
	return nil
}

// plan is a bound, ready-to-run query.
type plan struct {
	obj      *objectDef
	proj     *projNode
	where    func(any) bool
	order    []orderKey
	limit    int
	offset   int
	agg      *aggPlan
	countAll bool
}

type orderKey struct {
	bp         *boundPath
	desc       bool
	nullsFirst bool
}

func (s *Server) query(c *call, src string) result {
	if strings.TrimSpace(src) == "" {
		return errResult(&apiError{status: http.StatusBadRequest, code: "MALFORMED_QUERY", message: "A query string has to be specified"})
	}
	s.mu.RLock()
	p, rows, e := s.run(c, src)
	if e != nil {
		s.mu.RUnlock()
		return errResult(e)
	}
	if p.countAll {
		s.mu.RUnlock()
		return result{status: http.StatusOK, body: []byte(`{"totalSize":` + strconv.Itoa(len(rows)) + `,"done":true,"records":[]}`)}
	}
	if p.agg != nil {
		body := s.writeAggregate(p, rows)
		s.mu.RUnlock()
		return result{status: http.StatusOK, body: body}
	}
	batch := batchSize(c.header)
	var locator string
	if len(rows) > batch {
		locator = s.newCursor(c, p, rows)
	}
	body := s.writePage(c, p, rows, 0, batch, locator)
	s.mu.RUnlock()
	return result{status: http.StatusOK, body: body}
}

// run parses, binds and executes src, returning the plan and matching rows. Callers hold
// s.mu (read).
func (s *Server) run(c *call, src string) (*plan, []any, *apiError) {
	ast, err := soql.Parse(src)
	if err != nil {
		return nil, nil, &apiError{status: http.StatusBadRequest, code: "MALFORMED_QUERY", message: err.Error()}
	}
	q := &queryCtx{s: s, c: c, src: src}
	q.obj = s.schema.object(ast.From)
	if q.obj == nil || !c.eff.canRead(q.obj) {
		return nil, nil, q.invalidType(ast.FromPos, ast.From)
	}
	p := &plan{obj: q.obj, limit: ast.Limit, offset: ast.Offset}
	if ast.Offset > maxOffset {
		return nil, nil, &apiError{status: http.StatusBadRequest, code: "NUMBER_OUTSIDE_VALID_RANGE", message: "Maximum SOQL offset allowed is " + strconv.Itoa(maxOffset)}
	}
	if e := s.bindSelect(q, ast, p); e != nil {
		return nil, nil, e
	}
	if ast.Where != nil {
		pred, e := q.compile(ast.Where)
		if e != nil {
			return nil, nil, e
		}
		p.where = pred
	}
	for _, o := range ast.OrderBy {
		bp, e := q.bind(o.Field)
		if e != nil {
			return nil, nil, e
		}
		p.order = append(p.order, orderKey{bp: bp, desc: o.Desc, nullsFirst: o.NullsFirst})
	}
	var rows []any
	s.each(c.org, q.obj, func(row any) {
		if p.where == nil || p.where(row) {
			rows = append(rows, row)
		}
	})
	if len(p.order) > 0 && p.agg == nil {
		s.sortRows(p.order, rows)
	}
	if p.agg != nil {
		return p, rows, nil
	}
	if p.offset > 0 {
		rows = rows[min(p.offset, len(rows)):]
	}
	if p.limit >= 0 && len(rows) > p.limit {
		rows = rows[:p.limit]
	}
	return p, rows, nil
}

func (s *Server) bindSelect(q *queryCtx, ast *soql.Query, p *plan) *apiError {
	hasAgg := false
	for _, it := range ast.Fields {
		if it.Func != "" {
			hasAgg = true
		}
	}
	if hasAgg || len(ast.GroupBy) > 0 {
		return s.bindAggregate(q, ast, p)
	}
	p.proj = &projNode{}
	seen := map[string]bool{}
	for _, it := range ast.Fields {
		bp, e := q.bind(it.Field)
		if e != nil {
			return e
		}
		key := strings.ToLower(it.Field.String())
		if seen[key] {
			return q.errAt(it.Pos, "MALFORMED_QUERY", "duplicate field selected: "+it.Field.String())
		}
		seen[key] = true
		n := p.proj
		for i, rel := range bp.rels {
			c := n.child(rel.RelationshipName)
			if c == nil {
				c = &projNode{key: rel.RelationshipName, rel: rel, target: bp.objs[i]}
				n.children = append(n.children, c)
			}
			n = c
		}
		leaf := &projNode{key: bp.field.Name, field: bp.field, owner: bp.owner}
		if bp.owner.Name == "User" {
			leaf.userWriter = userWriters[bp.field.Name]
		}
		n.children = append(n.children, leaf)
	}
	return nil
}

// sortRows orders rows by the ORDER BY keys with Salesforce's null placement; strings
// compare case-insensitively, ids by their bytes.
func (s *Server) sortRows(keys []orderKey, rows []any) {
	if len(keys) == 1 && s.sortUserStrings(keys[0], rows) {
		return
	}
	vals := make([][]any, len(keys))
	for k, key := range keys {
		vals[k] = make([]any, len(rows))
		for i, r := range rows {
			vals[k][i] = s.get(key.bp, r)
		}
	}
	// Rows come in creation order, which often already is the requested order (ORDER BY
	// Id on generated ids); an index scan would not sort either.
	less := func(ia, ib int) bool {
		for k, key := range keys {
			va, vb := vals[k][ia], vals[k][ib]
			if va == nil || vb == nil {
				if va == nil && vb == nil {
					continue
				}
				return (va == nil) == key.nullsFirst
			}
			c := compareValues(va, vb, key.bp.field.Type)
			if c == 0 {
				continue
			}
			if key.desc {
				return c > 0
			}
			return c < 0
		}
		return false
	}
	sorted := true
	for i := 1; i < len(rows) && sorted; i++ {
		sorted = !less(i, i-1)
	}
	if sorted {
		return
	}
	order := make([]int, len(rows))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return less(order[a], order[b]) })
	out := make([]any, len(rows))
	for i, o := range order {
		out[i] = rows[o]
	}
	copy(rows, out)
}

// compareValues orders two non-null values of one field type.
func compareValues(a, b any, typ string) int {
	switch x := a.(type) {
	case string:
		y, _ := b.(string)
		if typ == "id" || typ == "reference" {
			return strings.Compare(x, y)
		}
		return compareFold(x, y)
	case bool:
		y, _ := b.(bool)
		switch {
		case x == y:
			return 0
		case !x:
			return -1
		}
		return 1
	case int:
		return compareFloat(float64(x), toFloat(b))
	case float64:
		return compareFloat(x, toFloat(b))
	case time.Time:
		y, _ := b.(time.Time)
		return x.Compare(y)
	case date:
		y, _ := b.(date)
		return time.Time(x).Compare(time.Time(y))
	}
	return 0
}

func toFloat(v any) float64 {
	switch x := v.(type) {
	case int:
		return float64(x)
	case float64:
		return x
	}
	return 0
}

func compareFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// compareFold compares ASCII case-insensitively without allocating.
func compareFold(a, b string) int {
	n := min(len(a), len(b))
	for i := 0; i < n; i++ {
		ca, cb := lower(a[i]), lower(b[i])
		if ca != cb {
			if ca < cb {
				return -1
			}
			return 1
		}
	}
	return len(a) - len(b)
}

// sortUserStrings is sortRows for one User string key, without boxing 100,000 values.
func (s *Server) sortUserStrings(key orderKey, rows []any) bool {
	g := userStringGetter(key.bp)
	if g == nil {
		return false
	}
	type kv struct {
		v       string
		present bool
		row     any
	}
	kvs := make([]kv, len(rows))
	for i, r := range rows {
		u, ok := r.(*user)
		if !ok {
			return false
		}
		v, present := g(u)
		kvs[i] = kv{v, present, r}
	}
	byBytes := key.bp.field.Type == "id" || key.bp.field.Type == "reference"
	less := func(a, b kv) bool {
		if !a.present || !b.present {
			if !a.present && !b.present {
				return false
			}
			return !a.present == key.nullsFirst
		}
		var c int
		if byBytes {
			c = strings.Compare(a.v, b.v)
		} else {
			c = compareFold(a.v, b.v)
		}
		if key.desc {
			return c > 0
		}
		return c < 0
	}
	sorted := true
	for i := 1; i < len(kvs) && sorted; i++ {
		sorted = !less(kvs[i], kvs[i-1])
	}
	if !sorted {
		sort.SliceStable(kvs, func(i, j int) bool { return less(kvs[i], kvs[j]) })
		for i := range kvs {
			rows[i] = kvs[i].row
		}
	}
	return true
}
