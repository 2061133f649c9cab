// Package dynamolite is a minimal DynamoDB client: the JSON 1.0 protocol
// over net/http (POST / with X-Amz-Target: DynamoDB_20120810.<Op>), signed
// with SigV4, for the four operations the cold-start-tuned functions need:
// GetItem, BatchGetItem, PutItem and TransactWriteItems.
//
// Why not the AWS SDK, which the rest of the project uses: qr-verify's cold
// start must stay within 1.3x of a hello-world Lambda (make bench), and the
// SDK's DynamoDB client alone was over that budget. Measured with
// GODEBUG=inittrace=1, linking it costs 3.5 to 4.5 ms of package
// initialisation on every cold start: service/dynamodb/schemas about 3 ms
// (dynamodb/types imports it, and feature/dynamodb/attributevalue imports
// dynamodbstreams/types and its schemas), and the client's endpoint tables
// about 0.8 ms. qr-verify's package initialisation went from about 9 ms to
// 3.6 ms (hello-world: 3.2 ms) when it moved to this package. This package
// does no work at package initialisation and imports only the standard
// library. SigV4 is hand-written too: the SDK's signer links smithy-go's
// middleware, eventstream and time packages (about 0.15 ms of
// initialisation) for what is 50 lines here, tested against the AWS SigV4
// test suite and against the SDK's signer.
package dynamolite

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/citycode/citycode/shared/app"
)

// Credentials sign requests: an access key, and the session token of
// temporary credentials (a Lambda execution role's).
type Credentials struct {
	AccessKeyID, SecretAccessKey, SessionToken string
}

// Config says where and as whom a Client calls DynamoDB.
type Config struct {
	// Endpoint is DynamoDB's base URL, such as http://127.0.0.1:8000 for
	// DynamoDB Local or https://dynamodb.cn-north-1.amazonaws.com.cn.
	Endpoint string
	// Region is the signing region.
	Region      string
	Credentials Credentials
	// HTTPClient sends the requests; nil means a keep-alive client of the
	// Client's own.
	HTTPClient *http.Client
	// MaxAttempts bounds the tries of one call (throttling, 5xx and network
	// errors are retried with jittered exponential backoff); 0 means 4.
	MaxAttempts int
}

// ConfigFromEnv reads the configuration the way shared/awsclient does:
// AWS_REGION (default cn-north-1), the credentials Lambda puts in
// AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN, and
// DYNAMODB_ENDPOINT, which aims the client at DynamoDB Local (then, without
// credentials, fixed dummy ones, which DynamoDB Local accepts). Without
// DYNAMODB_ENDPOINT the endpoint is the region's:
// https://dynamodb.<region>.amazonaws.com, .com.cn in the cn- regions.
func ConfigFromEnv(env app.Env) (Config, error) {
	cfg := Config{
		Region:   env.Lookup("AWS_REGION", "cn-north-1"),
		Endpoint: env("DYNAMODB_ENDPOINT"),
		Credentials: Credentials{
			AccessKeyID: env("AWS_ACCESS_KEY_ID"), SecretAccessKey: env("AWS_SECRET_ACCESS_KEY"), SessionToken: env("AWS_SESSION_TOKEN"),
		},
	}
	if cfg.Endpoint == "" {
		cfg.Endpoint = "https://dynamodb." + cfg.Region + ".amazonaws.com"
		if strings.HasPrefix(cfg.Region, "cn-") {
			cfg.Endpoint += ".cn"
		}
	} else if cfg.Credentials.AccessKeyID == "" {
		cfg.Credentials = Credentials{AccessKeyID: "local", SecretAccessKey: "local"}
	}
	if cfg.Credentials.AccessKeyID == "" || cfg.Credentials.SecretAccessKey == "" {
		return Config{}, errors.New("dynamolite: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set (Lambda sets them)")
	}
	return cfg, nil
}

// Retry policy: attempt n (from 1) waits between half and all of
// min(maxBackoff, baseBackoff·2^(n-1)) before the next.
const (
	defaultMaxAttempts = 4
	baseBackoff        = 25 * time.Millisecond
	maxBackoff         = time.Second
)

// Client calls DynamoDB. It is safe for concurrent use; build one per cold
// start and reuse it, so that its connections are kept alive.
type Client struct {
	endpoint    string
	region      string
	creds       Credentials
	http        *http.Client
	maxAttempts int
}

