package salesforce

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// Query runs soql and calls fn once per page of decoded records, following
// nextRecordsUrl until Salesforce reports done. Records decode with
// encoding/json, so T's fields can use json tags; relationship fields
// arrive as nested objects (Profile.Name is {"Profile":{"Name":..}}).
//
// Pages hold up to Config.BatchSize records (Salesforce may send fewer).
// fn's error stops paging and is returned as is. Errors: *APIError,
// context errors, or a refresh failure, each wrapped with the page number;
// the SOQL text is never part of an error (it may hold names).
func Query[T any](ctx context.Context, c *Client, soql string, fn func([]T) error) error {
	return QueryTotal(ctx, c, soql, func(recs []T, _ int) error { return fn(recs) })
}

// QueryTotal is Query whose fn also receives the query's totalSize (the number of
// records over all pages), for progress reports.
func QueryTotal[T any](ctx context.Context, c *Client, soql string, fn func(recs []T, total int) error) error {
	if c.pager == PagerREST {
		return queryREST(ctx, c, soql, fn)
	}
	return querySimpleforce(ctx, c, soql, fn)
}

// QueryPath returns the path of a GET query for soql, as used by the REST
// pager and by composite subrequests.
func (c *Client) QueryPath(soql string) string {
	return c.DataPath("query") + "?q=" + url.QueryEscape(soql)
}

// queryURILen is the length of the full GET URI for soql, which is what
// Salesforce's 16 KB limit measures.
func (c *Client) queryURILen(soql string) int {
	return len(c.InstanceURL()) + len(c.QueryPath(soql))
}

type queryPage[T any] struct {
	TotalSize      int    `json:"totalSize"`
	Done           bool   `json:"done"`
	NextRecordsURL string `json:"nextRecordsUrl"`
	Records        []T    `json:"records"`
}

func queryREST[T any](ctx context.Context, c *Client, soql string, fn func([]T, int) error) error {
	path := c.QueryPath(soql)
	for n := 1; path != ""; n++ {
		var p queryPage[T]
		if err := c.send(ctx, request{method: http.MethodGet, path: path, query: true}, &p); err != nil {
			return fmt.Errorf("query page %d: %w", n, err)
		}
		if err := fn(p.Records, p.TotalSize); err != nil {
			return err
		}
		path = ""
		if !p.Done {
			if !strings.HasPrefix(p.NextRecordsURL, "/services/data/") {
				return fmt.Errorf("query page %d: not done but nextRecordsUrl %q is not a /services/data path", n, p.NextRecordsURL)
			}
			path = p.NextRecordsURL
		}
	}
	return nil
}

// decodeRecords turns generic records into T through JSON.
func decodeRecords[T any](recs any) ([]T, error) {
	b, err := json.Marshal(recs)
	if err != nil {
		return nil, err
	}
	var out []T
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, err
	}
	return out, nil
}
