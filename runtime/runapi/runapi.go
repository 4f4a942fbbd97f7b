// Package runapi is the executor's campaign run API as both sides see it:
// the bodies of POST /v1/runs:batch and GET /v1/campaigns/{campaign}, and
// a client for them, which the operator's Campaign controller uses. The
// executor (runtime/executor) serves it.
//
// It must not import the executor, the store, the flow engine or the
// controllers: both the executor and the operator import it.
package runapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// MaxBatchRuns bounds the runs of one batch request, and MaxBatchBody its
// body.
const (
	MaxBatchRuns = 1000
	MaxBatchBody = 4 << 20
)

// BatchRequest is the body of POST /v1/runs:batch.
type BatchRequest struct {
	// Campaign identifies the campaign (the Campaign's uid): with the
	// contact, it is the idempotency key of each run.
	Campaign string `json:"campaign"`
	// DiscardAfter is a duration ("1h"): a run not started by then is
	// dropped and counted failed.
	DiscardAfter string `json:"discardAfter,omitempty"`
	Runs         []Run  `json:"runs"`
}

// Run is one contact of a batch.
type Run struct {
	Contact   Contact           `json:"contact"`
	Variables map[string]string `json:"variables,omitempty"`
}

// Contact is who a run talks to.
type Contact struct {
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
}

// Result is the outcome of one run of a batch.
type Result struct {
	// Status is Started, Duplicate, Invalid or Unavailable.
	Status string `json:"status"`
	Error  string `json:"error,omitempty"`
}

// Batch statuses.
const (
	// Started: the run is queued now.
	Started = "started"
	// Duplicate: the campaign handed this contact over before; it is not
	// started again.
	Duplicate = "duplicate"
	// Invalid: the run can never start (Error says why).
	Invalid = "invalid"
	// Unavailable: the session store failed; hand the contact over again.
	Unavailable = "unavailable"
)

// BatchResponse is the answer to POST /v1/runs:batch: one result per run,
// in order, and the campaign's counts after the batch.
type BatchResponse struct {
	Results []Result `json:"results"`
	Counts  Counts   `json:"counts"`
}

// Counts are a campaign's contacts by how far their runs went: accepted
// (queued, and every later state), started, done, failed.
type Counts struct {
	Accepted int64 `json:"accepted"`
	Started  int64 `json:"started"`
	Done     int64 `json:"done"`
	Failed   int64 `json:"failed"`
}

// Client calls an executor's run API.
type Client struct {
	// BaseURL of the executor (its Service), e.g. http://shop-executor.ns.svc.
	BaseURL string
	// Token is the flow's runToken.
	Token string
	// HTTP is the client; http.DefaultClient when nil.
	HTTP *http.Client
}

// StatusError is an answer other than success.
type StatusError struct {
	Code int
	Body string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("the executor answered %d: %s", e.Code, strings.TrimSpace(e.Body))
}

// IsUnauthorized reports whether err is the executor refusing the token.
func IsUnauthorized(err error) bool {
	var se *StatusError
	return errors.As(err, &se) && (se.Code == http.StatusUnauthorized || se.Code == http.StatusForbidden)
}

// Batch posts a batch of runs.
func (c *Client) Batch(ctx context.Context, req *BatchRequest) (*BatchResponse, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	var out BatchResponse
	if err := c.do(ctx, http.MethodPost, "/v1/runs:batch", body, &out); err != nil {
		return nil, err
	}
	if len(out.Results) != len(req.Runs) {
		return nil, fmt.Errorf("the executor answered %d results for %d runs", len(out.Results), len(req.Runs))
	}
	return &out, nil
}

// Counts reads a campaign's counts.
func (c *Client) Counts(ctx context.Context, campaign string) (Counts, error) {
	var out Counts
	err := c.do(ctx, http.MethodGet, "/v1/campaigns/"+url.PathEscape(campaign), nil, &out)
	return out, err
}

func (c *Client) do(ctx context.Context, method, path string, body []byte, out any) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(c.BaseURL, "/")+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.Token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return &StatusError{Code: resp.StatusCode, Body: string(data[:min(len(data), 512)])}
	}
	return json.Unmarshal(data, out)
}
