// Command withdynamo runs a command with DynamoDB Local beside it:
//
//	go run ./scripts/cmd/withdynamo -- go test ./...
//
// It installs and starts DynamoDB Local once on a free port, runs the command
// with DYNAMODB_ENDPOINT and CITYCODE_REQUIRE_DYNAMODB=1 in its environment
// (so integration tests run instead of skipping), stops DynamoDB Local, and
// exits with the command's exit code.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"

	"github.com/citycode/citycode/shared/localstack"
)

func main() {
	code, err := realMain(context.Background(), os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "withdynamo:", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

func realMain(ctx context.Context, args []string) (int, error) {
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	}
	if len(args) == 0 {
		return 2, errors.New("usage: withdynamo -- COMMAND [ARG...]")
	}
	root, err := localstack.RepoRoot(".")
	if err != nil {
		return 1, err
	}
	// Signals go to the command, which decides when to stop; DynamoDB Local
	// is stopped once it has.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)

	code := 0
	err = localstack.RunWithDynamoDB(ctx, root, os.Stderr, func(ctx context.Context, endpoint string) error {
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
		cmd.Env = append(os.Environ(), "DYNAMODB_ENDPOINT="+endpoint, "CITYCODE_REQUIRE_DYNAMODB=1")
		if err := cmd.Start(); err != nil {
			return fmt.Errorf("start %s: %w", args[0], err)
		}
		done := make(chan struct{})
		defer close(done)
		go func() {
			for {
				select {
				case sig := <-sigs:
					_ = cmd.Process.Signal(sig)
				case <-done:
					return
				}
			}
		}()
		var exit *exec.ExitError
		switch err := cmd.Wait(); {
		case errors.As(err, &exit):
			code = exit.ExitCode()
			if code < 0 { // killed by a signal
				code = 1
			}
		case err != nil:
			return fmt.Errorf("run %s: %w", args[0], err)
		}
		return nil
	})
	return code, err
}
