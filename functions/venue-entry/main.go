// Command venue-entry is the Lambda for venue gates: entry by the code
// within the daily capacity, and entry counts.
package main

import (
	"github.com/citycode/citycode/shared/lambdahttp"
	"github.com/citycode/citycode/shared/venues"
)

func main() { lambdahttp.Main(venues.New) }
