package salesforce

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
)

// DescribeResult is the part of an sObject describe the permission audit
// reads. Salesforce computes it for the running user (profile, permission
// sets, field-level security): a field the user cannot read is absent.
type DescribeResult struct {
	Name       string  `json:"name"`
	Label      string  `json:"label"`
	Queryable  bool    `json:"queryable"`
	Createable bool    `json:"createable"`
	Updateable bool    `json:"updateable"`
	Deletable  bool    `json:"deletable"`
	Fields     []Field `json:"fields"`
}

// Field is one field of a describe.
type Field struct {
	Name       string `json:"name"`
	Label      string `json:"label"`
	Type       string `json:"type"`
	Createable bool   `json:"createable"`
	Updateable bool   `json:"updateable"`
	Nillable   bool   `json:"nillable"`
}

// Field returns the field called name (exact API name), if the user can
// see it.
func (d DescribeResult) Field(name string) (Field, bool) {
	for _, f := range d.Fields {
		if f.Name == name {
			return f, true
		}
	}
	return Field{}, false
}

// DecodeDescribe decodes a describe body, e.g. a composite SubResponse.Body.
func DecodeDescribe(body []byte) (DescribeResult, error) {
	var d DescribeResult
	if err := json.Unmarshal(body, &d); err != nil {
		return DescribeResult{}, fmt.Errorf("decode describe: %w", err)
	}
	return d, nil
}

var objectNameRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]{0,79}$`)

// DescribePath is the path of GET sobjects/{object}/describe, for Do or a
// composite subrequest. It fails for names that are not sObject API names.
func (c *Client) DescribePath(object string) (string, error) {
	if !objectNameRE.MatchString(object) {
		return "", fmt.Errorf("salesforce: %q is not an sObject name", object)
	}
	return c.DataPath("sobjects/" + object + "/describe"), nil
}

// Describe returns the describe of object for the connected user. Errors:
// *APIError (404 NOT_FOUND or 400 INVALID_TYPE when the user cannot see the
// object; see IsNotFound, IsInvalidType).
func (c *Client) Describe(ctx context.Context, object string) (DescribeResult, error) {
	path, err := c.DescribePath(object)
	if err != nil {
		return DescribeResult{}, err
	}
	var d DescribeResult
	if err := c.send(ctx, request{method: http.MethodGet, path: path}, &d); err != nil {
		return DescribeResult{}, fmt.Errorf("describe %s: %w", object, err)
	}
	return d, nil
}
