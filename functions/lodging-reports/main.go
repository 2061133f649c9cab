// Command lodging-reports is the scheduled Lambda that counts the police
// reports past their deadline (a metric the overdue alarm watches).
package main

import (
	"github.com/citycode/citycode/shared/lambdajob"
	"github.com/citycode/citycode/shared/lodging"
)

func main() { lambdajob.Main(lodging.NewJob) }
