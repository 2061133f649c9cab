// Command qr-verify is the Lambda that checks scanned codes and publishes
// the trust list. Built with lambda.norpc and tuned for cold start: it links
// no AWS SDK package and registers no shutdown hook (see make bench).
package main

import (
	"github.com/citycode/citycode/shared/lambdahttp"
	"github.com/citycode/citycode/shared/qrverify"
)

func main() { lambdahttp.MainWithoutShutdownHook(qrverify.New) }
