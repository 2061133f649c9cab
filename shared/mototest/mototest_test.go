package mototest

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

func TestStartMotoServesSQS(t *testing.T) {
	t.Parallel()
	q := sqs.NewFromConfig(Config(StartMoto(t)))
	out, err := q.CreateQueue(t.Context(), &sqs.CreateQueueInput{QueueName: aws.String("probe")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(out.QueueUrl) == "" {
		t.Error("moto answered no queue URL")
	}
}
