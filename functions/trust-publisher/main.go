// Command trust-publisher is the scheduled Lambda that rotates the signing
// keys when due and signs a fresh trust list every hour.
package main

import (
	"github.com/citycode/citycode/shared/lambdajob"
	"github.com/citycode/citycode/shared/trustpublish"
)

func main() { lambdajob.Main(trustpublish.NewJob) }
