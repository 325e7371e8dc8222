package salesforce

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

const (
	// DefaultAPIVersion is used when Config.APIVersion is empty.
	DefaultAPIVersion = "62.0"
	// DefaultBatchSize is the page size asked for with Sforce-Query-Options
	// (Salesforce's default and maximum; it may return smaller pages).
	DefaultBatchSize = 2000
	// DefaultURIBudget bounds a GET query URI built by INQueries. Salesforce
	// refuses URI plus headers above 16,384 bytes; half leaves room for
	// headers and proxies.
	DefaultURIBudget = 8192
	// DefaultTimeout bounds one HTTP request when Config.HTTPClient is nil.
	DefaultTimeout = 2 * time.Minute
	// maxBody caps a response body read into memory (a full Account
	// describe is ~200 kB; a 2,000-user page ~2 MB).
	maxBody = 64 << 20
)

// Pager selects how Query pages through results.
type Pager int

const (
	// PagerSimpleforce pages with a per-call simpleforce client behind a
	// guarding transport (the default).
	PagerSimpleforce Pager = iota
	// PagerREST pages with this package's own REST helper.
	PagerREST
)

// Session is what Refresh returns: a new access token and, when Salesforce
// reported one, the instance URL (it can change between refreshes).
type Session struct {
	AccessToken string
	InstanceURL string // empty: unchanged
}

// Usage is the org's API consumption from a Sforce-Limit-Info header.
type Usage struct {
	Used int // calls in the rolling 24 hours
	Max  int // the org's daily allocation
}

// Config configures a Client.
type Config struct {
	// InstanceURL is the org's instance (token response instance_url), e.g.
	// "https://acme.my.salesforce.com". Required.
	InstanceURL string
	// APIVersion like "62.0". Zero means DefaultAPIVersion.
	APIVersion string
	// HTTPClient performs requests. Nil means a client with DefaultTimeout.
	HTTPClient *http.Client
	// Token returns the current access token. Required.
	Token func(ctx context.Context) (string, error)
	// Refresh obtains a new access token after a 401. The caller persists
	// any rotated refresh token before returning. Nil means a 401 is
	// returned as is.
	Refresh func(ctx context.Context) (Session, error)
	// OnUsage receives the api-usage of every response that carries one.
	// Called synchronously; keep it cheap. Nil means ignore.
	OnUsage func(Usage)
	// BatchSize is the query page size hint, 200..2000. Zero means
	// DefaultBatchSize.
	BatchSize int
	// URIBudget is the largest GET query URI, in bytes, INQueries builds.
	// Zero means DefaultURIBudget.
	URIBudget int
	// Pager picks the SOQL paging implementation. Zero is PagerSimpleforce.
	Pager Pager
}

// Client is a Salesforce REST client for one org connection. Safe for
// concurrent use (each query gets its own simpleforce client).
type Client struct {
	hc        *http.Client
	version   string
	token     func(context.Context) (string, error)
	refresh   func(context.Context) (Session, error)
	onUsage   func(Usage)
	batchSize int
	uriBudget int
	pager     Pager

	mu       sync.Mutex
	instance string
}

// New validates cfg and returns a Client.
func New(cfg Config) (*Client, error) {
	u, err := url.Parse(cfg.InstanceURL)
	if cfg.InstanceURL == "" || err != nil || u.Scheme == "" || u.Host == "" {
		return nil, fmt.Errorf("salesforce: instance URL %q is not an absolute URL", cfg.InstanceURL)
	}
	if cfg.Token == nil {
		return nil, errors.New("salesforce: Config.Token is required")
	}
	v := strings.TrimPrefix(cmp.Or(cfg.APIVersion, DefaultAPIVersion), "v")
	if _, err := strconv.ParseFloat(v, 64); err != nil || !strings.Contains(v, ".") {
		return nil, fmt.Errorf("salesforce: API version %q is not like 62.0", cfg.APIVersion)
	}
	bs := cmp.Or(cfg.BatchSize, DefaultBatchSize)
	if bs < 200 || bs > 2000 {
		return nil, fmt.Errorf("salesforce: batch size %d is outside 200..2000", bs)
	}
	budget := cmp.Or(cfg.URIBudget, DefaultURIBudget)
	if budget < 512 || budget > 16384 {
		return nil, fmt.Errorf("salesforce: URI budget %d is outside 512..16384", budget)
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: DefaultTimeout}
	}
	return &Client{
		hc:        hc,
		version:   v,
		token:     cfg.Token,
		refresh:   cfg.Refresh,
		onUsage:   cfg.OnUsage,
		batchSize: bs,
		uriBudget: budget,
		pager:     cfg.Pager,
		instance:  strings.TrimRight(cfg.InstanceURL, "/"),
	}, nil
}

// InstanceURL is the instance URL in use (updated when Refresh reports a
// new one).
func (c *Client) InstanceURL() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.instance
}

// APIVersion is the version in use, like "62.0".
func (c *Client) APIVersion() string { return c.version }

