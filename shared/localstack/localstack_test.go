package localstack_test

import (
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/go-cmp/cmp"

	"github.com/citycode/citycode/shared/app"
	"github.com/citycode/citycode/shared/awsclient"
	"github.com/citycode/citycode/shared/localstack"
	"github.com/citycode/citycode/shared/samtemplate"
)

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := localstack.RepoRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

func TestRepoRoot(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Errorf("RepoRoot(.) = %s, which has no go.mod: %v", root, err)
	}
	if _, err := localstack.RepoRoot(t.TempDir()); err == nil {
		t.Error("RepoRoot(temp dir) found a go.mod")
	}
}

const tablesTemplate = `
Resources:
  Things:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions:
        - {AttributeName: pk, AttributeType: S}
        - {AttributeName: sk, AttributeType: S}
        - {AttributeName: g, AttributeType: S}
      KeySchema:
        - {AttributeName: pk, KeyType: HASH}
        - {AttributeName: sk, KeyType: RANGE}
      GlobalSecondaryIndexes:
        - IndexName: by-g
          KeySchema: [{AttributeName: g, KeyType: HASH}]
          Projection: {ProjectionType: ALL}
      StreamSpecification: {StreamViewType: NEW_IMAGE}
      TimeToLiveSpecification: {AttributeName: expires_at, Enabled: true}
`

// TestDynamoDBLocal starts DynamoDB Local, creates a template's tables in
// it, and stops it.
func TestDynamoDBLocal(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	root := repoRoot(t)
	if err := localstack.EnsureInstalled(ctx, root); err != nil {
		t.Fatal(err)
	}
	ddb, err := localstack.StartDynamoDB(ctx, localstack.Options{RepoRoot: root, Stderr: t.Output()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := ddb.Stop(); err != nil {
			t.Error(err)
		}
	})

	env := app.Env(func(k string) string { return map[string]string{"DYNAMODB_ENDPOINT": ddb.Endpoint}[k] })
	cfg, err := awsclient.Config(ctx, env)
	if err != nil {
		t.Fatal(err)
	}
	client := awsclient.DynamoDB(cfg, env)
	tmpl, err := samtemplate.Parse([]byte(tablesTemplate))
	if err != nil {
		t.Fatal(err)
	}
	if err := localstack.CreateTables(ctx, client, tmpl, func(id string) string { return "local-" + id }); err != nil {
		t.Fatal(err)
	}
	desc, err := client.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String("local-Things")})
	if err != nil {
		t.Fatal(err)
	}
	got := struct {
		Status types.TableStatus
		Index  string
		Stream bool
	}{desc.Table.TableStatus, aws.ToString(desc.Table.GlobalSecondaryIndexes[0].IndexName), aws.ToBool(desc.Table.StreamSpecification.StreamEnabled)}
	want := struct {
		Status types.TableStatus
		Index  string
		Stream bool
	}{types.TableStatusActive, "by-g", true}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("table (-want +got):\n%s", diff)
	}
	ttl, err := client.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: aws.String("local-Things")})
	if err != nil {
		t.Fatal(err)
	}
	if d := ttl.TimeToLiveDescription; aws.ToString(d.AttributeName) != "expires_at" || d.TimeToLiveStatus != types.TimeToLiveStatusEnabled {
		t.Errorf("time to live = %s %s, want expires_at ENABLED", aws.ToString(d.AttributeName), d.TimeToLiveStatus)
	}
	if err := localstack.CreateTables(ctx, client, tmpl, func(id string) string { return "local-" + id }); err == nil {
		t.Error("creating the same tables twice succeeded")
	}

	if err := ddb.Stop(); err != nil {
		t.Fatal(err)
	}
	if resp, err := http.Get(ddb.Endpoint); err == nil {
		resp.Body.Close()
		t.Errorf("%s still answers after Stop", ddb.Endpoint)
	}
	if err := ddb.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}

func TestStartDynamoDBPortTaken(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	root := repoRoot(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	_, err = localstack.StartDynamoDB(ctx, localstack.Options{RepoRoot: root, Port: port})
	if err == nil || !strings.Contains(err.Error(), strconv.Itoa(port)) {
		t.Errorf("StartDynamoDB on a taken port: %v, want an error naming port %d", err, port)
	}
}
