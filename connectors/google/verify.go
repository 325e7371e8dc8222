package google

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/oauth2"
	"google.golang.org/api/calendar/v3"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/option"

	"tether/connectors/oauth"
	"tether/sync/connections"
)

const provider = "google"

// Verifier proves a Google Calendar access token works. Safe for concurrent use.
type Verifier struct {
	// APIURL is www.googleapis.com (or the sandbox's /google): the Calendar API lives at
	// APIURL/calendar/v3/, tokeninfo at APIURL/oauth2/v3/tokeninfo. Required.
	APIURL string
	// HTTP sends the requests; its Timeout bounds each. Nil means http.DefaultClient
	// with the caller's context as the only bound.
	HTTP *http.Client
	// Now reads Retry-After dates. Nil means time.Now.
	Now func() time.Time
}

// Result is what a verification found.
type Result struct {
	// AccountID is the Google account (tokeninfo's sub, as the connect flow stored it).
	AccountID string
	// Scopes are the scopes tokeninfo reports the token holds.
	Scopes []string
	// Denied is set when calendarList.get was refused for insufficient scopes: the
	// calendar scopes tether needs are gone whatever else the token holds.
	Denied bool
	// TimeZone is the primary calendar's zone (an IANA name, as the user set it in
	// Google Calendar); "" when the call was denied.
	TimeZone string
}

// Verify reads the primary calendar's entry (calendarList.get, the same scopes as
// calendarList.list), which proves the token works for the Calendar API and gives the
// user's zone, then asks tokeninfo for the token's scopes and account. Errors are
// *connections.Failure: 401 → Code "unauthorized" (refresh first, then needs_reconnect),
// 403/429 usage limits → rate_limited, 5xx and no answer → transient. A refused scope is
// not an error: Result.Denied.
func (v *Verifier) Verify(ctx context.Context, accessToken string) (Result, error) {
	base := strings.TrimRight(v.APIURL, "/")
	if base == "" {
		return Result{}, &connections.Failure{Class: connections.FailMisconfigured, Provider: provider, Op: "verify",
			Code: "no_api_url", Reason: "no Google API URL is configured (set TETHER_GOOGLE_API_URL)"}
	}
	var res Result
	hc := v.authorised(accessToken)
	svc, err := calendar.NewService(ctx, option.WithEndpoint(base+"/calendar/v3/"), option.WithHTTPClient(hc))
	if err != nil {
		return Result{}, &connections.Failure{Class: connections.FailMisconfigured, Provider: provider, Op: "verify",
			Code: "client", Reason: "the Google Calendar client could not be built: " + err.Error(), Err: err}
	}
	primary, err := svc.CalendarList.Get("primary").Fields("id", "timeZone").Context(ctx).Do()
	if err != nil {
		f := v.failure(err)
		if f != nil {
			return Result{}, f
		}
		res.Denied = true
	} else {
		res.TimeZone = primary.TimeZone
	}
	info, err := v.tokeninfo(ctx, base, accessToken)
	if err != nil {
		return Result{}, err
	}
	res.AccountID = info.Sub
	res.Scopes = oauth.SplitScopes(info.Scope, " ")
	return res, nil
}

// authorised is an HTTP client sending accessToken as a bearer header (never in a URL,
// so no transport error can print it).
func (v *Verifier) authorised(accessToken string) *http.Client {
	base := http.DefaultClient
	if v.HTTP != nil {
		base = v.HTTP
	}
	c := *base
	c.Transport = &oauth2.Transport{Source: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: accessToken}), Base: base.Transport}
	return &c
}

func (v *Verifier) now() time.Time {
	if v.Now != nil {
		return v.Now()
	}
	return time.Now()
}

