// Command webhook-delivery is the SQS-triggered Lambda that POSTs events
// to agencies' endpoints as signed webhooks, with retries, dead letters
// and replays (infra/delivery.md).
package main

import (
	"github.com/citycode/citycode/shared/lambdajob"
	"github.com/citycode/citycode/shared/webhooks"
)

func main() { lambdajob.Main(webhooks.NewJob) }
