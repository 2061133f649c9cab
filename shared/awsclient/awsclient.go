// Package awsclient builds the AWS SDK clients the functions share, from the
// function's environment. DYNAMODB_ENDPOINT points them at DynamoDB Local.
package awsclient

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/citycode/citycode/shared/app"
)

// Config loads the SDK configuration. With a local endpoint and no
// credentials in the environment it uses fixed dummy credentials, which
// DynamoDB Local accepts.
func Config(ctx context.Context, env app.Env) (aws.Config, error) {
	opts := []func(*config.LoadOptions) error{config.WithRegion(env.Lookup("AWS_REGION", "cn-north-1"))}
	if env("DYNAMODB_ENDPOINT") != "" && env("AWS_ACCESS_KEY_ID") == "" {
		opts = append(opts, config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("local", "local", "")))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("load aws config: %w", err)
	}
	return cfg, nil
}

// DynamoDB returns a client for cfg, aimed at DYNAMODB_ENDPOINT when set.
func DynamoDB(cfg aws.Config, env app.Env) *dynamodb.Client {
	return dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) {
		if ep := env("DYNAMODB_ENDPOINT"); ep != "" {
			o.BaseEndpoint = aws.String(ep)
			// DynamoDB Local's responses carry no CRC32 the SDK can check.
			o.DisableValidateResponseChecksum = true
		}
	})
}
