// Command transit-fare is the Lambda for gates' taps (online and in
// batches), trips, fares and residents' trip history.
package main

import (
	"github.com/citycode/citycode/shared/lambdahttp"
	"github.com/citycode/citycode/shared/transit"
)

func main() { lambdahttp.Main(transit.New) }