// DataPath returns "/services/data/vXX.X/" + rel, the path form composite
// subrequests and Do expect.
func (c *Client) DataPath(rel string) string {
	return "/services/data/v" + c.version + "/" + strings.TrimLeft(rel, "/")
}

func (c *Client) setInstance(u string) {
	if u == "" {
		return
	}
	c.mu.Lock()
	c.instance = strings.TrimRight(u, "/")
	c.mu.Unlock()
}

// request is one REST call.
type request struct {
	method string
	path   string // absolute path below the instance URL, starting with "/"
	body   []byte
	query  bool // add Sforce-Query-Options
	// authFailed tells whether a response means "token no longer valid";
	// nil means status 401.
	authFailed func(*APIError) bool
}

// Do sends one REST request to path (below the instance URL, e.g.
// c.DataPath("limits")), JSON-encoding body when non-nil and decoding a 2xx
// response into out when non-nil. A 401 triggers one Refresh and one replay.
// Errors: *APIError for a non-2xx answer; wrapped context or transport
// errors otherwise; the Refresh error, wrapped, when the refresh fails.
func (c *Client) Do(ctx context.Context, method, path string, body, out any) error {
	var payload []byte
	if body != nil {
		var err error
		if payload, err = json.Marshal(body); err != nil {
			return fmt.Errorf("salesforce %s %s: encode body: %w", method, path, err)
		}
	}
	return c.send(ctx, request{method: method, path: path, body: payload}, out)
}

func (c *Client) send(ctx context.Context, r request, out any) error {
	tok, err := c.token(ctx)
	if err != nil {
		return fmt.Errorf("salesforce %s: access token: %w", r.method, err)
	}
	raw, err := c.roundTrip(ctx, r, tok)
	var ae *APIError
	if errors.As(err, &ae) && c.refresh != nil && r.isAuthFailure(ae) {
		s, rerr := c.refresh(ctx)
		if rerr != nil {
			return fmt.Errorf("salesforce %s: refresh after %d: %w", r.method, ae.Status, rerr)
		}
		c.setInstance(s.InstanceURL)
		raw, err = c.roundTrip(ctx, r, s.AccessToken) // replay once; a second 401 is returned
	}
	if err != nil {
		return err
	}
	if out != nil && len(bytes.TrimSpace(raw)) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("salesforce %s %s: decode response: %w", r.method, pathOnly(r.path), err)
		}
	}
	return nil
}

func (r request) isAuthFailure(e *APIError) bool {
	if r.authFailed != nil {
		return r.authFailed(e)
	}
	return e.Status == http.StatusUnauthorized
}

// roundTrip performs one HTTP exchange and returns the body of a 2xx answer.
func (c *Client) roundTrip(ctx context.Context, r request, tok string) ([]byte, error) {
	var rd io.Reader
	if r.body != nil {
		rd = bytes.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, c.InstanceURL()+r.path, rd)
	if err != nil {
		return nil, fmt.Errorf("salesforce %s %s: %w", r.method, pathOnly(r.path), err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Accept", "application/json")
	if r.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if r.query {
		req.Header.Set("Sforce-Query-Options", "batchSize="+strconv.Itoa(c.batchSize))
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("salesforce %s %s: %w", r.method, pathOnly(r.path), stripURL(err))
	}
	defer resp.Body.Close()
	c.recordUsage(resp.Header)
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, fmt.Errorf("salesforce %s %s: read response: %w", r.method, pathOnly(r.path), err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, decodeAPIError(resp.StatusCode, body)
	}
	return body, nil
}

func (c *Client) recordUsage(h http.Header) {
	if c.onUsage == nil {
		return
	}
	if u, ok := ParseLimitInfo(h.Get("Sforce-Limit-Info")); ok {
		c.onUsage(u)
	}
}

// pathOnly drops the query string: SOQL may hold names and emails.
func pathOnly(p string) string {
	if i := strings.IndexByte(p, '?'); i >= 0 {
		return p[:i]
	}
	return p
}

// stripURL removes the request URL (which may carry SOQL) from a transport
// error while keeping its chain for errors.Is.
func stripURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return &NoAnswerError{Op: ue.Op, Err: ue.Err}
	}
	return &NoAnswerError{Err: err}
}

// NoAnswerError is a request Salesforce never answered: refused, not resolved,
// timed out. Err is the transport's error without the request URL.
type NoAnswerError struct {
	Op  string // the HTTP method, as url.Error names it
	Err error
}

func (e *NoAnswerError) Error() string {
	if e.Op == "" {
		return e.Err.Error()
	}
	return e.Op + ": " + e.Err.Error()
}

func (e *NoAnswerError) Unwrap() error { return e.Err }

// Provider and HTTPStatus (0: no answer) let the worker say who failed without
// importing this package.
func (e *NoAnswerError) Provider() string { return "Salesforce" }
func (e *NoAnswerError) HTTPStatus() int  { return 0 }
