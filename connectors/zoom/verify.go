package zoom

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"time"

	"tether/connectors/oauth"
	"tether/sync/connections"
)

const provider = "zoom"

// API calls the Zoom REST API. Safe for concurrent use.
type API struct {
	// URL is api.zoom.us (or the sandbox's /zoom); calls go to URL/v2/... Required.
	URL string
	// HTTP sends the requests; its Timeout bounds each. Nil means http.DefaultClient.
	HTTP *http.Client
	// Now reads Retry-After dates. Nil means time.Now.
	Now func() time.Time
}

// Result is what a verification found.
type Result struct {
	// AccountID is the Zoom user id (as the connect flow stored it).
	AccountID string
	// Denied lists the scopes Zoom said the token lacks (code 4711).
	Denied []string
	// TimeZone is the user's timezone setting (an IANA name); "" when unset.
	TimeZone string
}

// Zoom API error codes (answer body {"code":…,"message":…}).
const (
	codeInvalidToken = 124  // "Invalid access token."
	codeNoScope      = 4711 // "Invalid access token, does not contain scopes:[…]"
)

// Verify reads /v2/users/me. Errors are *connections.Failure: 401 (code 124) → Code
// "unauthorized", 429 → rate_limited with Retry-After, 5xx and no answer → transient. A
// refused scope (400 code 4711) is not an error: Result.Denied.
func (a *API) Verify(ctx context.Context, accessToken string) (Result, error) {
	base := strings.TrimRight(a.URL, "/")
	if base == "" {
		return Result{}, &connections.Failure{Class: connections.FailMisconfigured, Provider: provider, Op: "verify",
			Code: "no_api_url", Reason: "no Zoom API URL is configured (set TETHER_ZOOM_API_URL)"}
	}
	hc := a.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v2/users/me", nil)
	if err != nil {
		return Result{}, &connections.Failure{Class: connections.FailMisconfigured, Provider: provider, Op: "verify",
			Code: "bad_api_url", Reason: fmt.Sprintf("the Zoom API URL is not usable: %v (check TETHER_ZOOM_API_URL)", err)}
	}
	req.Header.Set("Authorization", "Bearer "+accessToken)
	req.Header.Set("Accept", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return Result{}, oauth.NoAnswerFailure(provider, "verify", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return Result{}, oauth.NoAnswerFailure(provider, "verify", err)
	}
	var ans struct {
		ID       string `json:"id"`
		Timezone string `json:"timezone"`
		Code     int    `json:"code"`
		Message  string `json:"message"`
	}
	jsonErr := json.Unmarshal(body, &ans)
	if resp.StatusCode == http.StatusOK {
		if jsonErr != nil || ans.ID == "" {
			f := oauth.StatusFailure(provider, "verify", resp.StatusCode, resp.Header, body, a.now())
			f.Class, f.Code, f.Reason = connections.FailUnknown, "bad_answer", "Zoom's users/me answer has no user id; tether retries"
			return Result{}, f
		}
		return Result{AccountID: ans.ID, TimeZone: ans.Timezone}, nil
	}
	if ans.Code == codeNoScope {
		return Result{Denied: bracketScopes(ans.Message)}, nil
	}
	detail := body
	if ans.Message != "" {
		detail = []byte(ans.Message)
	}
	f := oauth.StatusFailure(provider, "verify", resp.StatusCode, resp.Header, detail, a.now())
	if ans.Code != 0 {
		f.SubCode = fmt.Sprint(ans.Code)
	}
	switch {
	case resp.StatusCode == http.StatusUnauthorized || ans.Code == codeInvalidToken:
		f.Class, f.Code = connections.FailNeedsReconnect, "unauthorized"
		f.Reason = "Zoom refused the access token (" + ans.Message + ")"
	case resp.StatusCode == http.StatusTooManyRequests:
		if resp.Header.Get("X-RateLimit-Type") == "Daily-limit" {
			f.Reason = "the Zoom account's daily API limit is reached; tether retries after it resets"
		} else {
			f.Reason = "Zoom is rate limiting tether; tether retries later"
		}
	}
	return Result{}, f
}

var bracketList = regexp.MustCompile(`\[([^\]]*)\]`)

// bracketScopes reads "does not contain scopes:[user:read:user, user:read:user:admin]".
// Zoom lists alternatives, any one of which would do; all are reported.
func bracketScopes(msg string) []string {
	m := bracketList.FindStringSubmatch(msg)
	if m == nil {
		return []string{"user:read:user"}
	}
	var out []string
	for _, s := range strings.Split(m[1], ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func (a *API) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}
