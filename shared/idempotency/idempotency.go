// Package idempotency makes POSTs safe to retry: the first request with an
// Idempotency-Key is run and its answer stored in DynamoDB; a retry with the
// same key and the same request gets that answer again, and the same key with
// a different request is refused.
//
// The claim is a conditional put, so two concurrent requests with one key run
// the handler once. A claim whose handler died holds for Lease, after which a
// retry may run it again: handlers that move money must therefore also make
// their own write conditional on the key (see KeyFrom), so that a rerun can
// never apply twice.
package idempotency

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/citycode/citycode/shared/httpapi"
)

// Header is the request header carrying the key.
const Header = "Idempotency-Key"

// ReplayedHeader marks an answer that was stored, not computed again.
const ReplayedHeader = "Idempotent-Replayed"

// Store keeps idempotency records in one table (pk `pk`, TTL `expires_at`).
type Store struct {
	db    *dynamodb.Client
	table string
	// Retention is how long a key is remembered.
	Retention time.Duration
	// Lease is how long an unfinished claim blocks retries.
	Lease time.Duration
	now   func() time.Time
}

// NewStore returns a Store on table, remembering keys for 24 hours.
func NewStore(db *dynamodb.Client, table string) *Store {
	return &Store{db: db, table: table, Retention: 24 * time.Hour, Lease: 30 * time.Second, now: time.Now}
}

type record struct {
	PK          string            `dynamodbav:"pk"`
	Fingerprint string            `dynamodbav:"fingerprint"`
	State       string            `dynamodbav:"state"`
	LeaseUntil  int64             `dynamodbav:"lease_until"`
	ExpiresAt   int64             `dynamodbav:"expires_at"`
	Status      int               `dynamodbav:"status,omitempty"`
	Headers     map[string]string `dynamodbav:"headers,omitempty"`
	Body        []byte            `dynamodbav:"body,omitempty"`
}

const (
	stateRunning = "running"
	stateDone    = "done"
)

type ctxKey struct{}

// KeyFrom returns a stable, caller-scoped identifier of the request's
// Idempotency-Key (empty when the request had none). Handlers use it to make
// their own writes single-use.
func KeyFrom(ctx context.Context) string {
	k, _ := ctx.Value(ctxKey{}).(string)
	return k
}

// Require wraps h so that it needs an Idempotency-Key.
func (s *Store) Require(h http.Handler) http.Handler { return s.wrap(h, true) }

// Honour wraps h so that an Idempotency-Key, when sent, makes it retry-safe.
func (s *Store) Honour(h http.Handler) http.Handler { return s.wrap(h, false) }

func (s *Store) wrap(h http.Handler, required bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := r.Header.Get(Header)
		if key == "" {
			if required {
				httpapi.WriteProblem(w, r, httpapi.NewError(http.StatusBadRequest, "idempotency_key_required", "this request moves money: send an Idempotency-Key header"))
				return
			}
			h.ServeHTTP(w, r)
			return
		}
		if !validKey(key) {
			httpapi.WriteProblem(w, r, httpapi.NewError(http.StatusBadRequest, "idempotency_key_invalid", "the Idempotency-Key must be 1 to 128 visible ASCII characters"))
			return
		}
		p, ok := httpapi.PrincipalFrom(r)
		if !ok {
			httpapi.WriteProblem(w, r, httpapi.NewError(http.StatusUnauthorized, "unauthorized", "a valid bearer token is required"))
			return
		}
		body, err := httpapi.ReadBody(r)
		if err != nil {
			httpapi.WriteError(w, r, nil, err)
			return
		}
		scoped := scopedKey(p.Subject, key)
		s.serve(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, scoped)), h, scoped, fingerprint(r, body))
	})
}

