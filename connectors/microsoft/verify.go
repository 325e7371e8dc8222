package microsoft

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"tether/connectors/oauth"
	"tether/sync/connections"
)

const provider = "microsoft"

// Graph calls Microsoft Graph. Safe for concurrent use.
type Graph struct {
	// URL is graph.microsoft.com (or the sandbox's /microsoft); calls go to URL/v1.0/...
	// Required.
	URL string
	// HTTP sends the requests; its Timeout bounds each. Nil means http.DefaultClient.
	HTTP *http.Client
	// Now reads Retry-After dates. Nil means time.Now.
	Now func() time.Time
}

// Result is what a verification found.
type Result struct {
	// AccountID is the user's Graph id (as the connect flow stored it).
	AccountID string
	// Denied lists the permissions Graph refused a call for: User.Read for /me,
	// Calendars.ReadWrite for /me/calendars.
	Denied []string
}

// Verify reads /me (the token works, the account is the same) and, with calendars, the
// first calendar (the calendar permission holds). Errors are *connections.Failure: 401
// InvalidAuthenticationToken → Code "unauthorized", 429 (and 503) with Retry-After →
// rate_limited (transient), 5xx and no answer → transient. A refused permission is not an
// error: Result.Denied.
func (g *Graph) Verify(ctx context.Context, accessToken string, calendars bool) (Result, error) {
	base := strings.TrimRight(g.URL, "/")
	if base == "" {
		return Result{}, &connections.Failure{Class: connections.FailMisconfigured, Provider: provider, Op: "verify",
			Code: "no_api_url", Reason: "no Microsoft Graph URL is configured (set TETHER_MICROSOFT_GRAPH_URL)"}
	}
	var res Result
	var me struct {
		ID string `json:"id"`
	}
	denied, err := g.get(ctx, base+"/v1.0/me?$select=id,userPrincipalName", accessToken, &me)
	if err != nil {
		return Result{}, err
	}
	if denied {
		res.Denied = append(res.Denied, "User.Read")
	}
	res.AccountID = me.ID
	if calendars {
		var cals struct {
			Value []json.RawMessage `json:"value"`
		}
		denied, err := g.get(ctx, base+"/v1.0/me/calendars?$top=1&$select=id", accessToken, &cals)
		if err != nil {
			return Result{}, err
		}
		if denied {
			res.Denied = append(res.Denied, "Calendars.ReadWrite")
		}
	}
	return res, nil
}

// graphError is Graph's error envelope.
type graphError struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// get GETs url into out; denied reports a 403 access-denied answer.
func (g *Graph) get(ctx context.Context, url, accessToken string, out any) (denied bool, err error) {
	hc := g.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false, &connections.Failure{Class: connections.FailMisconfigured, Provider: provider, Op: "verify",
			Code: "bad_api_url", Reason: fmt.Sprintf("the Microsoft Graph URL is not usable: %v (check TETHER_MICROSOFT_GRAPH_URL)", err)}
	}
	req.Header.Set("Authorization", "Bearer "+accessToken)
	req.Header.Set("Accept", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return false, oauth.NoAnswerFailure(provider, "verify", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return false, oauth.NoAnswerFailure(provider, "verify", err)
	}
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(body, out); err != nil {
			f := oauth.StatusFailure(provider, "verify", resp.StatusCode, resp.Header, body, g.now())
			f.Class, f.Code, f.Reason = connections.FailUnknown, "bad_answer", "Microsoft Graph's answer is not JSON; tether retries"
			return false, f
		}
		return false, nil
	}
	var ge graphError
	_ = json.Unmarshal(body, &ge)
	code := ge.Error.Code
	if resp.StatusCode == http.StatusForbidden && (code == "ErrorAccessDenied" || code == "Authorization_RequestDenied" || code == "accessDenied") {
		return true, nil
	}
	detail := body // an answer without Graph's envelope (a proxy's page) is kept as is
	if ge.Error.Message != "" {
		detail = []byte(ge.Error.Message)
	}
	f := oauth.StatusFailure(provider, "verify", resp.StatusCode, resp.Header, detail, g.now())
	f.SubCode = code
	switch {
	case resp.StatusCode == http.StatusUnauthorized:
		f.Reason = "Microsoft Graph refused the access token (" + cmp.Or(ge.Error.Message, code) + ")"
	case resp.StatusCode == http.StatusTooManyRequests || code == "TooManyRequests" || code == "ApplicationThrottled":
		f.Class, f.Code = connections.FailRateLimited, "rate_limited"
		f.Reason = "Microsoft Graph is throttling tether (" + cmp.Or(code, "429") + "); tether retries later"
	}
	return false, f
}

func (g *Graph) now() time.Time {
	if g.Now != nil {
		return g.Now()
	}
	return time.Now()
}
