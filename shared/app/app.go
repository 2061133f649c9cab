// Package app holds the contract between a capability and the processes that
// run it: a Lambda bootstrap in AWS, and the single local process of `make run`.
package app

import (
	"context"
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