// New returns a Client for cfg. It makes no network call.
func New(cfg Config) (*Client, error) {
	u, err := url.Parse(cfg.Endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" {
		return nil, fmt.Errorf("dynamolite: endpoint %q is not an http(s) base URL", cfg.Endpoint)
	}
	if u.Path == "" {
		u.Path = "/"
	}
	if cfg.Region == "" || cfg.Credentials.AccessKeyID == "" || cfg.Credentials.SecretAccessKey == "" {
		return nil, errors.New("dynamolite: a region and credentials are required")
	}
	c := &Client{endpoint: u.String(), region: cfg.Region, creds: cfg.Credentials, http: cfg.HTTPClient, maxAttempts: cfg.MaxAttempts}
	if c.http == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = 16
		c.http = &http.Client{Transport: t, Timeout: 10 * time.Second}
	}
	if c.maxAttempts <= 0 {
		c.maxAttempts = defaultMaxAttempts
	}
	return c, nil
}

// GetItem reads one item; Item is nil when there is none.
func (c *Client) GetItem(ctx context.Context, in GetItemInput) (GetItemOutput, error) {
	var out GetItemOutput
	return out, c.call(ctx, "GetItem", in, &out)
}

// BatchGetItem reads up to 100 items from one or more tables. Keys
// DynamoDB did not get to are in UnprocessedKeys.
func (c *Client) BatchGetItem(ctx context.Context, in BatchGetItemInput) (BatchGetItemOutput, error) {
	var out BatchGetItemOutput
	return out, c.call(ctx, "BatchGetItem", in, &out)
}

// PutItem writes one item. A failed condition is an *Error that
// errors.Is ErrConditionalCheckFailed.
func (c *Client) PutItem(ctx context.Context, in PutItemInput) error {
	return c.call(ctx, "PutItem", in, nil)
}

// TransactWriteItems writes all of in's items or none. A cancelled
// transaction is an *Error that errors.Is ErrTransactionCanceled, with one
// CancellationReason per item. Without a ClientRequestToken it sets a random
// one, as the SDK does, so that a retry after a lost answer cannot apply the
// transaction twice.
func (c *Client) TransactWriteItems(ctx context.Context, in TransactWriteItemsInput) error {
	if in.ClientRequestToken == "" {
		var b [16]byte
		_, _ = rand.Read(b[:])
		in.ClientRequestToken = hex.EncodeToString(b[:])
	}
	return c.call(ctx, "TransactWriteItems", in, nil)
}

// call sends op with in as its body, decoding the answer into out (when
// not nil), retrying what may succeed on another try.
func (c *Client) call(ctx context.Context, op string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("dynamolite: %s: %w", op, err)
	}
	sum := sha256.Sum256(body)
	hash := hex.EncodeToString(sum[:])
	for attempt := 1; ; attempt++ {
		var retry bool
		retry, err = c.try(ctx, op, body, hash, out)
		if err == nil || !retry || attempt >= c.maxAttempts || ctx.Err() != nil {
			break
		}
		d := min(maxBackoff, baseBackoff<<(attempt-1))
		t := time.NewTimer(d/2 + mrand.N(d/2))
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("dynamolite: %s: %w (retrying after %w)", op, ctx.Err(), err)
		case <-t.C:
		}
	}
	if err != nil {
		return fmt.Errorf("dynamolite: %s: %w", op, err)
	}
	return nil
}

// try makes one attempt, saying whether a failure is worth another.
func (c *Client) try(ctx context.Context, op string, body []byte, hash string, out any) (retry bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint, bytes.NewReader(body))
	if err != nil {
		return false, err
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	req.Header.Set("X-Amz-Target", "DynamoDB_20120810."+op)
	sign(req, hash, c.creds, c.region, "dynamodb", time.Now())
	resp, err := c.http.Do(req)
	if err != nil {
		return true, err // the network; try again unless ctx is done
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(resp.Body)
	if err != nil {
		return true, fmt.Errorf("read answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		e := parseError(resp.StatusCode, answer)
		return e.retryable(), e
	}
	if out == nil {
		return false, nil
	}
	if err := json.Unmarshal(answer, out); err != nil {
		return false, fmt.Errorf("decode answer: %w", err)
	}
	return false, nil
}
