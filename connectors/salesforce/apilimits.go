package salesforce

import "time"

// limitKind is what a refused call means for work that must wait or stop. The permission
// audit (auditError) and the invite import (importError) both map it onto their own
// domain's errors from classifyLimit, so the two always agree on what each code means.
type limitKind int

const (
	notLimited limitKind = iota
	// dailyLimit: REQUEST_LIMIT_EXCEEDED "TotalRequests Limit exceeded.", the org's rolling
	// 24-hour allocation is spent. Wait for hours; it is not the connection's fault.
	dailyLimit
	// concurrencyLimit: any other REQUEST_LIMIT_EXCEEDED (too many long requests running).
	// Retry in seconds.
	concurrencyLimit
	// orgAPIDisabled: API_DISABLED_FOR_ORG, the org's edition has no API or the user lacks
	// API Enabled (Salesforce does not say which). No retry helps; an admin must act.
	orgAPIDisabled
	// userAPIDisabled: API_CURRENTLY_DISABLED, the user has no API access.
	userAPIDisabled
)

// Retry delays for REQUEST_LIMIT_EXCEEDED: the daily allocation is a rolling 24 hours,
// concurrency clears in seconds.
const (
	dailyLimitRetry       = time.Hour
	concurrencyLimitRetry = 30 * time.Second
)

// classifyLimit names err's limit kind and how long to wait before trying again (zero for
// the kinds no wait fixes).
func classifyLimit(err error) (limitKind, time.Duration) {
	e, ok := asAPIError(err)
	switch {
	case !ok:
		return notLimited, 0
	case e.Code == "API_DISABLED_FOR_ORG":
		return orgAPIDisabled, 0
	case e.Code == "API_CURRENTLY_DISABLED":
		return userAPIDisabled, 0
	case IsDailyLimit(err):
		return dailyLimit, dailyLimitRetry
	case IsRequestLimit(err):
		return concurrencyLimit, concurrencyLimitRetry
	}
	return notLimited, 0
}
