package salesforce

import (
	"fmt"
	"net/url"
	"strings"
)

// SplitIN builds the fewest queries of the form
//
//	before + "(" + 'v1','v2',... + ")" + after
//
// such that the URL-encoded length of each (as sent in ?q=) is at most
// budget bytes. Values are quoted with Quote, so they may be anything;
// duplicates are dropped, order is kept. Empty values give no queries. It
// fails when one value alone does not fit.
func SplitIN(before, after string, values []string, budget int) ([]string, error) {
	fixed := encLen(before) + encLen("(") + encLen(")") + encLen(after)
	sep := encLen(",")
	seen := make(map[string]bool, len(values))
	var (
		out  []string
		cur  []string
		size = fixed
	)
	flush := func() {
		if len(cur) > 0 {
			out = append(out, before+"("+strings.Join(cur, ",")+")"+after)
			cur, size = nil, fixed
		}
	}
	for _, v := range values {
		if seen[v] {
			continue
		}
		seen[v] = true
		q := Quote(v)
		n := encLen(q)
		if fixed+n > budget {
			return nil, fmt.Errorf("salesforce: one IN value (%d bytes encoded) does not fit a %d-byte query budget", n, budget)
		}
		add := n
		if len(cur) > 0 {
			add += sep
		}
		if size+add > budget {
			flush()
			add = n
		}
		cur = append(cur, q)
		size += add
	}
	flush()
	return out, nil
}

// INQueries is SplitIN with the budget derived from the client's URI
// budget (Config.URIBudget) minus the instance URL and query path, so that
// every resulting GET URI stays within it.
func (c *Client) INQueries(before, after string, values []string) ([]string, error) {
	overhead := len(c.InstanceURL()) + len(c.DataPath("query")+"?q=")
	return SplitIN(before, after, values, c.uriBudget-overhead)
}

// encLen is the length of s after url.QueryEscape, which encodes byte by
// byte, so lengths add up.
func encLen(s string) int { return len(url.QueryEscape(s)) }
