package sfdc

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

const (
	maxCompositeSubrequests = 25
	maxCompositeQueries     = 5
	maxBatchSubrequests     = 25
)

type compositeRequest struct {
	AllOrNone        bool `json:"allOrNone"`
	CompositeRequest []struct {
		Method      string            `json:"method"`
		URL         string            `json:"url"`
		ReferenceID string            `json:"referenceId"`
		Body        json.RawMessage   `json:"body"`
		HTTPHeaders map[string]string `json:"httpHeaders"`
	} `json:"compositeRequest"`
}

type compositeSubresponse struct {
	Body           json.RawMessage   `json:"body"`
	HTTPHeaders    map[string]string `json:"httpHeaders"`
	HTTPStatusCode int               `json:"httpStatusCode"`
	ReferenceID    string            `json:"referenceId"`
}

func badRequest(code, msg string) result {
	return errResult(&apiError{status: http.StatusBadRequest, code: code, message: msg})
}

// isQueryURL reports whether a subrequest URL is a query/queryAll/queryMore, which the
// 5-query limit counts.
func isQueryURL(u string) bool {
	p, _, _ := strings.Cut(u, "?")
	parts := strings.Split(strings.Trim(p, "/"), "/")
	return len(parts) >= 4 && (parts[3] == "query" || parts[3] == "queryAll")
}

// composite serves POST /composite: up to 25 subrequests (at most 5 queries) run as the
// same user, counted as one API call. Limit error texts are the sandbox's own (Salesforce's
// exact wording is not recorded).
func (s *Server) composite(c *call, body []byte) result {
	var req compositeRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return badRequest("JSON_PARSER_ERROR", "Unexpected character in composite request body: "+err.Error())
	}
	if len(req.CompositeRequest) == 0 {
		return badRequest("INVALID_INPUT", "compositeRequest: the request must contain at least one subrequest")
	}
	if len(req.CompositeRequest) > maxCompositeSubrequests {
		return badRequest("LIMIT_EXCEEDED", "Composite API: the number of subrequests ("+strconv.Itoa(len(req.CompositeRequest))+") exceeds the limit of "+strconv.Itoa(maxCompositeSubrequests))
	}
	queries := 0
	refs := map[string]bool{}
	for _, sr := range req.CompositeRequest {
		if isQueryURL(sr.URL) {
			queries++
		}
		if sr.ReferenceID == "" || sr.URL == "" || sr.Method == "" {
			return badRequest("INVALID_INPUT", "Each subrequest needs method, url and referenceId")
		}
		if refs[sr.ReferenceID] {
			return badRequest("INVALID_INPUT", "Duplicate ReferenceId provided in the request: "+sr.ReferenceID)
		}
		refs[sr.ReferenceID] = true
	}
	if queries > maxCompositeQueries {
		return badRequest("LIMIT_EXCEEDED", "Composite API: the number of query subrequests ("+strconv.Itoa(queries)+") exceeds the limit of "+strconv.Itoa(maxCompositeQueries))
	}
	done := map[string]any{} // referenceId -> decoded body of a successful subrequest
	out := make([]compositeSubresponse, len(req.CompositeRequest))
	failed := false
	for i, sr := range req.CompositeRequest {
		out[i] = compositeSubresponse{HTTPHeaders: map[string]string{}, ReferenceID: sr.ReferenceID}
		u, ok := resolveRefs(sr.URL, done)
		var res result
		switch {
		case !ok:
			res = badRequest("PROCESSING_HALTED", "Invalid reference specified. No value for a reference in "+sr.URL+" found in a previous successful subrequest.")
		case failed && req.AllOrNone:
			res = badRequest("PROCESSING_HALTED", "The transaction was rolled back since another operation in the same transaction failed.")
		default:
			res = s.subrequest(c, sr.Method, u, sr.Body)
		}
		out[i].HTTPStatusCode, out[i].Body = res.status, res.body
		if res.status >= 300 {
			failed = true
			continue
		}
		var v any
		if json.Unmarshal(res.body, &v) == nil {
			done[sr.ReferenceID] = v
		}
	}
	if failed && req.AllOrNone {
		for i := range out {
			if out[i].HTTPStatusCode < 300 {
				out[i].HTTPStatusCode = http.StatusBadRequest
				out[i].Body = badRequest("PROCESSING_HALTED", "The transaction was rolled back since another operation in the same transaction failed.").body
			}
		}
	}
	return result{status: http.StatusOK, body: mustJSON(map[string]any{"compositeResponse": out})}
}

