// Command holders is the Lambda for residents' enrollment, dependants,
// account and access log.
package main

import (
	"github.com/citycode/citycode/shared/holders"
	"github.com/citycode/citycode/shared/lambdahttp"
)

func main() { lambdahttp.Main(holders.New) }
