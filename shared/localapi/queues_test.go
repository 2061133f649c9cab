package localapi

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/citycode/citycode/shared/app"
	"github.com/citycode/citycode/shared/localstack"
	"github.com/citycode/citycode/shared/mototest"
	"github.com/citycode/citycode/shared/samtemplate"
)

// TestQueueTriggerRedeliversReportedFailures feeds a job from a moto queue:
// every message is handled, and the one it reports failed comes back.
func TestQueueTriggerRedeliversReportedFailures(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	endpoint := mototest.StartMoto(t)
	tmpl, err := samtemplate.Parse([]byte(`
Resources:
  Work:
    Type: AWS::SQS::Queue
    Properties: {VisibilityTimeout: 1}
  WorkerFunction:
    Type: AWS::Serverless::Function
    Properties:
      Events:
        Jobs:
          Type: SQS
          Properties:
            Queue: !GetAtt Work.Arn
            FunctionResponseTypes: [ReportBatchItemFailures]
`))
	if err != nil {
		t.Fatal(err)
	}
	cfg := mototest.Config(endpoint)
	sqsc := sqs.NewFromConfig(cfg)
	m, err := localstack.CreateMessaging(ctx, sqsc, eventbridge.NewFromConfig(cfg), tmpl, func(id string) string { return id })
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	seen := map[string]int{}
	job := func(context.Context, app.Env) (app.JobHandler, error) {
		return func(_ context.Context, raw json.RawMessage) (any, error) {
			var ev events.SQSEvent
			if err := json.Unmarshal(raw, &ev); err != nil {
				return nil, err
			}
			mu.Lock()
			defer mu.Unlock()
			var resp events.SQSEventResponse
			for _, r := range ev.Records {
				seen[r.Body]++
				if r.Body == "flaky" && seen[r.Body] == 1 {
					resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: r.MessageId})
				}
			}
			return resp, nil
		}, nil
	}
	err = RunQueueTriggers(ctx, tmpl, map[string]app.Job{"WorkerFunction": job}, func(samtemplate.Function) map[string]string { return nil },
		Queues{Client: sqsc, URLs: m.Refs, ARNs: m.QueueARNs}, slog.New(slog.NewJSONHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	for _, body := range []string{"a", "flaky", "b"} {
		if _, err := sqsc.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(m.Refs["Work"]), MessageBody: aws.String(body)}); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		mu.Lock()
		done := seen["a"] == 1 && seen["b"] == 1 && seen["flaky"] == 2
		mu.Unlock()
		if done {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(2 * time.Second) // nothing more may arrive: the rest were deleted
	mu.Lock()
	defer mu.Unlock()
	if seen["a"] != 1 || seen["b"] != 1 || seen["flaky"] != 2 {
		t.Errorf("deliveries: %v, want a and b once, flaky twice", seen)
	}
}