// subrequest runs one composite subrequest whose URL starts /services/data/vXX.X/.
func (s *Server) subrequest(c *call, method, rawURL string, body []byte) result {
	u, err := url.Parse(rawURL)
	if err != nil {
		return errResult(errNotFound())
	}
	rest, ok := strings.CutPrefix(u.Path, "/services/data/v")
	if !ok {
		return errResult(errNotFound())
	}
	version, sub, _ := strings.Cut(rest, "/")
	if !supportedVersion(version) {
		return errResult(errNotFound())
	}
	if strings.HasPrefix(sub, "composite") {
		return badRequest("INVALID_INPUT", "Composite and batch requests cannot be nested")
	}
	sc := *c
	sc.version = version
	return s.dispatch(&sc, strings.ToUpper(method), "/"+sub, u.RawQuery, body)
}

// resolveRefs replaces @{ref.path} in a URL with values from earlier responses, e.g.
// @{me.records[0].ProfileId}.
func resolveRefs(u string, done map[string]any) (string, bool) {
	for {
		i := strings.Index(u, "@{")
		if i < 0 {
			return u, true
		}
		j := strings.IndexByte(u[i:], '}')
		if j < 0 {
			return u, false
		}
		v, ok := lookupRef(u[i+2:i+j], done)
		if !ok {
			return u, false
		}
		u = u[:i] + url.QueryEscape(v) + u[i+j+1:]
	}
}

func lookupRef(path string, done map[string]any) (string, bool) {
	segs := strings.Split(path, ".")
	cur, ok := done[segs[0]]
	if !ok {
		return "", false
	}
	for _, seg := range segs[1:] {
		name, idx := seg, -1
		if k := strings.IndexByte(seg, '['); k >= 0 && strings.HasSuffix(seg, "]") {
			n, err := strconv.Atoi(seg[k+1 : len(seg)-1])
			if err != nil {
				return "", false
			}
			name, idx = seg[:k], n
		}
		m, ok := cur.(map[string]any)
		if !ok {
			return "", false
		}
		if cur, ok = m[name]; !ok {
			return "", false
		}
		if idx >= 0 {
			arr, ok := cur.([]any)
			if !ok || idx >= len(arr) {
				return "", false
			}
			cur = arr[idx]
		}
	}
	switch x := cur.(type) {
	case string:
		return x, true
	case bool:
		return strconv.FormatBool(x), true
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), true
	}
	return "", false
}

type batchRequest struct {
	HaltOnError   bool `json:"haltOnError"`
	BatchRequests []struct {
		Method    string          `json:"method"`
		URL       string          `json:"url"`
		RichInput json.RawMessage `json:"richInput"`
	} `json:"batchRequests"`
}

// batchCost is what a /composite/batch call costs: one call per subrequest.
func batchCost(body []byte) int {
	var req batchRequest
	if json.Unmarshal(body, &req) != nil || len(req.BatchRequests) == 0 || len(req.BatchRequests) > maxBatchSubrequests {
		return 1
	}
	return len(req.BatchRequests)
}

type batchResult struct {
	StatusCode int             `json:"statusCode"`
	Result     json.RawMessage `json:"result"`
}

// compositeBatch serves POST /composite/batch: up to 25 independent subrequests, each
// counted toward the API limit (see batchCost).
func (s *Server) compositeBatch(c *call, body []byte) result {
	var req batchRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return badRequest("JSON_PARSER_ERROR", "Unexpected character in batch request body: "+err.Error())
	}
	if len(req.BatchRequests) == 0 {
		return badRequest("INVALID_INPUT", "batchRequests: the request must contain at least one subrequest")
	}
	if len(req.BatchRequests) > maxBatchSubrequests {
		return badRequest("LIMIT_EXCEEDED", "Batch API: the number of subrequests ("+strconv.Itoa(len(req.BatchRequests))+") exceeds the limit of "+strconv.Itoa(maxBatchSubrequests))
	}
	results := make([]batchResult, len(req.BatchRequests))
	hasErrors, halted := false, false
	for i, br := range req.BatchRequests {
		if halted {
			results[i] = batchResult{StatusCode: http.StatusPreconditionFailed,
				Result: (&apiError{code: "BATCH_PROCESSING_HALTED", message: "Batch processing halted per request"}).body()}
			continue
		}
		u := br.URL
		if !strings.HasPrefix(u, "/") {
			u = "/services/data/" + u
		}
		res := s.subrequest(c, br.Method, u, br.RichInput)
		results[i] = batchResult{StatusCode: res.status, Result: res.body}
		if res.status >= 300 {
			hasErrors = true
			halted = req.HaltOnError
		}
	}
	return result{status: http.StatusOK, body: mustJSON(map[string]any{"hasErrors": hasErrors, "results": results})}
}
