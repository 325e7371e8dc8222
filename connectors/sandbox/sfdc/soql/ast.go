package soql

import "time"

// Query is one parsed SELECT statement.
type Query struct {
	Fields  []SelectItem
	From    string
	FromPos int // byte offset of the object name, for error messages
	Where   Expr
	GroupBy []Path
	OrderBy []OrderItem
	// Limit is -1 when absent.
	Limit int
	// Offset is 0 when absent.
	Offset int
}

// Path is a dotted field reference such as Profile.UserLicense.Name, split on dots.
type Path struct {
	Parts []string
	Pos   int // byte offset of the first character
}

// String joins the path back with dots.
func (p Path) String() string {
	s := ""
	for i, x := range p.Parts {
		if i > 0 {
			s += "."
		}
		s += x
	}
	return s
}

// SelectItem is one entry of the SELECT list: a field path or an aggregate call.
type SelectItem struct {
	Field Path
	// Func is "" for a plain field, else the upper-cased aggregate name ("COUNT").
	Func string
	// CountAll is true for COUNT() (no argument), which returns only totalSize.
	CountAll bool
	Alias    string
	Pos      int
}

// OrderItem is one ORDER BY key. Nulls defaults like Salesforce: first for ASC, last for DESC.
type OrderItem struct {
	Field      Path
	Desc       bool
	NullsFirst bool
}

// Expr is a WHERE condition: *And, *Or, *Not, *Compare or *In.
type Expr interface{ expr() }

// And is a conjunction of two or more terms.
type And struct{ Terms []Expr }

// Or is a disjunction of two or more terms.
type Or struct{ Terms []Expr }

// Not negates X.
type Not struct{ X Expr }

// Compare is "field op value"; Op is one of = != < > <= >= LIKE.
// "<>" is normalised to "!=".
type Compare struct {
	Field Path
	Op    string
	Value Value
}

// In is "field [NOT] IN (v, ...)" or INCLUDES/EXCLUDES for multi-select picklists
// (Op "IN", "NOT IN", "INCLUDES", "EXCLUDES").
type In struct {
	Field  Path
	Op     string
	Values []Value
}

func (*And) expr()     {}
func (*Or) expr()      {}
func (*Not) expr()     {}
func (*Compare) expr() {}
func (*In) expr()      {}

// Kind says what a literal is.
type Kind int

// Literal kinds.
const (
	KindString Kind = iota
	KindNumber
	KindBool
	KindNull
	KindDate        // 2024-01-31
	KindDateTime    // 2024-01-31T10:00:00Z
	KindDateLiteral // TODAY, LAST_N_DAYS:7, ...
)

// Value is a literal on the right-hand side of a condition.
type Value struct {
	Kind Kind
	// Str is the unescaped string for KindString; for KindDateLiteral the upper-cased
	// name (e.g. "LAST_N_DAYS").
	Str string
	// Like is the string with LIKE semantics kept: unescaped, except that an escaped
	// wildcard stays as "\%" / "\_" and a literal backslash as "\\".
	Like string
	Num  float64
	// N is the argument of a parameterised date literal (LAST_N_DAYS:N).
	N    int
	Bool bool
	Time time.Time
	Pos  int
	// Raw is the literal as written, for error messages.
	Raw string
}
