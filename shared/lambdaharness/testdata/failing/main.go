// Command failing is a function whose every invocation fails.
package main

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/aws/aws-lambda-go/lambda"
)

type insufficientFunds struct{ balanceFen int }

func (e insufficientFunds) Error() string {
	return fmt.Sprintf("balance %d fen is too low", e.balanceFen)
}

func main() {
	lambda.Start(func(ctx context.Context, e json.RawMessage) (string, error) {
		return "", insufficientFunds{balanceFen: 42}
	})
}
