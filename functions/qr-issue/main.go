// Command qr-issue is the Lambda that signs fresh codes for residents.
package main

import (
	"github.com/citycode/citycode/shared/lambdahttp"
	"github.com/citycode/citycode/shared/qrissue"
)

func main() { lambdahttp.Main(qrissue.New) }
