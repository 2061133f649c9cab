package localstack_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/citycode/citycode/shared/localstack"
	"github.com/citycode/citycode/shared/mototest"
	"github.com/citycode/citycode/shared/samtemplate"
)

// TestMessagingFromTheTemplate creates a template's bus, rule and queues in
// moto and checks an event put on the bus reaches the rule's queue.
func TestMessagingFromTheTemplate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	endpoint := mototest.StartMoto(t)
	tmpl, err := samtemplate.Parse([]byte(`
Resources:
  Bus:
    Type: AWS::Events::EventBus
  Deliveries:
    Type: AWS::SQS::Queue
    Properties:
      RedrivePolicy:
        deadLetterTargetArn: !GetAtt DeliveriesDLQ.Arn
        maxReceiveCount: 3
  DeliveriesDLQ:
    Type: AWS::SQS::Queue
  Everything:
    Type: AWS::Events::Rule
    Properties:
      EventBusName: !Ref Bus
      EventPattern:
        source: [{prefix: /citycode/}]
      Targets:
        - Id: deliveries
          Arn: !GetAtt Deliveries.Arn
`))
	if err != nil {
		t.Fatal(err)
	}
	cfg := mototest.Config(endpoint)
	sqsc, ebc := sqs.NewFromConfig(cfg), eventbridge.NewFromConfig(cfg)
	m, err := localstack.CreateMessaging(ctx, sqsc, ebc, tmpl, func(id string) string { return "citycode-" + id })
	if err != nil {
		t.Fatal(err)
	}
	if m.Refs["Bus"] != "citycode-Bus" || !strings.Contains(m.Refs["Deliveries"], "citycode-Deliveries") {
		t.Fatalf("refs: %v", m.Refs)
	}
	for _, src := range []string{"/citycode/holders", "/elsewhere"} {
		if _, err := ebc.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{{
			EventBusName: aws.String("citycode-Bus"), Source: aws.String(src), DetailType: aws.String("city.holder.enrolled.v1"),
			Detail: aws.String(`{"id":"e1"}`)}}}); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	var bodies []string
	for time.Now().Before(deadline) && len(bodies) < 1 {
		out, err := sqsc.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(m.Refs["Deliveries"]), MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
		if err != nil {
			t.Fatal(err)
		}
		for _, msg := range out.Messages {
			bodies = append(bodies, aws.ToString(msg.Body))
		}
	}
	var got struct {
		Source string `json:"source"`
		Detail struct {
			ID string `json:"id"`
		} `json:"detail"`
	}
	if len(bodies) != 1 || json.Unmarshal([]byte(bodies[0]), &got) != nil || got.Source != "/citycode/holders" || got.Detail.ID != "e1" {
		t.Errorf("queue got %q, want the one /citycode/ event", bodies)
	}
}
