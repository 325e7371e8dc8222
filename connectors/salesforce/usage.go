package salesforce

import (
	"regexp"
	"strconv"
)

var apiUsageRE = regexp.MustCompile(`(?:^|[;\s])api-usage=(\d+)/(\d+)`)

// ParseLimitInfo reads the api-usage=N/M segment of a Sforce-Limit-Info
// header ("api-usage=18/5000; per-app-api-usage=17/250(appName=x)"),
// ignoring other segments. ok is false when there is none.
func ParseLimitInfo(h string) (u Usage, ok bool) {
	m := apiUsageRE.FindStringSubmatch(h)
	if m == nil {
		return Usage{}, false
	}
	used, err1 := strconv.Atoi(m[1])
	max, err2 := strconv.Atoi(m[2])
	if err1 != nil || err2 != nil {
		return Usage{}, false
	}
	return Usage{Used: used, Max: max}, true
}
