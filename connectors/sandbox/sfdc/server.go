package sfdc

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Authenticator validates Salesforce access tokens; the sandbox root implements it with
// its OAuth server.
type Authenticator interface {
	// Authenticate returns the Salesforce user id (18-char, 005...) an access token belongs to.
	Authenticate(accessToken string) (userID string, ok bool)
}

// Params configures a Server.
type Params struct {
	Auth  Authenticator    // required: validates Salesforce access tokens
	Clock func() time.Time // nil = time.Now
	// CursorTTL is how long a query cursor (nextRecordsUrl) lives. Zero means 2 days,
	// Salesforce's current cursor lifetime.
	CursorTTL time.Duration
	// MaxCursors bounds the open cursors kept; the oldest is dropped first (its
	// nextRecordsUrl then answers INVALID_QUERY_LOCATOR). Zero means 500.
	MaxCursors int
}

// Server emulates the Salesforce REST data plane (/services/data/...) for any number of
// orgs. Safe for concurrent use.
type Server struct {
	auth       Authenticator
	clock      func() time.Time
	cursorTTL  time.Duration
	maxCursors int
	schema     *schema

	mu          sync.RWMutex // guards orgs, users and permissions
	orgs        []*org
	orgByID     map[string]*org
	usersByName map[string]*user
	orgSeq      uint64

	umu sync.Mutex // guards usage counters, fault counters and cursors
	cur cursors
}

// New returns an empty Server; load orgs with LoadScenario or AddOrg.
func New(p Params) *Server {
	s := &Server{auth: p.Auth, clock: p.Clock, cursorTTL: p.CursorTTL, maxCursors: p.MaxCursors, schema: buildSchema()}
	if s.clock == nil {
		s.clock = time.Now
	}
	if s.cursorTTL == 0 {
		s.cursorTTL = 48 * time.Hour
	}
	if s.maxCursors == 0 {
		s.maxCursors = 500
	}
	s.orgByID = map[string]*org{}
	s.usersByName = map[string]*user{}
	s.cur.byID = map[string]*cursor{}
	return s
}

// LoadScenario replaces every org with the scenario's. On error the previous state is kept.
func (s *Server) LoadScenario(sc Scenario) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	oldOrgs, oldByID, oldNames, oldSeq := s.orgs, s.orgByID, s.usersByName, s.orgSeq
	s.orgs, s.orgByID, s.usersByName, s.orgSeq = nil, map[string]*org{}, map[string]*user{}, 0
	for _, spec := range sc.Orgs {
		if _, err := s.addOrgLocked(spec); err != nil {
			s.orgs, s.orgByID, s.usersByName, s.orgSeq = oldOrgs, oldByID, oldNames, oldSeq
			return fmt.Errorf("load salesforce scenario: %w", err)
		}
	}
	s.umu.Lock()
	s.cur.byID, s.cur.order = map[string]*cursor{}, nil
	s.umu.Unlock()
	return nil
}

// AddOrg adds one org next to those already loaded and returns its id.
func (s *Server) AddOrg(spec OrgSpec) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, err := s.addOrgLocked(spec)
	if err != nil {
		return "", fmt.Errorf("add salesforce org %q: %w", spec.Name, err)
	}
	return o.ID, nil
}

func (s *Server) addOrgLocked(spec OrgSpec) (*org, error) {
	o, err := s.loadOrg(spec)
	if err != nil {
		return nil, err
	}
	s.orgs = append(s.orgs, o)
	s.orgByID[o.ID] = o
	return o, nil
}

// OrgIDs lists the loaded orgs in load order.
func (s *Server) OrgIDs() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	ids := make([]string, len(s.orgs))
	for i, o := range s.orgs {
		ids[i] = o.ID
	}
	return ids
}

// ActiveStandardUsers returns an org's active users of type Standard, in load order: the
// people an import invites and who can sign in.
func (s *Server) ActiveStandardUsers(orgID string) []User {
	var out []User
	for _, id := range s.Users(orgID) {
		if u, ok := s.User(id); ok && u.IsActive && u.UserType == "Standard" {
			out = append(out, u)
		}
	}
	return out
}

// Users returns the ids of an org's users in load order (the GenerateOrg team user first).
func (s *Server) Users(orgID string) []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	o := s.orgLocked(orgID)
	if o == nil {
		return nil
	}
	ids := make([]string, len(o.users))
	for i, u := range o.users {
		ids[i] = u.ID
	}
	return ids
}

