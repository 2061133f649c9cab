package lambdaharness_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/citycode/citycode/shared/lambdaharness"
)

// build compiles pkg into the test's temporary directory.
func build(t *testing.T, pkg string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	bin, err := lambdaharness.Build(ctx, pkg, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// start runs opts and closes it when the test ends, logging the function's
// output if the test failed.
func start(t *testing.T, opts lambdaharness.Options) *lambdaharness.Harness {
	t.Helper()
	h, err := lambdaharness.Start(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := h.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		if t.Failed() {
			t.Logf("function stdout:\n%s\nfunction stderr:\n%s", h.Stdout(), h.Stderr())
		}
	})
	return h
}

func timeout(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

func TestHello(t *testing.T) {
	t.Parallel()
	h := start(t, lambdaharness.Options{Binary: build(t, "github.com/citycode/citycode/scripts/hello")})
	ctx := timeout(t, 10*time.Second)
	if err := h.Ready(ctx); err != nil {
		t.Fatalf("Ready: %v", err)
	}
	if d := h.InitDuration(); d <= 0 || d > 5*time.Second {
		t.Errorf("InitDuration() = %v, want within (0, 5s]", d)
	}
	for i := range 5 {
		got, err := h.Invoke(ctx, []byte(`{"n":1}`))
		if err != nil {
			t.Fatalf("Invoke #%d: %v", i, err)
		}
		if diff := cmp.Diff(`"hello"`, string(got)); diff != "" {
			t.Errorf("Invoke #%d (-want +got):\n%s", i, diff)
		}
	}
}

func TestMeasure(t *testing.T) {
	t.Parallel()
	opts := lambdaharness.Options{Binary: build(t, "github.com/citycode/citycode/scripts/hello")}
	got, err := lambdaharness.Measure(timeout(t, 10*time.Second), opts, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("Measure gave %d durations, want 3", len(got))
	}
	for i, d := range got {
		if d <= 0 || d > 5*time.Second {
			t.Errorf("duration #%d = %v, want within (0, 5s]", i, d)
		}
	}
}

type echoed struct {
	Event       json.RawMessage `json:"event"`
	RequestID   string          `json:"request_id"`
	FunctionARN string          `json:"function_arn"`
	DeadlineMs  int64           `json:"deadline_in_ms"`
	Env         []string        `json:"env"`
}

func TestEcho(t *testing.T) {
	t.Parallel()
	bin := build(t, "./testdata/echo")
	h := start(t, lambdaharness.Options{
		Binary:        bin,
		Timeout:       2 * time.Second,
		ShutdownGrace: 200 * time.Millisecond,
		Env: map[string]string{
			"AWS_LAMBDA_FUNCTION_NAME":       "EchoFunction",
			"AWS_REGION":                     "cn-north-1",
			"AWS_LAMBDA_INITIALIZATION_TYPE": "provisioned-concurrency",
			"TABLE_NAME":                     "holders",
			"AWS_LAMBDA_RUNTIME_API":         "ignored:1",
		},
	})
	ctx := timeout(t, 10*time.Second)

	var ids []string
	for _, event := range []string{`{"a":1}`, `["x",{"y":null}]`, `"s"`} {
		raw, err := h.Invoke(ctx, []byte(event))
		if err != nil {
			t.Fatalf("Invoke(%s): %v", event, err)
		}
		var got echoed
		if err := json.Unmarshal(raw, &got); err != nil {
			t.Fatalf("answer %s: %v", raw, err)
		}
		if diff := cmp.Diff(event, string(got.Event)); diff != "" {
			t.Errorf("event (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff("arn:aws:lambda:cn-north-1:123456789012:function:EchoFunction", got.FunctionARN); diff != "" {
			t.Errorf("function ARN (-want +got):\n%s", diff)
		}
		if got.DeadlineMs <= 0 || got.DeadlineMs > 2000 {
			t.Errorf("deadline in %d ms, want within (0, 2000]", got.DeadlineMs)
		}
		if got.RequestID == "" || slices.Contains(ids, got.RequestID) {
			t.Errorf("request id %q is empty or reused (earlier: %v)", got.RequestID, ids)
		}
		ids = append(ids, got.RequestID)

		env := map[string]string{}
		for _, kv := range got.Env {
			k, v, _ := strings.Cut(kv, "=")
			env[k] = v
		}
		want := map[string]string{
			"_HANDLER":                        "bootstrap",
			"AWS_LAMBDA_FUNCTION_NAME":        "EchoFunction",
			"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
			"AWS_LAMBDA_FUNCTION_VERSION":     "$LATEST",
			"AWS_LAMBDA_INITIALIZATION_TYPE":  "provisioned-concurrency",
			"AWS_LAMBDA_LOG_GROUP_NAME":       "/aws/lambda/EchoFunction",
			"AWS_LAMBDA_LOG_STREAM_NAME":      env["AWS_LAMBDA_LOG_STREAM_NAME"],
			"AWS_LAMBDA_RUNTIME_API":          env["AWS_LAMBDA_RUNTIME_API"],
			"AWS_REGION":                      "cn-north-1",
			"AWS_DEFAULT_REGION":              "us-east-1",
			"LAMBDA_TASK_ROOT":                strings.TrimSuffix(bin, "/bootstrap"),
			"TZ":                              ":UTC",
			"TABLE_NAME":                      "holders",
			"_X_AMZN_TRACE_ID":                env["_X_AMZN_TRACE_ID"], // set by aws-lambda-go per invocation
		}
		for _, k := range []string{"PATH", "HOME"} {
			if v, ok := os.LookupEnv(k); ok {
				want[k] = v
			}
		}
		if diff := cmp.Diff(want, env); diff != "" {
			t.Errorf("environment (-want +got):\n%s", diff)
		}
		if !strings.HasPrefix(env["_X_AMZN_TRACE_ID"], "Root=1-") {
			t.Errorf("_X_AMZN_TRACE_ID = %q, want an X-Ray trace header", env["_X_AMZN_TRACE_ID"])
		}
		if !strings.HasPrefix(env["AWS_LAMBDA_RUNTIME_API"], "127.0.0.1:") {
			t.Errorf("AWS_LAMBDA_RUNTIME_API = %q, want the harness's 127.0.0.1 address", env["AWS_LAMBDA_RUNTIME_API"])
		}
	}

	if _, err := h.Invoke(ctx, []byte(`{not json`)); err == nil {
		t.Error("Invoke with an invalid JSON event succeeded")
	}

	// The function registered for SIGTERM through the Extensions API: Close
	// signals it, then kills it after the grace, since its handler does not exit.
	began := time.Now()
	if err := h.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if took := time.Since(began); took > 2*time.Second {
		t.Errorf("Close took %v, want about the 200ms grace", took)
	}
	if !strings.Contains(h.Stdout(), "echo: SIGTERM") {
		t.Error("the function did not see SIGTERM")
	}
	if strings.Contains(h.Stderr(), "WARNING") {
		t.Error("the function could not register its SIGTERM extension")
	}
	var exit *lambdaharness.ExitError
	if _, err := h.Invoke(ctx, []byte(`{}`)); !errors.As(err, &exit) {
		t.Errorf("Invoke after Close: %v, want an *ExitError", err)
	}
}

func TestFunctionError(t *testing.T) {
	t.Parallel()
	h := start(t, lambdaharness.Options{Binary: build(t, "./testdata/failing")})
	ctx := timeout(t, 10*time.Second)
	want := &lambdaharness.FunctionError{Type: "insufficientFunds", Message: "balance 42 fen is too low"}
	for i := range 2 { // the process lives on after a function error
		got, err := h.Invoke(ctx, []byte(`{}`))
		var fe *lambdaharness.FunctionError
		if !errors.As(err, &fe) {
			t.Fatalf("Invoke #%d = %s, %v; want a *FunctionError", i, got, err)
		}
		if diff := cmp.Diff(want, fe); diff != "" {
			t.Errorf("Invoke #%d error (-want +got):\n%s", i, diff)
		}
	}
}

func TestDeadline(t *testing.T) {
	t.Parallel()
	h := start(t, lambdaharness.Options{
		Binary:        build(t, "./testdata/echo"),
		Timeout:       300 * time.Millisecond,
		ShutdownGrace: 100 * time.Millisecond,
	})
	_, err := h.Invoke(timeout(t, 10*time.Second), []byte(`{"wait":true}`))
	var fe *lambdaharness.FunctionError
	if !errors.As(err, &fe) {
		t.Fatalf("Invoke: %v, want a *FunctionError", err)
	}
	want := &lambdaharness.FunctionError{Type: "deadlineExceededError", Message: "context deadline exceeded"}
	if diff := cmp.Diff(want, fe); diff != "" {
		t.Errorf("error (-want +got):\n%s", diff)
	}
}

func TestInvokeRespectsContext(t *testing.T) {
	t.Parallel()
	h := start(t, lambdaharness.Options{
		Binary:        build(t, "./testdata/echo"),
		Timeout:       time.Minute,
		ShutdownGrace: 100 * time.Millisecond,
	})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	time.AfterFunc(300*time.Millisecond, cancel)
	began := time.Now()
	_, err := h.Invoke(ctx, []byte(`{"wait":true}`))
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Invoke: %v, want context.Canceled", err)
	}
	if took := time.Since(began); took > 5*time.Second {
		t.Errorf("Invoke returned after %v, want soon after its context ended", took)
	}
}

func TestCrashAtInit(t *testing.T) {
	t.Parallel()
	h := start(t, lambdaharness.Options{Binary: build(t, "./testdata/crash")})
	ctx := timeout(t, 10*time.Second)
	began := time.Now()
	_, err := h.Invoke(ctx, []byte(`{}`))
	if took := time.Since(began); took > 5*time.Second {
		t.Errorf("Invoke returned after %v, want quickly", took)
	}
	var exit *lambdaharness.ExitError
	if !errors.As(err, &exit) {
		t.Fatalf("Invoke: %v, want an *ExitError", err)
	}
	var status *exec.ExitError
	if !errors.As(err, &status) || status.ExitCode() != 3 {
		t.Errorf("Invoke: %v, want exit status 3", err)
	}
	wantInit := &lambdaharness.FunctionError{Type: "ConfigError", Message: "TABLE_NAME is not set"}
	if diff := cmp.Diff(wantInit, exit.Init); diff != "" {
		t.Errorf("init error (-want +got):\n%s", diff)
	}
	if !strings.Contains(err.Error(), "crash: TABLE_NAME is not set") {
		t.Errorf("error %q does not carry the function's stderr", err)
	}
	if err := h.Ready(ctx); !errors.As(err, &exit) {
		t.Errorf("Ready: %v, want an *ExitError", err)
	}
	if d := h.InitDuration(); d != 0 {
		t.Errorf("InitDuration() = %v, want 0 for a function that never finished init", d)
	}
}
