// Command subscriptions is the Lambda for agencies' event subscriptions:
// create, list, change, delete, secret rotation, dead letters and replay.
package main

import (
	"github.com/citycode/citycode/shared/lambdahttp"
	"github.com/citycode/citycode/shared/subscriptions"
)

func main() { lambdahttp.Main(subscriptions.New) }