func (s *Server) orgLocked(id string) *org {
	if n, ok := NormalizeID(id); ok {
		return s.orgByID[n]
	}
	return nil
}

func (s *Server) userLocked(id string) *user {
	n, ok := NormalizeID(id)
	if !ok {
		return nil
	}
	for _, o := range s.orgs {
		if u := o.usersByID[n]; u != nil {
			return u
		}
	}
	return nil
}

func (u *user) public() User {
	return User{ID: u.ID, OrgID: u.org.ID, Username: u.Username, Email: u.Email, FirstName: u.FirstName,
		LastName: u.LastName, Name: u.Name, UserType: u.UserType, TimeZone: u.TimeZone, IsActive: u.IsActive}
}

// User returns the user with the given 15- or 18-character id.
func (s *Server) User(id string) (User, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if u := s.userLocked(id); u != nil {
		return u.public(), true
	}
	return User{}, false
}

// UserByUsername finds a user by username (case-insensitive, unique across orgs).
func (s *Server) UserByUsername(username string) (User, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if u := s.usersByName[strings.ToLower(username)]; u != nil {
		return u.public(), true
	}
	return User{}, false
}

// SetUserActive activates or deactivates a user (the OAuth side turns a deactivated
// user's refresh into invalid_grant "inactive user"; REST answers 401).
func (s *Server) SetUserActive(userID string, active bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.userLocked(userID)
	if u == nil {
		return fmt.Errorf("set user %s active: no such user", userID)
	}
	u.IsActive = active
	return nil
}

// SetAPIEnabled turns the org's API access on or off; off answers every REST call with
// 403 API_DISABLED_FOR_ORG.
func (s *Server) SetAPIEnabled(orgID string, enabled bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.orgLocked(orgID)
	if o == nil {
		return fmt.Errorf("set API enabled for org %s: no such org", orgID)
	}
	o.apiEnabled = enabled
	return nil
}

// Usage returns the org's API calls in the last 24 hours and its daily allocation.
func (s *Server) Usage(orgID string) (used, max int) {
	s.mu.RLock()
	o := s.orgLocked(orgID)
	s.mu.RUnlock()
	if o == nil {
		return 0, 0
	}
	s.umu.Lock()
	defer s.umu.Unlock()
	return o.usage.used(s.clock()), o.dailyMax
}

// SetUsage sets the org's rolling usage to used calls made now. SetUsage(org, max)
// exhausts the daily allocation: the next call answers 403 REQUEST_LIMIT_EXCEEDED
// "TotalRequests Limit exceeded.".
func (s *Server) SetUsage(orgID string, used int) error {
	s.mu.RLock()
	o := s.orgLocked(orgID)
	s.mu.RUnlock()
	if o == nil {
		return fmt.Errorf("set API usage of org %s: no such org", orgID)
	}
	s.umu.Lock()
	defer s.umu.Unlock()
	o.usage.set(s.clock(), used)
	return nil
}

// ExhaustDailyLimit is SetUsage(orgID, max).
func (s *Server) ExhaustDailyLimit(orgID string) error {
	_, max := s.Usage(orgID)
	return s.SetUsage(orgID, max)
}

// ResetUsage clears the org's usage counter.
func (s *Server) ResetUsage(orgID string) error { return s.SetUsage(orgID, 0) }

// SetDailyLimit changes the org's daily allocation.
func (s *Server) SetDailyLimit(orgID string, max int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.orgLocked(orgID)
	if o == nil {
		return fmt.Errorf("set daily limit of org %s: no such org", orgID)
	}
	o.dailyMax = max
	return nil
}

// InjectConcurrencyLimit makes the org's next n REST calls fail with 403
// REQUEST_LIMIT_EXCEEDED "ConcurrentRequests (Concurrent API Requests) Limit exceeded.";
// n < 0 fails every call until InjectConcurrencyLimit(org, 0). Failed calls do not count
// toward usage.
func (s *Server) InjectConcurrencyLimit(orgID string, n int) error {
	s.mu.RLock()
	o := s.orgLocked(orgID)
	s.mu.RUnlock()
	if o == nil {
		return fmt.Errorf("inject concurrency limit for org %s: no such org", orgID)
	}
	s.umu.Lock()
	defer s.umu.Unlock()
	o.concurrencyFaults = n
	return nil
}

