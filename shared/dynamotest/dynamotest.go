// Package dynamotest gives an integration test its own DynamoDB tables in
// DynamoDB Local, created from the project's template.yaml.
//
// The endpoint comes from DYNAMODB_ENDPOINT (`make test` starts DynamoDB
// Local and sets it, through scripts/cmd/withdynamo). Without it a test is
// skipped, unless CITYCODE_REQUIRE_DYNAMODB=1, when it fails: then nothing
// skips silently in CI.
package dynamotest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/citycode/citycode/shared/app"
	"github.com/citycode/citycode/shared/awsclient"
	"github.com/citycode/citycode/shared/localstack"
	"github.com/citycode/citycode/shared/mototest"
	"github.com/citycode/citycode/shared/samtemplate"
)

// Env is one test's DynamoDB: a client and a fresh copy of every table of
// template.yaml, deleted when the test ends.
type Env struct {
	// Client talks to DynamoDB Local.
	Client *dynamodb.Client
	// Endpoint is DynamoDB Local's URL.
	Endpoint string
	// Tables maps each table's logical id (e.g. "HoldersTable") to this
	// test's table name.
	Tables map[string]string
	// Template is the parsed template.yaml.
	Template  *samtemplate.Template
	overrides map[string]string
	// refs resolves !Ref in function environments: the tables, and the
	// queues and buses once WithMessaging made them.
	refs   map[string]string
	prefix string
	root   string
}

// New creates the tables of template.yaml under a prefix unique to t. It
// skips t (or fails it, with CITYCODE_REQUIRE_DYNAMODB=1) when
// DYNAMODB_ENDPOINT is unset.
func New(t testing.TB) *Env {
	t.Helper()
	endpoint := os.Getenv("DYNAMODB_ENDPOINT")
	if endpoint == "" {
		const msg = "DYNAMODB_ENDPOINT is not set: run `make test`, or `go run ./scripts/cmd/withdynamo -- go test ./...`"
		if os.Getenv("CITYCODE_REQUIRE_DYNAMODB") == "1" {
			t.Fatal(msg + " (CITYCODE_REQUIRE_DYNAMODB=1 forbids skipping)")
		}
		t.Skip(msg)
	}
	root, err := localstack.RepoRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	tmpl, err := samtemplate.Load(filepath.Join(root, "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}

	key := make([]byte, 32)
	_, _ = rand.Read(key)
	e := &Env{
		Endpoint: endpoint,
		Tables:   map[string]string{},
		Template: tmpl,
		overrides: map[string]string{
			"DYNAMODB_ENDPOINT": endpoint,
			"AWS_REGION":        localstack.Region,
			"DOCUMENT_KEY":      hex.EncodeToString(key),
		},
	}
	ctx := context.Background()
	cfg, err := awsclient.Config(ctx, mapEnv(e.overrides))
	if err != nil {
		t.Fatal(err)
	}
	e.Client = awsclient.DynamoDB(cfg, mapEnv(e.overrides))

	prefix := tablePrefix(t.Name())
	e.prefix, e.refs, e.root = prefix, map[string]string{}, root
	for _, tbl := range tmpl.Tables() {
		e.Tables[tbl.LogicalID] = prefix + tbl.LogicalID
		e.refs[tbl.LogicalID] = prefix + tbl.LogicalID
	}
	t.Cleanup(func() {
		// t.Context() is already canceled when cleanups run.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for _, name := range e.Tables {
			if _, err := e.Client.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String(name)}); err != nil {
				t.Logf("delete table %s: %v", name, err)
			}
		}
	})
	if err := localstack.CreateTables(ctx, e.Client, tmpl, func(id string) string { return e.Tables[id] }); err != nil {
		t.Fatal(err)
	}
	return e
}

var unsafeChars = regexp.MustCompile(`[^a-zA-Z0-9_.-]+`)

// tablePrefix makes a table-name prefix from a test name and 4 random bytes,
// short enough to stay within DynamoDB's 255 characters.
func tablePrefix(testName string) string {
	name := unsafeChars.ReplaceAllString(testName, "_")
	if len(name) > 150 {
		name = name[:150]
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return name + "-" + hex.EncodeToString(b) + "-"
}

// FunctionEnv is the environment of the template function logicalID as the
// local run gives it (localstack.FunctionEnv): its variables with tables
// resolved to this test's tables, plus DYNAMODB_ENDPOINT, AWS_REGION and
// DOCUMENT_KEY (a random key, used instead of the Secrets Manager secret).
// Data files named relative to the repository (infra/…), which Lambda finds
// beside its bootstrap and the local run in its working directory, are made
// absolute, since a test runs in its package's folder. It fails t if the
// template has no such function.
func (e *Env) FunctionEnv(t testing.TB, logicalID string) map[string]string {
	t.Helper()
	fn, ok := e.Template.Function(logicalID)
	if !ok {
		t.Fatalf("template.yaml has no function %s", logicalID)
	}
	env := localstack.FunctionEnv(e.Template, fn, e.refs, e.overrides)
	for k, v := range env {
		if strings.HasPrefix(v, "infra/") {
			env[k] = filepath.Join(e.root, v)
		}
	}
	return env
}

// WithMessaging gives the test a moto_server holding the template's SQS
// queues, EventBridge buses and rules (named with the test's prefix), and
// aims the functions' SQS and EventBridge clients at it (SQS_ENDPOINT,
// EVENTBRIDGE_ENDPOINT). Call it before FunctionEnv.
func (e *Env) WithMessaging(t testing.TB) localstack.Messaging {
	t.Helper()
	endpoint := mototest.StartMoto(t)
	cfg := mototest.Config(endpoint)
	m, err := localstack.CreateMessaging(context.Background(), sqs.NewFromConfig(cfg), eventbridge.NewFromConfig(cfg), e.Template,
		func(id string) string { return e.prefix + id })
	if err != nil {
		t.Fatal(err)
	}
	maps.Copy(e.refs, m.Refs)
	e.overrides["SQS_ENDPOINT"], e.overrides["EVENTBRIDGE_ENDPOINT"] = endpoint, endpoint
	// Tests' webhook receivers listen on 127.0.0.1.
	e.overrides["ALLOW_INSECURE_WEBHOOKS"] = "true"
	return m
}

// AppEnv is FunctionEnv as an app.Env, ready for an app.Function.
func (e *Env) AppEnv(t testing.TB, logicalID string) app.Env {
	t.Helper()
	return mapEnv(e.FunctionEnv(t, logicalID))
}

func mapEnv(m map[string]string) app.Env {
	return func(k string) string { return m[k] }
}
