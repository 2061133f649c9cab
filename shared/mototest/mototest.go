// Package mototest gives a test its own moto_server (EventBridge, SQS,
// Secrets Manager, … in memory), for tests that exercise the AWS calls
// themselves rather than a stand-in.
//
// moto_server ships with the project's machines. Without it a test is
// skipped, unless CITYCODE_REQUIRE_MOTO=1, when it fails: then nothing skips
// silently in CI.
package mototest

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/citycode/citycode/shared/localstack"
)

// StartMoto runs a moto_server of t's own on a free port until t ends and
// answers its endpoint, e.g. http://127.0.0.1:41234.
func StartMoto(t testing.TB) string {
	t.Helper()
	if _, err := exec.LookPath("moto_server"); err != nil {
		if os.Getenv("CITYCODE_REQUIRE_MOTO") == "1" {
			t.Fatal("moto_server is not installed (CITYCODE_REQUIRE_MOTO=1 forbids skipping)")
		}
		t.Skip("moto_server is not installed")
	}
	// Not t.Context(): it is canceled before cleanups run, and moto must
	// outlive the test's last call.
	moto, err := localstack.StartMoto(context.Background(), localstack.Options{StartTimeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := moto.Stop(); err != nil {
			t.Logf("stop moto: %v", err)
		}
	})
	return moto.Endpoint
}

// Config is an SDK configuration aimed at endpoint, with the dummy
// credentials and the region moto accepts.
func Config(endpoint string) aws.Config {
	return aws.Config{
		Region:       localstack.Region,
		BaseEndpoint: aws.String(endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
	}
}