// apiError is a Salesforce REST error: HTTP status plus one {message, errorCode} entry.
type apiError struct {
	status  int
	code    string
	message string
	fields  []string
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

type errorBody struct {
	Message   string   `json:"message"`
	ErrorCode string   `json:"errorCode"`
	Fields    []string `json:"fields,omitempty"`
}

func (e *apiError) body() []byte {
	return mustJSON([]errorBody{{Message: e.message, ErrorCode: e.code, Fields: e.fields}})
}

func errNotFound() *apiError {
	return &apiError{status: http.StatusNotFound, code: "NOT_FOUND", message: "The requested resource does not exist"}
}

// mustJSON encodes like Salesforce: no HTML escaping of <, >, &.
func mustJSON(v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic(fmt.Sprintf("sfdc: encode response: %v", err)) // only our own types are encoded
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

// maxURIBytes is Salesforce's limit on the request URI (and on URI plus headers).
const maxURIBytes = 16384

// result is one REST response before it is written (or embedded in a composite response).
type result struct {
	status int
	body   []byte
}

func errResult(e *apiError) result { return result{status: e.status, body: e.body()} }

// call is one authenticated REST call.
type call struct {
	u       *user
	org     *org
	version string // "62.0"
	header  http.Header
	eff     effective
}

// ServeHTTP serves paths starting /services/data/.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if len(r.RequestURI) > maxURIBytes {
		http.Error(w, "414 Request-URI Too Long", http.StatusRequestURITooLong)
		return
	}
	hdr := len(r.RequestURI)
	for k, vs := range r.Header {
		for _, v := range vs {
			hdr += len(k) + len(v) + 4
		}
	}
	if hdr > maxURIBytes {
		http.Error(w, "431 Request Header Fields Too Large", http.StatusRequestHeaderFieldsTooLarge)
		return
	}
	path := r.URL.Path
	if path == "/services/data" || path == "/services/data/" {
		writeJSON(w, http.StatusOK, versionsBody())
		return
	}
	rest, ok := strings.CutPrefix(path, "/services/data/v")
	if !ok {
		writeJSON(w, http.StatusNotFound, errNotFound().body())
		return
	}
	version, sub, _ := strings.Cut(rest, "/")
	if !supportedVersion(version) {
		writeJSON(w, http.StatusNotFound, errNotFound().body())
		return
	}
	token, ok := bearer(r.Header.Get("Authorization"))
	var uid string
	if ok {
		uid, ok = s.auth.Authenticate(token)
	}
	s.mu.RLock()
	var u *user
	if ok {
		u = s.userLocked(uid)
	}
	if u == nil || !u.IsActive {
		s.mu.RUnlock()
		writeJSON(w, http.StatusUnauthorized, (&apiError{code: "INVALID_SESSION_ID", message: "Session expired or invalid"}).body())
		return
	}
	c := &call{u: u, org: u.org, version: version, header: r.Header, eff: u.perms()}
	apiOn, userAPI := u.org.apiEnabled, c.eff.has("ApiEnabled")
	s.mu.RUnlock()

	var body []byte
	if r.Body != nil {
		body, _ = io.ReadAll(io.LimitReader(r.Body, 50<<20))
	}
	if !apiOn || !userAPI {
		s.writeLimited(w, c.org, errResult(&apiError{status: http.StatusForbidden, code: "API_DISABLED_FOR_ORG", message: "The REST API is not enabled for this Organization."}))
		return
	}
	cost := 1
	if sub == "composite/batch" && r.Method == http.MethodPost {
		cost = batchCost(body)
	}
	if e := s.admit(c.org, cost); e != nil {
		s.writeLimited(w, c.org, errResult(e))
		return
	}
	res := s.dispatch(c, r.Method, "/"+sub, r.URL.RawQuery, body)
	s.writeLimited(w, c.org, res)
}

// admit applies the injected concurrency fault and the daily allocation, then counts the call.
func (s *Server) admit(o *org, cost int) *apiError {
	s.umu.Lock()
	defer s.umu.Unlock()
	if o.concurrencyFaults != 0 {
		if o.concurrencyFaults > 0 {
			o.concurrencyFaults--
		}
		return &apiError{status: http.StatusForbidden, code: "REQUEST_LIMIT_EXCEEDED", message: "ConcurrentRequests (Concurrent API Requests) Limit exceeded."}
	}
	now := s.clock()
	if o.usage.used(now) >= o.dailyMax {
		return &apiError{status: http.StatusForbidden, code: "REQUEST_LIMIT_EXCEEDED", message: "TotalRequests Limit exceeded."}
	}
	o.usage.add(now, cost)
	return nil
}

