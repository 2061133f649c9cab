package localstack

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/citycode/citycode/shared/samtemplate"
)

// Messaging is what CreateMessaging made: for each queue and bus of the
// template, by logical id, the value its !Ref resolves to (a queue's URL, a
// bus's name), and each queue's ARN.
type Messaging struct {
	Refs      map[string]string
	QueueARNs map[string]string
}

// CreateMessaging creates the template's SQS queues (dead-letter queues
// first, with their redrive policies), EventBridge buses and rules with
// their SQS targets, named nameFor(logical id), in moto_server.
func CreateMessaging(ctx context.Context, sqsc *sqs.Client, ebc *eventbridge.Client, tmpl *samtemplate.Template, nameFor func(string) string) (Messaging, error) {
	m := Messaging{Refs: map[string]string{}, QueueARNs: map[string]string{}}
	queues := slices.Clone(tmpl.Queues())
	// A queue's dead-letter queue must exist first.
	slices.SortStableFunc(queues, func(a, b samtemplate.Queue) int {
		return boolInt(a.DeadLetter != "") - boolInt(b.DeadLetter != "")
	})
	for _, q := range queues {
		attrs := map[string]string{}
		if q.DelaySeconds > 0 {
			attrs[string(sqstypes.QueueAttributeNameDelaySeconds)] = strconv.Itoa(q.DelaySeconds)
		}
		if q.VisibilityTimeout > 0 {
			attrs[string(sqstypes.QueueAttributeNameVisibilityTimeout)] = strconv.Itoa(q.VisibilityTimeout)
		}
		if q.DeadLetter != "" {
			policy, _ := json.Marshal(map[string]any{"deadLetterTargetArn": m.QueueARNs[q.DeadLetter], "maxReceiveCount": q.MaxReceiveCount})
			attrs[string(sqstypes.QueueAttributeNameRedrivePolicy)] = string(policy)
		}
		out, err := sqsc.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(nameFor(q.LogicalID)), Attributes: attrs})
		if err != nil {
			return Messaging{}, fmt.Errorf("create queue %s: %w", q.LogicalID, err)
		}
		got, err := sqsc.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: out.QueueUrl,
			AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
		if err != nil {
			return Messaging{}, fmt.Errorf("queue %s: %w", q.LogicalID, err)
		}
		m.Refs[q.LogicalID] = aws.ToString(out.QueueUrl)
		m.QueueARNs[q.LogicalID] = got.Attributes[string(sqstypes.QueueAttributeNameQueueArn)]
	}
	for _, bus := range tmpl.Buses() {
		if _, err := ebc.CreateEventBus(ctx, &eventbridge.CreateEventBusInput{Name: aws.String(nameFor(bus))}); err != nil {
			return Messaging{}, fmt.Errorf("create bus %s: %w", bus, err)
		}
		m.Refs[bus] = nameFor(bus)
	}
	for _, r := range tmpl.Rules() {
		pattern, err := json.Marshal(r.EventPattern)
		if err != nil {
			return Messaging{}, fmt.Errorf("rule %s: %w", r.LogicalID, err)
		}
		bus := "default"
		if r.Bus != "" {
			bus = nameFor(r.Bus)
		}
		if _, err := ebc.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String(nameFor(r.LogicalID)), EventBusName: aws.String(bus),
			EventPattern: aws.String(string(pattern))}); err != nil {
			return Messaging{}, fmt.Errorf("create rule %s: %w", r.LogicalID, err)
		}
		var targets []ebtypes.Target
		for i, q := range r.Queues {
			targets = append(targets, ebtypes.Target{Id: aws.String("t" + strconv.Itoa(i)), Arn: aws.String(m.QueueARNs[q])})
		}
		if _, err := ebc.PutTargets(ctx, &eventbridge.PutTargetsInput{Rule: aws.String(nameFor(r.LogicalID)), EventBusName: aws.String(bus), Targets: targets}); err != nil {
			return Messaging{}, fmt.Errorf("rule %s targets: %w", r.LogicalID, err)
		}
	}
	return m, nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
