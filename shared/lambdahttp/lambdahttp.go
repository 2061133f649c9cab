// Package lambdahttp runs a capability's http.Handler behind API Gateway's
// HTTP API (payload format 2.0), through aws-lambda-go-api-proxy.
package lambdahttp

import (
	"context"

	"github.com/aws/aws-lambda-go/events"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"

	"github.com/citycode/citycode/shared/app"
	"github.com/citycode/citycode/shared/lambdajob"
)

// Handler is the Lambda handler for one function: a v2 event in, a v2
// response out. The local run calls the same function in-process.
type Handler func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error)

// Build constructs fn's handler and wraps it for API Gateway v2 events.
func Build(ctx context.Context, fn app.Function, env app.Env) (Handler, error) {
	h, err := fn(ctx, env)
	if err != nil {
		return nil, err
	}
	return httpadapter.NewV2(h).ProxyWithContext, nil
}

// Main is the whole of a function's main: build once, then serve invocations.
func Main(fn app.Function) {
	lambdajob.Run(func(ctx context.Context, env app.Env) (any, error) { return Build(ctx, fn, env) }, true)
}

// MainWithoutShutdownHook is Main for a function tuned for cold start: it
// skips the SIGTERM registration, an Extensions API round trip before the
// first invocation that measured about 2 ms of qr-verify's cold init (make
// bench). Such a function must have nothing to flush at shutdown: its logs
// are written synchronously.
func MainWithoutShutdownHook(fn app.Function) {
	lambdajob.Run(func(ctx context.Context, env app.Env) (any, error) { return Build(ctx, fn, env) }, false)
}
