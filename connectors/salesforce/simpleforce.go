package salesforce

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/simpleforce/simpleforce"
)

// simpleforce (acf4ac6) is used for SOQL paging only, behind these guards
// (shared/reference/salesforce.md §6.3):
//
//   - No context, no headers, no refresh: a guardTransport per query binds
//     the caller's context, sets the bearer token and Sforce-Query-Options,
//     records Sforce-Limit-Info, and on a 401 refreshes once and replays.
//   - Data race on shared clients (makeURL writes apiVersion): one
//     *simpleforce.Client per Query call, never shared.
//   - It logs URLs with the full SOQL and failed bodies to the global log
//     package, and panics on an empty error array: the transport never lets
//     a failure reach it. A non-2xx answer or a transport error is captured
//     (status and body decoded into *APIError) and simpleforce is handed an
//     empty, done result instead, so it neither logs nor parses errors; the
//     pager then returns the captured error. The global logger is never
//     touched.
//   - A recover around each simpleforce call turns any panic that still
//     happens into an error.
//   - Bodies are read fully inside the transport, so a connection dropped
//     mid-body is also captured rather than surfacing inside simpleforce.

// guardHeader marks the stand-in answer handed to simpleforce.
const guardHeader = "X-Tether-Guard"

var emptyResult = []byte(`{"totalSize":0,"done":true,"records":[]}`)

type guardTransport struct {
	ctx   context.Context
	c     *Client
	token string
	// passFailures hands failures to simpleforce unchanged instead of the
	// stand-in answer; only tests set it, to show what the guard prevents.
	passFailures bool

	// captured is the failure of the last round trip, nil after a success.
	captured error
}

func (t *guardTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	t.captured = nil
	status, header, body, err := t.exchange(req, t.token)
	if err == nil && status == http.StatusUnauthorized && t.c.refresh != nil {
		s, rerr := t.c.refresh(t.ctx)
		if rerr != nil {
			err = fmt.Errorf("refresh after 401: %w", rerr)
		} else {
			if s.InstanceURL != "" {
				old := t.c.InstanceURL()
				t.c.setInstance(s.InstanceURL)
				req = rebase(req, old, t.c.InstanceURL())
			}
			t.token = s.AccessToken
			status, header, body, err = t.exchange(req, t.token) // replay once
		}
	}
	switch {
	case err != nil:
		t.captured = err
	case status < 200 || status > 299:
		t.captured = decodeAPIError(status, body)
	default:
		return response(req, status, header, body), nil
	}
	if t.passFailures {
		if err != nil {
			return nil, err
		}
		return response(req, status, header, body), nil
	}
	h := http.Header{}
	h.Set(guardHeader, "captured")
	h.Set("Content-Type", "application/json")
	return response(req, http.StatusOK, h, emptyResult), nil
}

// exchange sends req with tok under the caller's context and reads the
// whole body.
func (t *guardTransport) exchange(orig *http.Request, tok string) (int, http.Header, []byte, error) {
	req := orig.Clone(t.ctx)
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Accept", "application/json")
	req.Header.Del("Content-Type") // simpleforce sets it on GETs too
	req.Header.Set("Sforce-Query-Options", "batchSize="+strconv.Itoa(t.c.batchSize))
	resp, err := t.c.hc.Do(req)
	if err != nil {
		return 0, nil, nil, stripURL(err)
	}
	defer resp.Body.Close()
	t.c.recordUsage(resp.Header)
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return 0, nil, nil, fmt.Errorf("read response: %w", err)
	}
	return resp.StatusCode, resp.Header, body, nil
}

func response(req *http.Request, status int, h http.Header, body []byte) *http.Response {
	return &http.Response{
		Status:        strconv.Itoa(status) + " " + http.StatusText(status),
		StatusCode:    status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        h,
		Body:          io.NopCloser(bytes.NewReader(body)),
		ContentLength: int64(len(body)),
		Request:       req,
	}
}

// rebase moves req from the old instance URL to the new one.
func rebase(req *http.Request, oldBase, newBase string) *http.Request {
	u := req.URL.String()
	if !strings.HasPrefix(u, oldBase) || oldBase == newBase {
		return req
	}
	r2, err := http.NewRequestWithContext(req.Context(), req.Method, newBase+strings.TrimPrefix(u, oldBase), nil)
	if err != nil {
		return req
	}
	r2.Header = req.Header.Clone()
	return r2
}

func querySimpleforce[T any](ctx context.Context, c *Client, soql string, fn func([]T, int) error) error {
	return querySimpleforceTotal(ctx, c, soql, fn, false)
}

func querySimpleforceGuarded[T any](ctx context.Context, c *Client, soql string, fn func([]T) error, passFailures bool) error {
	return querySimpleforceTotal(ctx, c, soql, func(recs []T, _ int) error { return fn(recs) }, passFailures)
}

// querySimpleforceTotal is the pager; fn also gets the query's totalSize.
func querySimpleforceTotal[T any](ctx context.Context, c *Client, soql string, fn func([]T, int) error, passFailures bool) error {
	tok, err := c.token(ctx)
	if err != nil {
		return fmt.Errorf("query: access token: %w", err)
	}
	gt := &guardTransport{ctx: ctx, c: c, token: tok, passFailures: passFailures}
	sf := simpleforce.NewClient(c.InstanceURL(), simpleforce.DefaultClientID, c.version)
	sf.SetSidLoc(tok, c.InstanceURL())
	// No timeout here: the inner c.hc has one, and ctx bounds the rest.
	sf.SetHttpClient(&http.Client{Transport: gt, CheckRedirect: noRedirect})

	next := soql
	for n := 1; ; n++ {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("query page %d: %w", n, err)
		}
		res, err := guardedQuery(sf, next)
		if gt.captured != nil {
			return fmt.Errorf("query page %d: %w", n, gt.captured)
		}
		if err != nil {
			return fmt.Errorf("query page %d: %w", n, err)
		}
		for _, r := range res.Records {
			delete(r, "__client__") // simpleforce's back-pointer, not data
		}
		recs, err := decodeRecords[T](res.Records)
		if err != nil {
			return fmt.Errorf("query page %d: decode records: %w", n, err)
		}
		if err := fn(recs, res.TotalSize); err != nil {
			return err
		}
		if res.Done || res.NextRecordsURL == "" {
			return nil
		}
		// simpleforce follows a locator only when it starts with
		// /services/data; anything else it would send as SOQL.
		if !strings.HasPrefix(res.NextRecordsURL, "/services/data") {
			return fmt.Errorf("query page %d: not done but nextRecordsUrl %q is not a /services/data path", n, res.NextRecordsURL)
		}
		next = res.NextRecordsURL
	}
}

// guardedQuery turns a simpleforce panic (index out of range on an empty
// error array, errorHelpers.go:48) into an error.
func guardedQuery(sf *simpleforce.Client, q string) (res *simpleforce.QueryResult, err error) {
	defer func() {
		if r := recover(); r != nil {
			res, err = nil, fmt.Errorf("simpleforce panicked: %v", r)
		}
	}()
	res, err = sf.Query(q)
	if err != nil {
		// simpleforce's error text embeds the body, never the SOQL; keep
		// only its status and code.
		var se simpleforce.SalesforceError
		if errors.As(err, &se) {
			return nil, &APIError{Status: se.HttpCode, Code: se.ErrorCode, Message: se.ErrorMessage}
		}
	}
	return res, err
}

func noRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
