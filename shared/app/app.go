// Package app holds the contract between a capability and the processes that
// run it: a Lambda bootstrap in AWS, and the single local process of `make run`.
package app

import (
	"context"
	"encoding/json"
	"net/http"
)

// Env looks up one configuration value of one function. In Lambda it is
// os.Getenv; the local run passes the function's environment as resolved from
// template.yaml, so both read exactly the same variables.
type Env func(key string) string

// Function builds a capability's HTTP handler. It runs once per cold start:
// read configuration, build clients and stores, return the routes.
type Function func(ctx context.Context, env Env) (http.Handler, error)

// Lookup returns env(key), or def when it is empty.
func (env Env) Lookup(key, def string) string {
	if v := env(key); v != "" {
		return v
	}
	return def
}

// Job builds a function that is not an HTTP route: one triggered by a
// schedule, a DynamoDB stream or a queue. Like Function it runs once per
// cold start and returns the handler for every invocation.
type Job func(ctx context.Context, env Env) (JobHandler, error)

// JobHandler handles one invocation's event, as Lambda delivers it (a
// scheduled event, a batch of stream records, …), and answers what Lambda
// expects back (nil, or a batch-item-failures report).
type JobHandler func(ctx context.Context, event json.RawMessage) (any, error)
