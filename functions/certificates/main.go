// Command certificates is the Lambda for electronic certificates:
// categories, issuing, the holder's view and signed documents, and lookups
// with the holder's consent.
package main

import (
	"github.com/citycode/citycode/shared/certificates"
	"github.com/citycode/citycode/shared/lambdahttp"
)

func main() { lambdahttp.Main(certificates.New) }
