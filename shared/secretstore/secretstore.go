// Package secretstore reads and writes secret strings in AWS Secrets Manager. It is
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

// Store reads and writes secrets.
type Store struct {
	client *secretsmanager.Client
}

// New returns a Store for cfg (cfg.BaseEndpoint aims it elsewhere than
// AWS, such as moto_server in tests).
func New(cfg aws.Config) *Store {
	return &Store{client: secretsmanager.NewFromConfig(cfg)}
}

// Read answers the current string of the secret id, an ARN or a name.
func (r *Store) Read(ctx context.Context, id string) (string, error) {
	out, err := r.client.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(id)})
	if err != nil {
		return "", fmt.Errorf("secretstore: %w", err)
	}
	if out.SecretString == nil {
		return "", fmt.Errorf("secretstore: %s has no string value", id)
	}
	return *out.SecretString, nil
}

// Write makes value the secret's current string (a new version; the
// previous one stays readable as AWSPREVIOUS).
func (r *Store) Write(ctx context.Context, id, value string) error {
	_, err := r.client.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(id), SecretString: aws.String(value)})
	if err != nil {
		return fmt.Errorf("secretstore: %w", err)
	}
	return nil
}
