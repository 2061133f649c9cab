package localapi

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"

	"github.com/citycode/citycode/shared/app"
	"github.com/citycode/citycode/shared/eventpublish"
	"github.com/citycode/citycode/shared/samtemplate"
)

// Streams says where the local run's DynamoDB streams are.
type Streams struct {
	DB      *dynamodb.Client
	Streams *dynamodbstreams.Client
	// Tables maps a table's logical id to its local name.
	Tables map[string]string
}

// RunStreamTriggers builds every template job with a DynamoDB stream
// trigger and feeds it from DynamoDB Local's stream of that table, from the
// stream's start, as Lambda's event source mapping does
// (eventpublish.PollStream), until ctx ends.
func RunStreamTriggers(ctx context.Context, tmpl *samtemplate.Template, jobs map[string]app.Job, envOf func(samtemplate.Function) map[string]string, s Streams, log *slog.Logger) error {
	return eachJobTrigger(ctx, tmpl, jobs, envOf, func(fn samtemplate.Function, trig samtemplate.Trigger, build func() (app.JobHandler, error)) error {
		if trig.Type != "DynamoDB" {
			return nil
		}
		out, err := s.DB.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(s.Tables[trig.Source])})
		if err != nil || out.Table.LatestStreamArn == nil {
			return fmt.Errorf("%s: no stream on %s: %v", fn.LogicalID, trig.Source, err)
		}
		h, err := build()
		if err != nil {
			return err
		}
		go func() {
			if err := eventpublish.PollStream(ctx, s.Streams, aws.ToString(out.Table.LatestStreamArn), h, log.With("function", fn.LogicalID)); err != nil {
				log.Error("stream trigger stopped", "function", fn.LogicalID, "error", err)
			}
		}()
		return nil
	})
}
