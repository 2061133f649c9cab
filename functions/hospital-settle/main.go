// Command hospital-settle is the Lambda for hospital visits, medical
// settlements and pharmacy sales with the code as social security card.
package main

import (
	"github.com/citycode/citycode/shared/lambdahttp"
	"github.com/citycode/citycode/shared/medical"
)

func main() { lambdahttp.Main(medical.New) }
