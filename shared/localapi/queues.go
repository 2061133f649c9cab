package localapi

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/citycode/citycode/shared/app"
	"github.com/citycode/citycode/shared/samtemplate"
)

// Queues says where the local run's queues are: each queue's URL and ARN
// by logical id.
type Queues struct {
	Client     *sqs.Client
	URLs, ARNs map[string]string
}

// RunQueueTriggers builds every template job with an SQS trigger and feeds
// it as Lambda's event source mapping does: batches of up to 10 messages,
// deleted when the handler succeeds except those it reports in
// batchItemFailures, which come back after their visibility timeout.
func RunQueueTriggers(ctx context.Context, tmpl *samtemplate.Template, jobs map[string]app.Job, envOf func(samtemplate.Function) map[string]string, q Queues, log *slog.Logger) error {
	return eachJobTrigger(ctx, tmpl, jobs, envOf, func(fn samtemplate.Function, trig samtemplate.Trigger, build func() (app.JobHandler, error)) error {
		if trig.Type != "SQS" {
			return nil
		}
		url, ok := q.URLs[trig.Source]
		if !ok {
			return fmt.Errorf("%s: queue %s was not created", fn.LogicalID, trig.Source)
		}
		h, err := build()
		if err != nil {
			return err
		}
		go pollQueue(ctx, fn.LogicalID, url, q.ARNs[trig.Source], q.Client, h, log)
		return nil
	})
}

func pollQueue(ctx context.Context, function, url, arn string, client *sqs.Client, h app.JobHandler, log *slog.Logger) {
	for ctx.Err() == nil {
		out, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 10, WaitTimeSeconds: 1,
			MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameAll}})
		if err != nil {
			if ctx.Err() == nil {
				log.ErrorContext(ctx, "receive failed", "function", function, "error", err)
				time.Sleep(time.Second)
			}
			continue
		}
		if len(out.Messages) == 0 {
			continue
		}
		ev := events.SQSEvent{}
		for _, m := range out.Messages {
			ev.Records = append(ev.Records, events.SQSMessage{MessageId: aws.ToString(m.MessageId), ReceiptHandle: aws.ToString(m.ReceiptHandle),
				Body: aws.ToString(m.Body), Md5OfBody: aws.ToString(m.MD5OfBody), Attributes: m.Attributes,
				EventSource: "aws:sqs", EventSourceARN: arn, AWSRegion: "cn-north-1"})
		}
		failed, err := invokeBatch(ctx, h, ev)
		if err != nil {
			log.ErrorContext(ctx, "queue job failed; the batch returns after its visibility timeout", "function", function, "error", err)
			continue
		}
		for _, m := range out.Messages {
			if failed[aws.ToString(m.MessageId)] {
				continue
			}
			if _, err := client.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: m.ReceiptHandle}); err != nil {
				log.ErrorContext(ctx, "delete failed", "function", function, "error", err)
			}
		}
	}
}

// invokeBatch calls the handler with the batch and answers the ids of the
// items it reported as failed.
func invokeBatch(ctx context.Context, h app.JobHandler, ev events.SQSEvent) (map[string]bool, error) {
	raw, err := json.Marshal(ev)
	if err != nil {
		return nil, err
	}
	resp, err := h(ctx, raw)
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(resp)
	if err != nil {
		return nil, err
	}
	var r events.SQSEventResponse
	_ = json.Unmarshal(b, &r)
	failed := map[string]bool{}
	for _, f := range r.BatchItemFailures {
		failed[f.ItemIdentifier] = true
	}
	return failed, nil
}
