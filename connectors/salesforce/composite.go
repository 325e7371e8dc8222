package salesforce

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
)

// MaxSubrequests is the composite limit on subrequests per call (of which
// at most 5 may be queries).
const MaxSubrequests = 25

// Subrequest is one request of a composite call.
type Subrequest struct {
	Method      string // GET, POST, PATCH, DELETE
	URL         string // a /services/data/vXX.X/... path: c.DescribePath, c.QueryPath, c.DataPath
	ReferenceID string // unique within the call; letters, digits, underscore
	Body        any    // JSON-encoded when non-nil
}

// SubResponse is the answer to one Subrequest.
type SubResponse struct {
	ReferenceID string            `json:"referenceId"`
	Status      int               `json:"httpStatusCode"`
	Headers     map[string]string `json:"httpHeaders"`
	Body        json.RawMessage   `json:"body"`
}

// Err returns the subrequest's failure as an *APIError, or nil for a 2xx.
func (r SubResponse) Err() error {
	if r.Status >= 200 && r.Status <= 299 {
		return nil
	}
	return decodeAPIError(r.Status, r.Body)
}

// Decode decodes a successful subrequest's body into v; for a failed one it
// returns Err().
func (r SubResponse) Decode(v any) error {
	if err := r.Err(); err != nil {
		return err
	}
	if err := json.Unmarshal(r.Body, v); err != nil {
		return fmt.Errorf("composite %s: decode body: %w", r.ReferenceID, err)
	}
	return nil
}

var referenceIDRE = regexp.MustCompile(`^[A-Za-z0-9_]{1,80}$`)

// Composite sends reqs in one POST /composite with allOrNone false and
// returns their answers in request order. The whole call counts as one API
// request toward the org's allocation. A failing subrequest does not fail
// the call: check each SubResponse.Err. Errors: validation (empty, more
// than MaxSubrequests, bad or duplicate reference ids), *APIError for the
// call itself.
func (c *Client) Composite(ctx context.Context, reqs []Subrequest) ([]SubResponse, error) {
	if len(reqs) == 0 || len(reqs) > MaxSubrequests {
		return nil, fmt.Errorf("salesforce composite: %d subrequests, want 1..%d", len(reqs), MaxSubrequests)
	}
	type sub struct {
		Method      string `json:"method"`
		URL         string `json:"url"`
		ReferenceID string `json:"referenceId"`
		Body        any    `json:"body,omitempty"`
	}
	body := struct {
		AllOrNone        bool  `json:"allOrNone"`
		CompositeRequest []sub `json:"compositeRequest"`
	}{}
	seen := make(map[string]bool, len(reqs))
	for _, r := range reqs {
		if !referenceIDRE.MatchString(r.ReferenceID) || seen[r.ReferenceID] {
			return nil, fmt.Errorf("salesforce composite: reference id %q is invalid or repeated", r.ReferenceID)
		}
		seen[r.ReferenceID] = true
		body.CompositeRequest = append(body.CompositeRequest, sub{Method: r.Method, URL: r.URL, ReferenceID: r.ReferenceID, Body: r.Body})
	}
	payload, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("salesforce composite: encode: %w", err)
	}
	var out struct {
		CompositeResponse []SubResponse `json:"compositeResponse"`
	}
	if err := c.send(ctx, request{method: http.MethodPost, path: c.DataPath("composite"), body: payload}, &out); err != nil {
		return nil, fmt.Errorf("composite: %w", err)
	}
	byRef := make(map[string]SubResponse, len(out.CompositeResponse))
	for _, r := range out.CompositeResponse {
		byRef[r.ReferenceID] = r
	}
	res := make([]SubResponse, len(reqs))
	for i, r := range reqs {
		sr, ok := byRef[r.ReferenceID]
		if !ok {
			return nil, fmt.Errorf("composite: no answer for subrequest %s", r.ReferenceID)
		}
		res[i] = sr
	}
	return res, nil
}
