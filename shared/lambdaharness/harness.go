// Package lambdaharness runs a built Lambda `bootstrap` binary the way the
// Lambda service (or `sam local invoke`) does: as a child process that pulls
// invocations from a local implementation of the Lambda Runtime API
// (https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html, version
// 2018-06-01). It lets tests invoke the real binaries with sample events and
// lets the benchmark measure their cold init time.
package lambdaharness

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/google/uuid"
)

// Defaults applied by Start when Options leaves them zero.
const (
	DefaultTimeout       = 3 * time.Second        // SAM's default function timeout
	DefaultShutdownGrace = 500 * time.Millisecond // between SIGTERM and SIGKILL, as in Lambda
)

// Options says which binary to run and how.
type Options struct {
	// Binary is the path of the bootstrap executable (see Build).
	Binary string
	// Env is added to the function's environment and overrides the Lambda
	// variables the harness sets (AWS_LAMBDA_FUNCTION_NAME, AWS_REGION,
	// AWS_LAMBDA_INITIALIZATION_TYPE, …), except AWS_LAMBDA_RUNTIME_API.
	// Of the parent's environment only PATH and HOME are passed on.
	Env map[string]string
	// Timeout is the function timeout: each invocation's deadline is this far
	// ahead, or the Invoke context's deadline if that is sooner.
	Timeout time.Duration
	// ShutdownGrace is how long Close waits after SIGTERM before SIGKILL.
	ShutdownGrace time.Duration
}

// Harness is one running function process and the Runtime API it is served by.
// Its methods may be called from several goroutines; invocations are handed to
// the function one at a time, as in a Lambda execution environment.
type Harness struct {
	timeout time.Duration
	grace   time.Duration
	env     map[string]string
	srv     *http.Server
	cmd     *exec.Cmd
	stdout  *output
	stderr  *output
	started time.Time

	queue chan *invocation // unbuffered: an Invoke waits for the function's /next

	mu      sync.Mutex
	issued  map[string]*invocation // handed to the function, not yet answered
	initErr *FunctionError

	readyOnce sync.Once
	ready     chan struct{} // closed at the first /next
	initDur   time.Duration // written before ready is closed

	exited  chan struct{} // closed when the process has exited
	waitErr error         // written before exited is closed

	closeOnce sync.Once
	closeErr  error
}

type invocation struct {
	id       string
	event    []byte
	deadline time.Time
	done     chan result // buffered: the Runtime API never blocks on it
}

type result struct {
	payload []byte
	err     error
}

// FunctionError is a function's own error: what it posted to
// /invocation/{id}/error or /init/error.
type FunctionError struct {
	Type    string `json:"errorType"`
	Message string `json:"errorMessage"`
}

func (e *FunctionError) Error() string {
	return fmt.Sprintf("function error %s: %s", e.Type, e.Message)
}

// ExitError reports that the function's process exited while the harness
// still needed it: it crashed, or failed its init.
type ExitError struct {
	// Err is what waiting for the process returned (an *exec.ExitError for a
	// non-zero exit status), or nil for a clean exit.
	Err error
	// Init is what the function posted to /runtime/init/error, if anything.
	Init *FunctionError
	// Stdout and Stderr are the ends of the process's output.
	Stdout, Stderr string
}

func (e *ExitError) Error() string {
	var b bytes.Buffer
	if e.Err != nil {
		fmt.Fprintf(&b, "function process exited (%v)", e.Err)
	} else {
		b.WriteString("function process exited")
	}
	if e.Init != nil {
		fmt.Fprintf(&b, " after init error %s: %s", e.Init.Type, e.Init.Message)
	}
	if e.Stderr != "" {
		fmt.Fprintf(&b, "\nstderr:\n%s", e.Stderr)
	}
	if e.Stdout != "" {
		fmt.Fprintf(&b, "\nstdout:\n%s", e.Stdout)
	}
	return b.String()
}

func (e *ExitError) Unwrap() error { return e.Err }

