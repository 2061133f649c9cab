// Package functions_test runs every function of template.yaml as Lambda would:
// built as a bootstrap (lambda.norpc, stripped), started under a local Lambda
// Runtime API, and invoked with each of its sample events in events/, against
// DynamoDB Local. API answers are checked against infra/openapi.yaml; jobs
// must answer without a function error.
package functions_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/citycode/citycode/shared/apitest"
	"github.com/citycode/citycode/shared/dynamotest"
	"github.com/citycode/citycode/shared/lambdaharness"
	"github.com/citycode/citycode/shared/openapitest"
	"github.com/citycode/citycode/shared/registry"
)

func TestBootstrapsAnswerTheirSampleEvents(t *testing.T) {
	db := dynamotest.New(t)
	db.WithMessaging(t)
	secrets := apitest.Secrets(t, db)
	contract := openapitest.Load(t)
	for _, fn := range db.Template.Functions {
		t.Run(fn.LogicalID, func(t *testing.T) {
			dir := registry.Dir(fn.LogicalID)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			bin, err := lambdaharness.Build(ctx, "github.com/citycode/citycode/functions/"+dir, t.TempDir())
			if err != nil {
				t.Fatalf("build: %v", err)
			}
			env := db.FunctionEnv(t, fn.LogicalID)
			maps.Copy(env, secrets.Env)
			env["AWS_LAMBDA_FUNCTION_NAME"] = fn.LogicalID
			env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"] = "local", "local"
			h, err := lambdaharness.Start(ctx, lambdaharness.Options{Binary: bin, Env: env, Timeout: 10 * time.Second, ShutdownGrace: 10 * time.Millisecond})
			if err != nil {
				t.Fatalf("start: %v", err)
			}
			defer h.Close()
			if err := h.Ready(ctx); err != nil {
				t.Fatalf("init: %v", err)
			}
			t.Logf("%s cold init: %v", fn.LogicalID, h.InitDuration())

			for _, file := range sampleEvents(t, dir) {
				raw, err := os.ReadFile(file)
				if err != nil {
					t.Fatal(err)
				}
				out, err := h.Invoke(ctx, raw)
				if err != nil {
					t.Fatalf("%s: invoke: %v\nlogs: %s", file, err, h.Stdout())
				}
				if len(fn.Routes) == 0 {
					continue // a job: answering without a function error is the check
				}
				var resp events.APIGatewayV2HTTPResponse
				if err := json.Unmarshal(out, &resp); err != nil {
					t.Fatalf("%s: answer is not a v2 response: %v: %s", file, err, out)
				}
				if resp.StatusCode < 200 || resp.StatusCode >= 500 {
					t.Errorf("%s: status %d: %s", file, resp.StatusCode, resp.Body)
				}
				checkAgainstContract(t, contract, raw, resp)
			}
		})
	}
}

// sampleEvents lists a function's events with enrollment first, so that
// the events which read a holder find one.
func sampleEvents(t *testing.T, dir string) []string {
	files, err := filepath.Glob(filepath.Join("..", "events", dir, "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no sample events in events/%s", dir)
	}
	sort.SliceStable(files, func(i, j int) bool {
		return strings.Contains(files[i], "enroll_holder") && !strings.Contains(files[j], "enroll_holder")
	})
	return files
}

func checkAgainstContract(t *testing.T, c *openapitest.Contract, raw []byte, resp events.APIGatewayV2HTTPResponse) {
	t.Helper()
	var e events.APIGatewayV2HTTPRequest
	if err := json.Unmarshal(raw, &e); err != nil {
		t.Fatal(err)
	}
	url := "https://" + e.RequestContext.DomainName + e.RawPath
	if e.RawQueryString != "" {
		url += "?" + e.RawQueryString
	}
	req, err := http.NewRequest(e.RequestContext.HTTP.Method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range e.Headers {
		req.Header.Set(k, v)
	}
	header := http.Header{}
	for k, v := range resp.Headers {
		header.Set(k, v)
	}
	body := []byte(resp.Body)
	if resp.IsBase64Encoded {
		if body, err = base64.StdEncoding.DecodeString(resp.Body); err != nil {
			t.Fatal(err)
		}
	}
	c.CheckResponse(t, req, []byte(e.Body), resp.StatusCode, header, body)
}
