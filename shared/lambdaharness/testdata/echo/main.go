// Command echo answers what it was invoked with: the event, the invocation's
// context and its environment. With {"wait": true} it waits for its deadline.
// Like the project's functions, it registers for SIGTERM.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

type answer struct {
	Event       json.RawMessage `json:"event"`
	RequestID   string          `json:"request_id"`
	FunctionARN string          `json:"function_arn"`
	DeadlineMs  int64           `json:"deadline_in_ms"`
	Env         []string        `json:"env"`
}

func main() {
	handler := func(ctx context.Context, e json.RawMessage) (answer, error) {
		var in struct{ Wait bool }
		_ = json.Unmarshal(e, &in)
		if in.Wait {
			<-ctx.Done()
			return answer{}, ctx.Err()
		}
		lc, _ := lambdacontext.FromContext(ctx)
		deadline, _ := ctx.Deadline()
		return answer{
			Event:       e,
			RequestID:   lc.AwsRequestID,
			FunctionARN: lc.InvokedFunctionArn,
			DeadlineMs:  time.Until(deadline).Milliseconds(),
			Env:         os.Environ(),
		}, nil
	}
	lambda.StartWithOptions(handler, lambda.WithEnableSIGTERM(func() { fmt.Println("echo: SIGTERM") }))
}