func (s *Server) writeLimited(w http.ResponseWriter, o *org, res result) {
	used, max := s.Usage(o.ID)
	w.Header().Set("Sforce-Limit-Info", "api-usage="+strconv.Itoa(used)+"/"+strconv.Itoa(max))
	writeJSON(w, res.status, res.body)
}

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func bearer(h string) (string, bool) {
	for _, p := range []string{"Bearer ", "OAuth "} {
		if len(h) > len(p) && strings.EqualFold(h[:len(p)], p) {
			return strings.TrimSpace(h[len(p):]), true
		}
	}
	return "", false
}

// Versions served: 20.0 (Winter '11) to 66.0 (Spring '26).
const minVersion, maxVersion = 20, 66

func supportedVersion(v string) bool {
	major, minor, ok := strings.Cut(v, ".")
	if !ok || minor != "0" {
		return false
	}
	n, err := strconv.Atoi(major)
	return err == nil && n >= minVersion && n <= maxVersion
}

func versionsBody() []byte {
	type version struct {
		Label   string `json:"label"`
		URL     string `json:"url"`
		Version string `json:"version"`
	}
	var vs []version
	seasons := []string{"Winter", "Spring", "Summer"}
	for n := minVersion; n <= maxVersion; n++ {
		k := n - minVersion
		v := strconv.Itoa(n) + ".0"
		vs = append(vs, version{Label: fmt.Sprintf("%s '%02d", seasons[k%3], 11+k/3), URL: "/services/data/v" + v, Version: v})
	}
	return mustJSON(vs)
}

// dispatch routes one call; composite subrequests come through here too. path is what
// follows /services/data/vXX.X.
func (s *Server) dispatch(c *call, method, path, rawQuery string, body []byte) result {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	get := method == http.MethodGet || method == http.MethodHead
	notAllowed := func(allowed string) result {
		return errResult(&apiError{status: http.StatusMethodNotAllowed, code: "METHOD_NOT_ALLOWED",
			message: "HTTP Method '" + method + "' not allowed. Allowed are " + allowed})
	}
	switch {
	case len(parts) == 1 && parts[0] == "":
		if !get {
			return notAllowed("GET,HEAD")
		}
		return result{status: http.StatusOK, body: resourcesBody(c.version)}
	case parts[0] == "query" || parts[0] == "queryAll":
		if !get {
			return notAllowed("GET,HEAD")
		}
		if len(parts) == 2 && parts[1] != "" {
			return s.queryMore(c, parts[1])
		}
		if len(parts) > 2 {
			return errResult(errNotFound())
		}
		return s.query(c, queryParam(rawQuery))
	case parts[0] == "sobjects":
		if !get {
			return notAllowed("GET,HEAD")
		}
		return s.sobjects(c, parts[1:], rawQuery)
	case parts[0] == "limits" && len(parts) == 1:
		if !get {
			return notAllowed("GET,HEAD")
		}
		return s.limits(c)
	case parts[0] == "composite" && len(parts) == 1:
		if method != http.MethodPost {
			return notAllowed("POST")
		}
		return s.composite(c, body)
	case parts[0] == "composite" && len(parts) == 2 && parts[1] == "batch":
		if method != http.MethodPost {
			return notAllowed("POST")
		}
		return s.compositeBatch(c, body)
	}
	return errResult(errNotFound())
}

func resourcesBody(version string) []byte {
	p := "/services/data/v" + version + "/"
	m := map[string]string{}
	for _, r := range []string{"tooling", "metadata", "eclair", "folders", "prechatForms", "contact-tracing", "jsonxform", "chatter", "tabs", "appMenu", "quickActions", "queryAll", "commerce", "wave", "iot", "analytics", "search", "identity", "composite", "parameterizedSearch", "fingerprint", "theme", "nouns", "event", "serviceTemplates", "recent", "connect", "licensing", "limits", "process", "async-queries", "query", "match", "emailConnect", "compactLayouts", "knowledgeManagement", "sobjects", "actions", "support"} {
		m[r] = p + r
	}
	m["identity"] = "https://login.salesforce.com/id/"
	return mustJSON(m)
}
