// Package registry names the capability behind each function of template.yaml.
// The local run and the bootstrap tests use it to find a template function's
// code; a test checks that it and the template list the same functions.
package registry

import (
	"github.com/citycode/citycode/shared/app"
	"github.com/citycode/citycode/shared/holders"
)

// Functions maps a template function's logical id to its capability.
var Functions = map[string]app.Function{
	"HoldersFunction": holders.New,
}