// failure classifies a Calendar API error; nil means "scope refused" (not a failure).
func (v *Verifier) failure(err error) *connections.Failure {
	var ge *googleapi.Error
	if !errors.As(err, &ge) {
		return oauth.NoAnswerFailure(provider, "verify", err)
	}
	reason := ""
	if len(ge.Errors) > 0 {
		reason = ge.Errors[0].Reason
	}
	f := oauth.StatusFailure(provider, "verify", ge.Code, ge.Header, []byte(ge.Message), v.now())
	f.SubCode, f.Err = reason, err
	switch {
	case ge.Code == http.StatusForbidden && (reason == "insufficientPermissions" || strings.Contains(ge.Body, "ACCESS_TOKEN_SCOPE_INSUFFICIENT")):
		return nil
	case reason == "rateLimitExceeded" || reason == "userRateLimitExceeded":
		f.Class, f.Code = connections.FailRateLimited, "rate_limited"
		f.Reason = "Google Calendar rate limit reached; tether retries later"
	case reason == "quotaExceeded":
		// "Calendar usage limits exceeded": the user's calendar is read-only for hours.
		f.Class, f.Code = connections.FailRateLimited, "rate_limited"
		f.Reason = "the user's Google Calendar usage limit is exceeded (it lasts hours); tether retries later"
		f.RetryAfter = cmp.Or(f.RetryAfter, oauth.GoogleQuotaBackoff) // no Retry-After: it lasts hours
	case reason == "dailyLimitExceeded":
		f.Class, f.Code = connections.FailRateLimited, "rate_limited"
		f.Reason = "tether's Google Cloud project ran out of daily Calendar quota; the operator should raise it in the Google Cloud console"
		f.RetryAfter = cmp.Or(f.RetryAfter, oauth.GoogleQuotaBackoff)
	case reason == "accessNotConfigured":
		f.Class, f.Code = connections.FailMisconfigured, "api_not_enabled"
		f.Reason = "the Google Calendar API is not enabled in tether's Google Cloud project; the operator must enable it"
	case ge.Code == http.StatusUnauthorized:
		f.Reason = "Google refused the access token (" + ge.Message + ")"
	}
	return f
}

type tokenInfo struct {
	Sub   string `json:"sub"`
	Scope string `json:"scope"`
	Aud   string `json:"aud"`
}

// tokeninfo posts the token in the body, not the query string, to keep it out of URLs.
func (v *Verifier) tokeninfo(ctx context.Context, base, accessToken string) (tokenInfo, error) {
	hc := v.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/oauth2/v3/tokeninfo",
		strings.NewReader(url.Values{"access_token": {accessToken}}.Encode()))
	if err != nil {
		return tokenInfo{}, &connections.Failure{Class: connections.FailMisconfigured, Provider: provider, Op: "verify",
			Code: "bad_api_url", Reason: fmt.Sprintf("the Google API URL %q is not usable (check TETHER_GOOGLE_API_URL)", base)}
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := hc.Do(req)
	if err != nil {
		return tokenInfo{}, oauth.NoAnswerFailure(provider, "verify", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return tokenInfo{}, oauth.NoAnswerFailure(provider, "verify", err)
	}
	if resp.StatusCode != http.StatusOK {
		// tokeninfo answers a dead token with 400 invalid_token: the calendar call just
		// worked, so the token died in between; treat it as the 401 it stands for.
		var oe struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
		}
		if resp.StatusCode == http.StatusBadRequest && json.Unmarshal(body, &oe) == nil && oe.Error == "invalid_token" {
			return tokenInfo{}, &connections.Failure{Class: connections.FailNeedsReconnect, Provider: provider, Op: "verify",
				Code: "unauthorized", SubCode: oe.Error, Status: resp.StatusCode, Detail: oe.Description,
				Reason: "Google says the access token is invalid; reconnect Google"}
		}
		return tokenInfo{}, oauth.StatusFailure(provider, "verify", resp.StatusCode, resp.Header, body, v.now())
	}
	var ti tokenInfo
	if err := json.Unmarshal(body, &ti); err != nil || ti.Sub == "" {
		f := oauth.StatusFailure(provider, "verify", resp.StatusCode, resp.Header, body, v.now())
		f.Class, f.Code, f.Reason = connections.FailUnknown, "bad_tokeninfo", "Google's tokeninfo answer has no account; tether retries"
		return tokenInfo{}, f
	}
	return ti, nil
}
