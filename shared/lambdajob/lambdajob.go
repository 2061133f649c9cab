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
	Run(func(ctx context.Context, env app.Env) (any, error) { return job(ctx, env) })
}

// Run builds a Lambda handler with build and starts the runtime loop, with
// JSON logs and SIGTERM handling; a failed build ends the process.
func Run(build func(context.Context, app.Env) (any, error)) {
	ctx := context.Background()
	slog.SetDefault(logging.New(os.Stdout, os.Getenv("LOG_LEVEL")))
	h, err := build(ctx, os.Getenv)
	if err != nil {
		slog.Error("init failed", "error", fmt.Errorf("build handler: %w", err))
		os.Exit(1)
	}
	lambda.StartWithOptions(h, lambda.WithContext(ctx), lambda.WithEnableSIGTERM(func() {
		slog.Info("shutting down")
	}))
}
