package sfdc

import "net/http"

// orgLimits are the /limits keys of a recorded Developer Edition response
// (fixtures/salesforce/limits_dev_org.swiftlysalesforce.json) with their maxima; all but
// DailyApiRequests report Remaining = Max.
var orgLimits = []struct {
	name string
	max  int
}{
	{"AnalyticsExternalDataSizeMB", 40960}, {"BOZosCalloutHourlyLimit", 20000},
	{"ConcurrentAsyncGetReportInstances", 200}, {"ConcurrentEinsteinDataInsightsStoryCreation", 5},
	{"ConcurrentEinsteinDiscoveryStoryCreation", 2}, {"ConcurrentSyncReportRuns", 20},
	{"DailyAnalyticsDataflowJobExecutions", 60}, {"DailyAnalyticsUploadedFilesSizeMB", 51200},
	{"DailyAsyncApexExecutions", 250000}, {"DailyBulkApiBatches", 15000},
	{"DailyBulkV2QueryFileStorageMB", 976562}, {"DailyBulkV2QueryJobs", 10000},
	{"DailyDurableGenericStreamingApiEvents", 10000}, {"DailyDurableStreamingApiEvents", 10000},
	{"DailyEinsteinDataInsightsStoryCreation", 1000}, {"DailyEinsteinDiscoveryPredictAPICalls", 50000},
	{"DailyEinsteinDiscoveryPredictionsByCDC", 500000}, {"DailyEinsteinDiscoveryStoryCreation", 100},
	{"DailyFunctionsApiCallLimit", 50000}, {"DailyGenericStreamingApiEvents", 10000},
	{"DailyStandardVolumePlatformEvents", 10000}, {"DailyStreamingApiEvents", 10000},
	{"DailyWorkflowEmails", 195}, {"DataStorageMB", 5}, {"DurableStreamingApiConcurrentClients", 20},
	{"FileStorageMB", 20}, {"HourlyAsyncReportRuns", 1200}, {"HourlyDashboardRefreshes", 200},
	{"HourlyDashboardResults", 5000}, {"HourlyDashboardStatuses", 999999999},
	{"HourlyLongTermIdMapping", 100000}, {"HourlyManagedContentPublicRequests", 50000},
	{"HourlyODataCallout", 1000}, {"HourlyPublishedPlatformEvents", 50000},
	{"HourlyPublishedStandardVolumePlatformEvents", 1000}, {"HourlyShortTermIdMapping", 100000},
	{"HourlySyncReportRuns", 500}, {"HourlyTimeBasedWorkflow", 50}, {"MassEmail", 10},
	{"MonthlyEinsteinDiscoveryStoryCreation", 500}, {"MonthlyPlatformEventsUsageEntitlement", 0},
	{"Package2VersionCreates", 6}, {"Package2VersionCreatesWithoutValidation", 500},
	{"PrivateConnectOutboundCalloutHourlyLimitMB", 0}, {"SingleEmail", 15},
	{"StreamingApiConcurrentClients", 20},
}

type limit struct {
	Max       int `json:"Max"`
	Remaining int `json:"Remaining"`
}

// limits serves GET /limits. Salesforce documents it as needing View Setup and
// Configuration; the error code for a user without it is not recorded, INSUFFICIENT_ACCESS
// is the sandbox's choice.
func (s *Server) limits(c *call) result {
	s.mu.RLock()
	viewSetup := c.eff.has("ViewSetup") || c.eff.has("ModifyAllData")
	nPS := len(c.org.permsets)
	s.mu.RUnlock()
	if !viewSetup {
		return errResult(&apiError{status: http.StatusForbidden, code: "INSUFFICIENT_ACCESS", message: "insufficient access rights: View Setup and Configuration is required"})
	}
	used, daily := s.Usage(c.org.ID)
	m := map[string]any{}
	for _, l := range orgLimits {
		m[l.name] = limit{Max: l.max, Remaining: l.max}
	}
	m["DailyApiRequests"] = limit{Max: daily, Remaining: max(daily-used, 0)}
	m["PermissionSets"] = map[string]any{"Max": 1500, "Remaining": max(1500-nPS, 0),
		"CreateCustom": limit{Max: 1000, Remaining: max(1000-nPS, 0)}}
	return result{status: http.StatusOK, body: mustJSON(m)}
}