// Start serves the Runtime API on a free port of 127.0.0.1 and starts
// opts.Binary against it. It returns once the process has started, without
// waiting for its init: see Ready. ctx bounds only the start; the process
// runs until Close, which the caller must call.
func Start(ctx context.Context, opts Options) (*Harness, error) {
	bin, err := filepath.Abs(opts.Binary)
	if err != nil {
		return nil, fmt.Errorf("lambdaharness: binary path: %w", err)
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("lambdaharness: listen: %w", err)
	}
	h := &Harness{
		timeout: orDefault(opts.Timeout, DefaultTimeout),
		grace:   orDefault(opts.ShutdownGrace, DefaultShutdownGrace),
		env:     environment(bin, ln.Addr().String(), opts.Env),
		stdout:  &output{},
		stderr:  &output{},
		queue:   make(chan *invocation),
		issued:  map[string]*invocation{},
		ready:   make(chan struct{}),
		exited:  make(chan struct{}),
	}
	h.cmd = exec.Command(bin)
	h.cmd.Dir = filepath.Dir(bin)
	h.cmd.Stdout = h.stdout
	h.cmd.Stderr = h.stderr
	h.cmd.WaitDelay = time.Second // do not wait for output pipes a grandchild holds
	for k, v := range h.env {
		h.cmd.Env = append(h.cmd.Env, k+"="+v)
	}
	h.started = time.Now()
	if err := h.cmd.Start(); err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("lambdaharness: start %s: %w", bin, err)
	}
	// The listener already queues the function's connections; serving starts
	// only now so that the handlers see every field set above.
	h.srv = &http.Server{Handler: h.routes(), ReadHeaderTimeout: 10 * time.Second}
	go h.srv.Serve(ln) //nolint:errcheck // always ErrServerClosed after Close
	go func() {
		h.waitErr = h.cmd.Wait()
		close(h.exited)
	}()
	return h, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// environment is the function's environment: what Lambda sets, then extra,
// then the Runtime API address.
func environment(bin, addr string, extra map[string]string) map[string]string {
	env := map[string]string{
		"_HANDLER":                        "bootstrap",
		"AWS_LAMBDA_FUNCTION_NAME":        "function",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
		"AWS_LAMBDA_FUNCTION_VERSION":     "$LATEST",
		"AWS_LAMBDA_INITIALIZATION_TYPE":  "on-demand",
		"AWS_REGION":                      "us-east-1",
		"AWS_DEFAULT_REGION":              "us-east-1",
		"LAMBDA_TASK_ROOT":                filepath.Dir(bin),
		"TZ":                              ":UTC",
	}
	for _, k := range []string{"PATH", "HOME"} {
		if v, ok := os.LookupEnv(k); ok {
			env[k] = v
		}
	}
	for k, v := range extra {
		env[k] = v
	}
	name := env["AWS_LAMBDA_FUNCTION_NAME"]
	if _, ok := extra["AWS_LAMBDA_LOG_GROUP_NAME"]; !ok {
		env["AWS_LAMBDA_LOG_GROUP_NAME"] = "/aws/lambda/" + name
	}
	if _, ok := extra["AWS_LAMBDA_LOG_STREAM_NAME"]; !ok {
		env["AWS_LAMBDA_LOG_STREAM_NAME"] = time.Now().UTC().Format("2006/01/02") + "/[$LATEST]" + uuid.NewString()
	}
	env["AWS_LAMBDA_RUNTIME_API"] = addr
	return env
}

// Ready waits until the function has finished its init, that is, asked for
// its first invocation. It fails with an *ExitError if the process exits first.
func (h *Harness) Ready(ctx context.Context) error {
	select {
	case <-h.ready:
		return nil
	default:
	}
	select {
	case <-h.ready:
		return nil
	case <-h.exited:
		return h.exitError()
	case <-ctx.Done():
		return fmt.Errorf("lambdaharness: waiting for init: %w", ctx.Err())
	}
}

