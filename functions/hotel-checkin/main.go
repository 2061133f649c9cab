// Command hotel-checkin is the Lambda for hotels: check-in by the guests'
// codes, companions, check-out, and the police reports' state.
package main

import (
	"github.com/citycode/citycode/shared/lambdahttp"
	"github.com/citycode/citycode/shared/lodging"
)

func main() { lambdahttp.Main(lodging.New) }
