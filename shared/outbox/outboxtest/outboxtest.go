// Package outboxtest checks a capability's events in its tests: what the
// test wrote to its EventsTable, and each event's data against the JSON
// Schema of its type in infra/events.
package outboxtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sort"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/citycode/citycode/shared/localstack"
	"github.com/citycode/citycode/shared/outbox"
)

// Recorded returns every event in table, in recorded order. It scans:
// a test's tables are small.
func Recorded(t testing.TB, db *dynamodb.Client, table string) []outbox.Envelope {
	t.Helper()
	type row struct {
		sk string
		e  outbox.Envelope
	}
	var rows []row
	in := &dynamodb.ScanInput{
		TableName:                 aws.String(table),
		FilterExpression:          aws.String("begins_with(pk, :day)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":day": &types.AttributeValueMemberS{Value: "DAY#"}},
		ConsistentRead:            aws.Bool(true),
	}
	for {
		out, err := db.Scan(t.Context(), in)
		if err != nil {
			t.Fatalf("scan events: %v", err)
		}
		for _, it := range out.Items {
			sk, _ := it["sk"].(*types.AttributeValueMemberS)
			body, _ := it["event"].(*types.AttributeValueMemberS)
			if sk == nil || body == nil {
				t.Fatalf("malformed event item %v", it)
			}
			var e outbox.Envelope
			if err := json.Unmarshal([]byte(body.Value), &e); err != nil {
				t.Fatalf("event %s: %v", sk.Value, err)
			}
			rows = append(rows, row{sk.Value, e})
		}
		if out.LastEvaluatedKey == nil {
			break
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].sk < rows[j].sk })
	envs := make([]outbox.Envelope, len(rows))
	for i, r := range rows {
		envs[i] = r.e
	}
	return envs
}

// CheckSchema fails t unless e's data is valid for its type.
func CheckSchema(t testing.TB, e outbox.Envelope) {
	t.Helper()
	if err := Validate(e.Type, e.Data); err != nil {
		t.Errorf("event %s (%s): %v", e.ID, e.Type, err)
	}
}

// Validate checks data against infra/events/<typ>.json, asserting formats
// (date-time and the like) too.
func Validate(typ string, data []byte) error {
	root, err := localstack.RepoRoot(".")
	if err != nil {
		return err
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	schema, err := c.Compile(filepath.Join(root, "infra", "events", typ+".json"))
	if err != nil {
		return fmt.Errorf("schema of %s: %w", typ, err)
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("data of %s: %w", typ, err)
	}
	return schema.Validate(v)
}