// InitDuration is the cold init time: from just before the process was
// started to its first request for an invocation. It is zero until then.
func (h *Harness) InitDuration() time.Duration {
	select {
	case <-h.ready:
		return h.initDur
	default:
		return 0
	}
}

// Invoke hands event (a JSON document) to the function and returns its
// response payload. A function error is a *FunctionError; a process that
// exits before answering gives an *ExitError. If ctx ends first, Invoke
// returns its error; the function may still finish the invocation, and the
// next Invoke waits for it to.
func (h *Harness) Invoke(ctx context.Context, event []byte) ([]byte, error) {
	if !json.Valid(event) {
		return nil, errors.New("lambdaharness: the event is not valid JSON")
	}
	inv := &invocation{
		id:       uuid.NewString(),
		event:    event,
		deadline: time.Now().Add(h.timeout),
		done:     make(chan result, 1),
	}
	if d, ok := ctx.Deadline(); ok && d.Before(inv.deadline) {
		inv.deadline = d
	}
	h.mu.Lock()
	h.issued[inv.id] = inv
	h.mu.Unlock()

	select {
	case h.queue <- inv:
	case <-h.exited:
		h.forget(inv.id)
		return nil, h.exitError()
	case <-ctx.Done():
		h.forget(inv.id)
		return nil, fmt.Errorf("lambdaharness: waiting for the function to take invocation %s: %w", inv.id, ctx.Err())
	}

	select {
	case res := <-inv.done:
		return res.payload, res.err
	case <-h.exited:
		select {
		case res := <-inv.done: // answered just before exiting
			return res.payload, res.err
		default:
			return nil, h.exitError()
		}
	case <-ctx.Done():
		return nil, fmt.Errorf("lambdaharness: waiting for the answer to invocation %s: %w", inv.id, ctx.Err())
	}
}

func (h *Harness) forget(id string) {
	h.mu.Lock()
	delete(h.issued, id)
	h.mu.Unlock()
}

// Stdout is everything the function has written to its standard output.
func (h *Harness) Stdout() string { return h.stdout.String() }

// Stderr is everything the function has written to its standard error.
func (h *Harness) Stderr() string { return h.stderr.String() }

// Close stops the function, SIGTERM first and SIGKILL after the shutdown
// grace, then the Runtime API server. It is safe to call more than once.
func (h *Harness) Close() error {
	h.closeOnce.Do(func() {
		select {
		case <-h.exited:
		default:
			if err := h.cmd.Process.Signal(syscall.SIGTERM); err != nil {
				_ = h.cmd.Process.Kill()
			}
			timer := time.NewTimer(h.grace)
			select {
			case <-h.exited:
			case <-timer.C:
				_ = h.cmd.Process.Kill()
				<-h.exited
			}
			timer.Stop()
		}
		h.closeErr = h.srv.Close()
	})
	return h.closeErr
}

func (h *Harness) exitError() error {
	<-h.exited
	h.mu.Lock()
	defer h.mu.Unlock()
	return &ExitError{Err: h.waitErr, Init: h.initErr, Stdout: h.stdout.tail(), Stderr: h.stderr.tail()}
}

// Measure starts the binary n times, one after the other, and returns each
// cold init time (see InitDuration).
func Measure(ctx context.Context, opts Options, n int) ([]time.Duration, error) {
	durations := make([]time.Duration, 0, n)
	for range n {
		h, err := Start(ctx, opts)
		if err != nil {
			return nil, err
		}
		err = h.Ready(ctx)
		d := h.InitDuration()
		if cerr := h.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return nil, err
		}
		durations = append(durations, d)
	}
	return durations, nil
}

// output collects a process's stdout or stderr.
type output struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.Write(p)
}

func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.String()
}

// tail is the last few kilobytes of the output, enough for an error message.
func (o *output) tail() string {
	const max = 4 << 10
	s := o.String()
	if len(s) > max {
		return "…" + s[len(s)-max:]
	}
	return s
}
