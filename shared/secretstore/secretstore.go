// Package secretstore reads secret strings from AWS Secrets Manager. It is
// a package of its own so that only the functions that read a secret link
// the Secrets Manager client, whose package initialisation costs about 1 ms
// of every cold start.
package secretstore

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// Reader reads secrets.
type Reader struct {
	client *secretsmanager.Client
}

// New returns a Reader for cfg (cfg.BaseEndpoint aims it elsewhere than
// AWS, such as moto_server in tests).
func New(cfg aws.Config) *Reader {
	return &Reader{client: secretsmanager.NewFromConfig(cfg)}
}

// Read answers the current string of the secret id, an ARN or a name.
func (r *Reader) Read(ctx context.Context, id string) (string, error) {
	out, err := r.client.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(id)})
	if err != nil {
		return "", fmt.Errorf("secretstore: %w", err)
	}
	if out.SecretString == nil {
		return "", fmt.Errorf("secretstore: %s has no string value", id)
	}
	return *out.SecretString, nil
}
