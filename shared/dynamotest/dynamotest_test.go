package dynamotest

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

func TestNew(t *testing.T) {
	t.Parallel()
	var first *Env
	t.Run("tables", func(t *testing.T) {
		e := New(t)
		first = e
		env := e.FunctionEnv(t, "HoldersFunction")
		for _, k := range []string{"HOLDERS_TABLE", "IDEMPOTENCY_TABLE"} {
			if env[k] == "" || !strings.HasPrefix(env[k], "TestNew_tables-") {
				t.Errorf("%s = %q, want this test's table", k, env[k])
			}
		}
		if env["HOLDERS_TABLE"] != e.Tables["HoldersTable"] || env["DYNAMODB_ENDPOINT"] != e.Endpoint || len(env["DOCUMENT_KEY"]) != 64 {
			t.Errorf("FunctionEnv = %v, tables %v", env, e.Tables)
		}
		if got := e.AppEnv(t, "HoldersFunction")("HOLDERS_TABLE"); got != env["HOLDERS_TABLE"] {
			t.Errorf("AppEnv HOLDERS_TABLE = %q", got)
		}
		// The table works, and another test's tables are not these.
		other := New(t)
		if other.Tables["HoldersTable"] == e.Tables["HoldersTable"] {
			t.Errorf("two Envs share table %s", e.Tables["HoldersTable"])
		}
		item := map[string]types.AttributeValue{
			"pk": &types.AttributeValueMemberS{Value: "a"},
			"sk": &types.AttributeValueMemberS{Value: "b"},
		}
		if _, err := e.Client.PutItem(t.Context(), &dynamodb.PutItemInput{TableName: aws.String(env["HOLDERS_TABLE"]), Item: item}); err != nil {
			t.Fatal(err)
		}
		got, err := other.Client.GetItem(t.Context(), &dynamodb.GetItemInput{TableName: aws.String(other.Tables["HoldersTable"]), Key: item})
		if err != nil {
			t.Fatal(err)
		}
		if got.Item != nil {
			t.Error("an item written to one Env's table shows in another's")
		}
	})
	if first == nil {
		t.Skip("New skipped")
	}
	// Cleanup has deleted the subtest's tables.
	for _, name := range first.Tables {
		_, err := first.Client.DescribeTable(t.Context(), &dynamodb.DescribeTableInput{TableName: aws.String(name)})
		var notFound *types.ResourceNotFoundException
		if !errors.As(err, &notFound) {
			t.Errorf("table %s after cleanup: %v, want ResourceNotFoundException", name, err)
		}
	}
}

func TestTablePrefix(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, want string }{
		{"TestX", "TestX-"},
		{"TestX/sub case#01", "TestX_sub_case_01-"},
		{strings.Repeat("a", 300), strings.Repeat("a", 150) + "-"},
	}
	for _, tt := range tests {
		got := tablePrefix(tt.name)
		// The random part is 8 hex digits before the final dash.
		if len(got) != len(tt.want)+9 || !strings.HasPrefix(got, tt.want) {
			t.Errorf("tablePrefix(%q) = %q, want %q + 8 hex digits + -", tt.name, got, tt.want)
		}
	}
	if tablePrefix("T") == tablePrefix("T") {
		t.Error("two prefixes for one test name are equal")
	}
}

// recorder is a testing.TB that records Skip and Fatal and stops the
// goroutine, as the real ones do.
type recorder struct {
	testing.TB
	skipped, failed string
}

func (r *recorder) Helper() {}
func (r *recorder) Skip(args ...any) {
	r.skipped = fmt.Sprint(args...)
	runtime.Goexit()
}
func (r *recorder) Fatal(args ...any) {
	r.failed = fmt.Sprint(args...)
	runtime.Goexit()
}

func TestNewWithoutEndpoint(t *testing.T) {
	tests := []struct {
		require     string
		wantSkipped bool
	}{
		{"", true},
		{"1", false},
	}
	for _, tt := range tests {
		t.Run("require="+tt.require, func(t *testing.T) {
			t.Setenv("DYNAMODB_ENDPOINT", "")
			t.Setenv("CITYCODE_REQUIRE_DYNAMODB", tt.require)
			r := &recorder{TB: t}
			done := make(chan struct{})
			go func() {
				defer close(done)
				New(r)
			}()
			<-done
			if (r.skipped != "") != tt.wantSkipped || (r.failed != "") == tt.wantSkipped {
				t.Errorf("skipped %q, failed %q; want skipped=%v", r.skipped, r.failed, tt.wantSkipped)
			}
			if msg := r.skipped + r.failed; !strings.Contains(msg, "DYNAMODB_ENDPOINT") {
				t.Errorf("message %q does not name DYNAMODB_ENDPOINT", msg)
			}
		})
	}
}
