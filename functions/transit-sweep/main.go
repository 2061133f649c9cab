// Command transit-sweep is the scheduled Lambda that closes metro trips
// left open past the tap-out limit, at the maximum fare, charged once.
package main

import (
	"github.com/citycode/citycode/shared/lambdajob"
	"github.com/citycode/citycode/shared/transit"
)

func main() { lambdajob.Main(transit.NewSweepJob) }
