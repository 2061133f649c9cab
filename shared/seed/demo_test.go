package seed_test

import (
	"path/filepath"
	"testing"

	"github.com/citycode/citycode/shared/localstack"
	"github.com/citycode/citycode/shared/seed"
)

// readDemo reads the repository's infra/seed/demo.json.
func readDemo(t *testing.T) seed.Demo {
	t.Helper()
	root, err := localstack.RepoRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	demo, err := seed.Read(filepath.Join(root, "infra", "seed", "demo.json"))
	if err != nil {
		t.Fatal(err)
	}
	return demo
}
