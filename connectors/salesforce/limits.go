package salesforce

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
)

// Limit is one entry of /limits.
type Limit struct {
	Max       int `json:"Max"`
	Remaining int `json:"Remaining"`
}

// Limits reads /limits (needs View Setup and Configuration; costs a call —
// prefer the Sforce-Limit-Info usage reported to OnUsage). Per-app children
// and unknown keys are ignored. The daily allocation is
// limits["DailyApiRequests"].
func (c *Client) Limits(ctx context.Context) (map[string]Limit, error) {
	var raw json.RawMessage
	if err := c.send(ctx, request{method: http.MethodGet, path: c.DataPath("limits")}, &raw); err != nil {
		return nil, fmt.Errorf("limits: %w", err)
	}
	return decodeLimits(raw)
}

func decodeLimits(body []byte) (map[string]Limit, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, fmt.Errorf("limits: decode: %w", err)
	}
	out := make(map[string]Limit, len(raw))
	for k, v := range raw {
		var l Limit
		if json.Unmarshal(v, &l) == nil {
			out[k] = l
		}
	}
	return out, nil
}