func (s *Store) serve(w http.ResponseWriter, r *http.Request, h http.Handler, pk, fp string) {
	ctx := r.Context()
	prev, claimed, err := s.claim(ctx, pk, fp)
	if err != nil {
		httpapi.WriteError(w, r, nil, err)
		return
	}
	if !claimed {
		switch {
		case prev.Fingerprint != fp:
			httpapi.WriteProblem(w, r, httpapi.NewError(http.StatusUnprocessableEntity, "idempotency_key_reused", "this Idempotency-Key was used for a different request"))
		case prev.State != stateDone:
			w.Header().Set("Retry-After", "1")
			httpapi.WriteProblem(w, r, httpapi.NewError(http.StatusConflict, "idempotency_in_progress", "the first request with this Idempotency-Key is still running"))
		default:
			for k, v := range prev.Headers {
				w.Header().Set(k, v)
			}
			w.Header().Set(ReplayedHeader, "true")
			w.WriteHeader(prev.Status)
			_, _ = w.Write(prev.Body)
		}
		return
	}

	rec := newRecorder()
	h.ServeHTTP(rec, r)
	if rec.status >= 500 {
		// Nothing was promised: let a retry run again.
		if err := s.release(context.WithoutCancel(ctx), pk); err != nil {
			httpapi.WriteError(w, r, nil, err)
			return
		}
	} else if err := s.finish(context.WithoutCancel(ctx), pk, rec); err != nil {
		httpapi.WriteError(w, r, nil, err)
		return
	}
	rec.copyTo(w)
}

// claim puts a running record unless a live one exists; when it does not
// claim, it returns the record in the way.
func (s *Store) claim(ctx context.Context, pk, fp string) (record, bool, error) {
	now := s.now()
	item, err := attributevalue.MarshalMap(record{
		PK: pk, Fingerprint: fp, State: stateRunning,
		LeaseUntil: now.Add(s.Lease).UnixMilli(), ExpiresAt: now.Add(s.Retention).Unix(),
	})
	if err != nil {
		return record{}, false, fmt.Errorf("marshal idempotency record: %w", err)
	}
	_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                aws.String(s.table),
		Item:                     item,
		ConditionExpression:      aws.String("attribute_not_exists(pk) OR (#state = :running AND lease_until < :now AND fingerprint = :fp)"),
		ExpressionAttributeNames: map[string]string{"#state": "state"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":running": &types.AttributeValueMemberS{Value: stateRunning},
			":now":     &types.AttributeValueMemberN{Value: strconv.FormatInt(now.UnixMilli(), 10)},
			":fp":      &types.AttributeValueMemberS{Value: fp},
		},
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		var prev record
		if err := attributevalue.UnmarshalMap(ccf.Item, &prev); err != nil {
			return record{}, false, fmt.Errorf("unmarshal idempotency record: %w", err)
		}
		return prev, false, nil
	}
	if err != nil {
		return record{}, false, fmt.Errorf("claim idempotency key: %w", err)
	}
	return record{}, true, nil
}

func (s *Store) finish(ctx context.Context, pk string, rec *recorder) error {
	headers := map[string]string{}
	for _, h := range []string{"Content-Type", "Location", "Cache-Control"} {
		if v := rec.header.Get(h); v != "" {
			headers[h] = v
		}
	}
	hv, err := attributevalue.Marshal(headers)
	if err != nil {
		return fmt.Errorf("marshal headers: %w", err)
	}
	_, err = s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                aws.String(s.table),
		Key:                      map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: pk}},
		UpdateExpression:         aws.String("SET #state = :done, #status = :status, headers = :headers, body = :body"),
		ExpressionAttributeNames: map[string]string{"#state": "state", "#status": "status"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":done":    &types.AttributeValueMemberS{Value: stateDone},
			":status":  &types.AttributeValueMemberN{Value: strconv.Itoa(rec.status)},
			":headers": hv,
			":body":    &types.AttributeValueMemberB{Value: append([]byte{}, rec.body.Bytes()...)},
		},
	})
	if err != nil {
		return fmt.Errorf("store idempotent answer: %w", err)
	}
	return nil
}

func (s *Store) release(ctx context.Context, pk string) error {
	_, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName: aws.String(s.table),
		Key:       map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: pk}},
	})
	if err != nil {
		return fmt.Errorf("release idempotency key: %w", err)
	}
	return nil
}

func validKey(k string) bool {
	if len(k) == 0 || len(k) > 128 {
		return false
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x21 || k[i] > 0x7e {
			return false
		}
	}
	return true
}

// scopedKey keys the record by caller and key, hashed so that neither the
// subject nor the key appears in the table's key.
func scopedKey(subject, key string) string {
	sum := sha256.Sum256([]byte(subject + "\x00" + key))
	return "idem_" + hex.EncodeToString(sum[:])
}

func fingerprint(r *http.Request, body []byte) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s %s?%s\n", r.Method, r.URL.Path, r.URL.RawQuery)
	h.Write(body)
	return hex.EncodeToString(h.Sum(nil))
}
