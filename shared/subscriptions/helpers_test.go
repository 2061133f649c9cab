package subscriptions

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/citycode/citycode/shared/dynamotest"
)

// newDB gives t the template's tables in DynamoDB Local and the name of
// its SubscriptionsTable. Until template.yaml declares that table, the
// test creates it here, with the same keys and time to live.
func newDB(t *testing.T) (*dynamotest.Env, string) {
	t.Helper()
	db := dynamotest.New(t)
	if name, ok := db.Tables["SubscriptionsTable"]; ok {
		return db, name
	}
	name := strings.TrimSuffix(db.Tables["IdempotencyTable"], "IdempotencyTable") + "SubscriptionsTable"
	ctx := t.Context()
	_, err := db.Client.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:   aws.String(name),
		BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String("sk"), AttributeType: types.ScalarAttributeTypeS},
		},
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String("sk"), KeyType: types.KeyTypeRange},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := db.Client.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String(name)}); err != nil {
			t.Logf("delete table %s: %v", name, err)
		}
	})
	if err := dynamodb.NewTableExistsWaiter(db.Client).Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(name)}, time.Minute); err != nil {
		t.Fatal(err)
	}
	_, err = db.Client.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
		TableName:               aws.String(name),
		TimeToLiveSpecification: &types.TimeToLiveSpecification{AttributeName: aws.String("expires_at"), Enabled: aws.Bool(true)},
	})
	if err != nil {
		t.Fatal(err)
	}
	return db, name
}

// newStore is a Store on a fresh SubscriptionsTable with the embedded
// policy.
func newStore(t *testing.T) (*Store, *dynamotest.Env) {
	t.Helper()
	db, table := newDB(t)
	policy, err := LoadPolicy()
	if err != nil {
		t.Fatal(err)
	}
	return NewStore(db.Client, table, policy), db
}
