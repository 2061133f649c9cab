// Command hello is the smallest aws-lambda-go function. `make bench` compares
// each function's cold init with this one's.
package main

import (
	"context"
	"encoding/json"

	"github.com/aws/aws-lambda-go/lambda"
)

func main() {
	lambda.Start(func(ctx context.Context, e json.RawMessage) (string, error) { return "hello", nil })
}
