package sfdc

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
)

func compositeBody(allOrNone bool, subs ...string) string {
	return `{"allOrNone":` + strconv.FormatBool(allOrNone) + `,"compositeRequest":[` + strings.Join(subs, ",") + `]}`
}

func sub(ref, url string) string {
	return `{"method":"GET","url":"` + url + `","referenceId":"` + ref + `"}`
}

func TestCompositeLimits(t *testing.T) {
	tb := setup(t, 3)
	var many []string
	for i := 0; i < 26; i++ {
		many = append(many, sub("d"+strconv.Itoa(i), "/services/data/v62.0/sobjects/Lead/describe"))
	}
	wantError(t, tb.do(t, "POST", "/services/data/v62.0/composite", tb.teamTok, compositeBody(false, many...)), 400, "LIMIT_EXCEEDED")
	if r := tb.do(t, "POST", "/services/data/v62.0/composite", tb.teamTok, compositeBody(false, many[:25]...)); r.status != 200 {
		t.Fatalf("25 subrequests: %d %s", r.status, r.body)
	}
	var qs []string
	for i := 0; i < 6; i++ {
		qs = append(qs, sub("q"+strconv.Itoa(i), "/services/data/v62.0/query?q=SELECT+Id+FROM+User"))
	}
	wantError(t, tb.do(t, "POST", "/services/data/v62.0/composite", tb.teamTok, compositeBody(false, qs...)), 400, "LIMIT_EXCEEDED")
	if r := tb.do(t, "POST", "/services/data/v62.0/composite", tb.teamTok, compositeBody(false, qs[:5]...)); r.status != 200 {
		t.Fatalf("5 queries: %d %s", r.status, r.body)
	}
	wantError(t, tb.do(t, "POST", "/services/data/v62.0/composite", tb.teamTok, "{not json"), 400, "JSON_PARSER_ERROR")
	wantError(t, tb.do(t, "GET", "/services/data/v62.0/composite", tb.teamTok, ""), 405, "METHOD_NOT_ALLOWED")
}

type compositeResp struct {
	CompositeResponse []struct {
		Body           json.RawMessage `json:"body"`
		HTTPStatusCode int             `json:"httpStatusCode"`
		ReferenceID    string          `json:"referenceId"`
	} `json:"compositeResponse"`
}

func TestCompositeReferencesAndAllOrNone(t *testing.T) {
	tb := setup(t, 3)
	body := compositeBody(false,
		sub("me", "/services/data/v62.0/query?q=SELECT+Id,ProfileId+FROM+User+WHERE+Id='"+tb.teamID+"'"),
		sub("prof", "/services/data/v62.0/query?q=SELECT+Name+FROM+Profile+WHERE+Id='@{me.records[0].ProfileId}'"),
		sub("bad", "/services/data/v62.0/sobjects/Nope/describe"),
		sub("dangling", "/services/data/v62.0/query?q=SELECT+Id+FROM+User+WHERE+Id='@{bad.records[0].Id}'"),
	)
	var cr compositeResp
	tb.do(t, "POST", "/services/data/v62.0/composite", tb.teamTok, body).json(t, &cr)
	got := map[string]int{}
	for _, s := range cr.CompositeResponse {
		got[s.ReferenceID] = s.HTTPStatusCode
	}
	if got["me"] != 200 || got["prof"] != 200 || got["bad"] != 404 || got["dangling"] != 400 {
		t.Fatalf("statuses = %v", got)
	}
	if !strings.Contains(string(cr.CompositeResponse[1].Body), ProfileIntegration) {
		t.Errorf("reference not resolved: %s", cr.CompositeResponse[1].Body)
	}

	// allOrNone: one failure turns every other subresponse into PROCESSING_HALTED.
	body = compositeBody(true, sub("ok", "/services/data/v62.0/sobjects/Lead/describe"), sub("bad", "/services/data/v62.0/sobjects/Nope/describe"))
	tb.do(t, "POST", "/services/data/v62.0/composite", tb.teamTok, body).json(t, &cr)
	if cr.CompositeResponse[0].HTTPStatusCode != 400 || !strings.Contains(string(cr.CompositeResponse[0].Body), "PROCESSING_HALTED") {
		t.Errorf("allOrNone first = %d %s", cr.CompositeResponse[0].HTTPStatusCode, cr.CompositeResponse[0].Body)
	}
}

func TestCompositeBatch(t *testing.T) {
	tb := setup(t, 3)
	body := `{"haltOnError":true,"batchRequests":[
		{"method":"GET","url":"v62.0/sobjects/Lead/describe"},
		{"method":"GET","url":"v62.0/query?q=SELECT+Id+FROM+User+LIMIT+1"},
		{"method":"GET","url":"v62.0/sobjects/Nope/describe"},
		{"method":"GET","url":"v62.0/sobjects/Contact/describe"}]}`
	r := tb.do(t, "POST", "/services/data/v62.0/composite/batch", tb.teamTok, body)
	var br struct {
		HasErrors bool `json:"hasErrors"`
		Results   []struct {
			StatusCode int             `json:"statusCode"`
			Result     json.RawMessage `json:"result"`
		} `json:"results"`
	}
	r.json(t, &br)
	if !br.HasErrors || len(br.Results) != 4 {
		t.Fatalf("batch = %s", r.body)
	}
	codes := []int{br.Results[0].StatusCode, br.Results[1].StatusCode, br.Results[2].StatusCode, br.Results[3].StatusCode}
	if codes[0] != 200 || codes[1] != 200 || codes[2] != 404 || codes[3] != 412 || !strings.Contains(string(br.Results[3].Result), "BATCH_PROCESSING_HALTED") {
		t.Errorf("batch results = %v %s", codes, br.Results[3].Result)
	}
	if used, _ := tb.srv.Usage(tb.orgID); used != 4 {
		t.Errorf("composite/batch of 4 cost %d calls, want 4", used)
	}
	if got := r.header.Get("Sforce-Limit-Info"); got != "api-usage=4/100000" {
		t.Errorf("Sforce-Limit-Info = %q", got)
	}
}
