package connections

// StateCount is how many connections of one kind are in one state, system-wide: what
// /metrics graphs as connections by kind and state.
type StateCount struct {
	Kind  Kind
	State State
	Count int
}
