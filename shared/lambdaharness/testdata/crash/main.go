// Command crash fails its init the way a runtime reports it, then exits 3.
package main

import (
	"fmt"
	"net/http"
	"os"
	"strings"
)

func main() {
	fmt.Fprintln(os.Stderr, "crash: TABLE_NAME is not set")
	url := "http://" + os.Getenv("AWS_LAMBDA_RUNTIME_API") + "/2018-06-01/runtime/init/error"
	body := `{"errorType":"ConfigError","errorMessage":"TABLE_NAME is not set"}`
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err == nil {
		req.Header.Set("Lambda-Runtime-Function-Error-Type", "Runtime.ConfigError")
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}
	os.Exit(3)
}
