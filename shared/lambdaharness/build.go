package lambdaharness

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
)

// Build compiles the Go package pkg (an import path, or a directory starting
// with ./ relative to the working directory) into outDir/bootstrap for the
// host's GOOS and GOARCH, with the flags of the Lambda build: CGO off, the
// lambda.norpc tag plus tags, -trimpath and -ldflags='-s -w'. It returns the
// binary's absolute path.
func Build(ctx context.Context, pkg, outDir string, tags ...string) (string, error) {
	bin, err := filepath.Abs(filepath.Join(outDir, "bootstrap"))
	if err != nil {
		return "", fmt.Errorf("lambdaharness: output path: %w", err)
	}
	cmd := exec.CommandContext(ctx, "go", "build",
		"-tags", strings.Join(append([]string{"lambda.norpc"}, tags...), ","),
		"-trimpath", "-ldflags=-s -w", "-o", bin, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+runtime.GOOS, "GOARCH="+runtime.GOARCH)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("lambdaharness: go build %s: %w\n%s", pkg, err, out)
	}
	return bin, nil
}
