package permissions

// Change is a check whose decisive result flipped between two reports.
type Change struct {
	Check string
	// Lost is true for ok -> missing, false for missing -> ok.
	Lost     bool
	Required bool
}

// Diff compares a report's checks with the previous report's. Only decisive results
// count: a check going to or from "unknown" (say, while the session is broken) is not a
// change, and neither is a warning. A nil prev means there was no earlier report: nothing
// changed, whatever is missing now.
func Diff(prev, cur []Check) []Change {
	if prev == nil {
		return nil
	}
	before := make(map[string]Result, len(prev))
	for _, c := range prev {
		before[c.Name] = c.Result
	}
	var out []Change
	for _, c := range cur {
		b, ok := before[c.Name]
		if !ok {
			continue
		}
		switch {
		case b == ResultOK && c.Result == ResultMissing:
			out = append(out, Change{Check: c.Name, Lost: true, Required: c.Required})
		case b == ResultMissing && c.Result == ResultOK:
			out = append(out, Change{Check: c.Name, Lost: false, Required: c.Required})
		}
	}
	return out
}
