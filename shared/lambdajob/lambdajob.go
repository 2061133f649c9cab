// Package lambdajob is the whole of a function's main: build the handler
// once per cold start, then serve invocations. lambdahttp uses it for the API
// functions; Main serves a scheduled or stream-triggered app.Job.
package lambdajob

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/citycode/citycode/shared/app"
	"github.com/citycode/citycode/shared/logging"
)

// Main builds the job once, then serves invocations.
func Main(job app.Job) {
	Run(func(ctx context.Context, env app.Env) (any, error) { return job(ctx, env) }, true)
}

// Run builds a Lambda handler with build and starts the runtime loop with
// JSON logs; a failed build ends the process. With shutdownHook the function
// registers for SIGTERM (an extra Extensions API call before the first
// invocation) and logs its shutdown.
func Run(build func(context.Context, app.Env) (any, error), shutdownHook bool) {
	ctx := context.Background()
	slog.SetDefault(logging.New(os.Stdout, os.Getenv("LOG_LEVEL")))
	h, err := build(ctx, os.Getenv)
	if err != nil {
		slog.Error("init failed", "error", fmt.Errorf("build handler: %w", err))
		os.Exit(1)
	}
	opts := []lambda.Option{lambda.WithContext(ctx)}
	if shutdownHook {
		opts = append(opts, lambda.WithEnableSIGTERM(func() { slog.Info("shutting down") }))
	}
	lambda.StartWithOptions(h, opts...)
}
