package dynamolite_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/citycode/citycode/shared/dynamolite"
	"github.com/citycode/citycode/shared/dynamotest"
)

// countingTransport counts the requests that reach the network.
type countingTransport struct{ n atomic.Int32 }

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return http.DefaultTransport.RoundTrip(r)
}

// local is a client of this test's DynamoDB Local, its tables and the
// request counter under it.
func local(t *testing.T) (*dynamolite.Client, map[string]string, *countingTransport) {
	t.Helper()
	db := dynamotest.New(t)
	cfg, err := dynamolite.ConfigFromEnv(func(k string) string { return map[string]string{"DYNAMODB_ENDPOINT": db.Endpoint}[k] })
	if err != nil {
		t.Fatal(err)
	}
	counter := &countingTransport{}
	cfg.HTTPClient = &http.Client{Transport: counter}
	c, err := dynamolite.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c, db.Tables, counter
}

func TestItemRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	c, tables, _ := local(t)
	b, yes := []byte{0, 1, 0xff}, true
	item := dynamolite.Item{
		"pk":      dynamolite.String("ITEM#1"),
		"sk":      dynamolite.String("all-types"),
		"text":    dynamolite.String("张伟 \"quoted\"\n"),
		"empty":   dynamolite.String(""),
		"count":   dynamolite.Int(-42),
		"big":     {N: new("12345678901234567890.5")},
		"bytes":   {B: b},
		"nobytes": {B: []byte{}},
		"flag":    {BOOL: &yes},
		"nothing": {NULL: true},
		"list":    dynamolite.StringList([]string{"a", "b"}),
		"nolist":  dynamolite.StringList([]string{}),
		"nillist": dynamolite.StringList(nil),
		"map":     {M: map[string]dynamolite.AttributeValue{"inner": dynamolite.Int(1), "deep": {M: map[string]dynamolite.AttributeValue{}}}},
		"ss":      {SS: []string{"x", "y"}},
		"ns":      {NS: []string{"1", "2.5"}},
		"bs":      {BS: [][]byte{{1}, {2}}},
	}
	if err := c.PutItem(ctx, dynamolite.PutItemInput{TableName: tables["HoldersTable"], Item: item}); err != nil {
		t.Fatal(err)
	}
	key := dynamolite.Item{"pk": item["pk"], "sk": item["sk"]}
	out, err := c.GetItem(ctx, dynamolite.GetItemInput{TableName: tables["HoldersTable"], Key: key, ConsistentRead: true})
	if err != nil {
		t.Fatal(err)
	}
	// DynamoDB keeps sets in no particular order.
	sortSets := cmp.Transformer("sortSets", func(ss []string) []string { return slices.Sorted(slices.Values(ss)) })
	if diff := cmp.Diff(item, out.Item, sortSets); diff != "" {
		t.Errorf("item read back (-put +got):\n%s", diff)
	}
	if s, err := out.Item.GetString("text"); err != nil || s != "张伟 \"quoted\"\n" {
		t.Errorf("GetString(text) = %q, %v", s, err)
	}
	if n, err := out.Item.GetInt("count"); err != nil || n != -42 {
		t.Errorf("GetInt(count) = %d, %v", n, err)
	}
	for _, tc := range []struct {
		name string
		get  func() error
	}{
		{"GetString of a number", func() error { _, err := out.Item.GetString("count"); return err }},
		{"GetInt of a string", func() error { _, err := out.Item.GetInt("text"); return err }},
		{"GetInt of a fraction", func() error { _, err := out.Item.GetInt("big"); return err }},
	} {
		if tc.get() == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
	if s, err := out.Item.GetString("absent"); s != "" || err != nil {
		t.Errorf("GetString(absent) = %q, %v; want \"\", nil", s, err)
	}

	missing, err := c.GetItem(ctx, dynamolite.GetItemInput{TableName: tables["HoldersTable"], Key: dynamolite.Item{"pk": dynamolite.String("none"), "sk": dynamolite.String("none")}})
	if err != nil || missing.Item != nil {
		t.Errorf("GetItem of a missing item = %v, %v; want nil item", missing.Item, err)
	}
}

func TestBatchGetItem(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	c, tables, counter := local(t)
	table := tables["HoldersTable"]
	key := func(sk string) dynamolite.Item {
		return dynamolite.Item{"pk": dynamolite.String("HOLDER#b"), "sk": dynamolite.String(sk)}
	}
	for _, sk := range []string{"PROFILE", "ACCOUNT"} {
		it := key(sk)
		it["kind"] = dynamolite.String(sk)
		if err := c.PutItem(ctx, dynamolite.PutItemInput{TableName: table, Item: it}); err != nil {
			t.Fatal(err)
		}
	}
	counter.n.Store(0)
	out, err := c.BatchGetItem(ctx, dynamolite.BatchGetItemInput{RequestItems: map[string]dynamolite.KeysAndAttributes{
		table: {Keys: []dynamolite.Item{key("PROFILE"), key("ACCOUNT"), key("MISSING")}, ConsistentRead: true},
	}})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, it := range out.Responses[table] {
		kind, _ := it.GetString("kind")
		got[kind] = true
	}
	if diff := cmp.Diff(map[string]bool{"PROFILE": true, "ACCOUNT": true}, got); diff != "" {
		t.Errorf("items read (-want +got):\n%s", diff)
	}
	if len(out.UnprocessedKeys) != 0 || counter.n.Load() != 1 {
		t.Errorf("unprocessed %v after %d requests; want none after 1", out.UnprocessedKeys, counter.n.Load())
	}
}

func TestConditionalPut(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	c, tables, counter := local(t)
	put := dynamolite.PutItemInput{
		TableName: tables["CodeUsesTable"], Item: dynamolite.Item{"pk": dynamolite.String("once"), "expires_at": dynamolite.Int(1)},
		ConditionExpression: "attribute_not_exists(pk)",
	}
	if err := c.PutItem(ctx, put); err != nil {
		t.Fatal(err)
	}
	counter.n.Store(0)
	err := c.PutItem(ctx, put)
	if !errors.Is(err, dynamolite.ErrConditionalCheckFailed) || errors.Is(err, dynamolite.ErrTransactionCanceled) {
		t.Fatalf("second put: %v, want ErrConditionalCheckFailed only", err)
	}
	var e *dynamolite.Error
	if !errors.As(err, &e) || e.StatusCode != 400 || e.Code != "ConditionalCheckFailedException" {
		t.Errorf("error %#v", e)
	}
	if counter.n.Load() != 1 {
		t.Errorf("a failed condition was sent %d times; want once (no retry)", counter.n.Load())
	}

	// A condition with values and names.
	versioned := dynamolite.PutItemInput{
		TableName: tables["TrustTable"], Item: dynamolite.Item{"pk": dynamolite.String("v"), "version": dynamolite.Int(2)},
		ConditionExpression:       "attribute_not_exists(pk) OR #v < :v",
		ExpressionAttributeNames:  map[string]string{"#v": "version"},
		ExpressionAttributeValues: dynamolite.Item{":v": dynamolite.Int(2)},
	}
	if err := c.PutItem(ctx, versioned); err != nil {
		t.Fatal(err)
	}
	if err := c.PutItem(ctx, versioned); !errors.Is(err, dynamolite.ErrConditionalCheckFailed) {
		t.Errorf("same version again: %v, want ErrConditionalCheckFailed", err)
	}
}

func TestTransactWriteItems(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	c, tables, _ := local(t)
	uses, holders := tables["CodeUsesTable"], tables["HoldersTable"]
	putNew := func(table string, it dynamolite.Item) dynamolite.TransactWriteItem {
		return dynamolite.TransactWriteItem{Put: &dynamolite.PutItemInput{TableName: table, Item: it, ConditionExpression: "attribute_not_exists(pk)"}}
	}
	mark := dynamolite.Item{"pk": dynamolite.String("mark")}
	entry := func(sk string) dynamolite.Item {
		return dynamolite.Item{"pk": dynamolite.String("HOLDER#t"), "sk": dynamolite.String(sk)}
	}
	if err := c.TransactWriteItems(ctx, dynamolite.TransactWriteItemsInput{TransactItems: []dynamolite.TransactWriteItem{
		putNew(uses, mark), putNew(holders, entry("ACCESS#1")),
	}}); err != nil {
		t.Fatal(err)
	}
	err := c.TransactWriteItems(ctx, dynamolite.TransactWriteItemsInput{TransactItems: []dynamolite.TransactWriteItem{
		putNew(holders, entry("ACCESS#2")), putNew(uses, mark),
	}})
	var e *dynamolite.Error
	if !errors.Is(err, dynamolite.ErrTransactionCanceled) || !errors.As(err, &e) {
		t.Fatalf("transaction over a used mark: %v, want ErrTransactionCanceled", err)
	}
	var codes []string
	for _, r := range e.CancellationReasons {
		codes = append(codes, r.Code)
	}
	if diff := cmp.Diff([]string{"None", "ConditionalCheckFailed"}, codes); diff != "" {
		t.Errorf("cancellation reasons (-want +got):\n%s", diff)
	}
	if errors.Is(err, dynamolite.ErrConditionalCheckFailed) {
		t.Error("a cancelled transaction matched ErrConditionalCheckFailed")
	}
	out, err := c.GetItem(ctx, dynamolite.GetItemInput{TableName: holders, Key: entry("ACCESS#2"), ConsistentRead: true})
	if err != nil || out.Item != nil {
		t.Errorf("the cancelled transaction wrote its other item: %v, %v", out.Item, err)
	}
}

func TestErrorsOfDynamoDBLocal(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	c, _, counter := local(t)
	err := c.PutItem(ctx, dynamolite.PutItemInput{TableName: "no-such-table", Item: dynamolite.Item{"pk": dynamolite.String("x")}})
	var e *dynamolite.Error
	if !errors.As(err, &e) || e.Code != "ResourceNotFoundException" || e.StatusCode != 400 {
		t.Errorf("put into a missing table: %v", err)
	}
	if counter.n.Load() != 1 {
		t.Errorf("sent %d times; a client error is not retried", counter.n.Load())
	}
}

// TestRetries answers from a scripted endpoint: DynamoDB Local never
// throttles nor fails, so the retry policy is checked against canned
// DynamoDB answers.
func TestRetries(t *testing.T) {
	t.Parallel()
	throttled := func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"__type":"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException","message":"slow down"}`))
	}
	tests := []struct {
		name     string
		answers  []func(http.ResponseWriter) // the last repeats
		wantN    int32
		wantCode string // "" means success
	}{
		{"throttled, then fine", []func(http.ResponseWriter){throttled, throttled, ok}, 3, ""},
		{"throttling that lasts", []func(http.ResponseWriter){throttled}, 4, "ProvisionedThroughputExceededException"},
		{"ThrottlingException", []func(http.ResponseWriter){fails(400, "ThrottlingException"), ok}, 2, ""},
		{"RequestLimitExceeded", []func(http.ResponseWriter){fails(400, "RequestLimitExceeded"), ok}, 2, ""},
		{"500", []func(http.ResponseWriter){fails(500, "InternalServerError"), ok}, 2, ""},
		{"503 without a body", []func(http.ResponseWriter){func(w http.ResponseWriter) { w.WriteHeader(503) }, ok}, 2, ""},
		{"a dropped connection", []func(http.ResponseWriter){hangUp, ok}, 2, ""},
		{"validation is final", []func(http.ResponseWriter){fails(400, "ValidationException"), ok}, 1, "ValidationException"},
		{"a failed condition is final", []func(http.ResponseWriter){fails(400, "ConditionalCheckFailedException"), ok}, 1, "ConditionalCheckFailedException"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var n atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				i := int(n.Add(1)) - 1
				tt.answers[min(i, len(tt.answers)-1)](w)
			}))
			t.Cleanup(srv.Close)
			c := scriptedClient(t, srv.URL, 0)
			_, err := c.GetItem(t.Context(), dynamolite.GetItemInput{TableName: "t", Key: dynamolite.Item{"pk": dynamolite.String("k")}})
			var e *dynamolite.Error
			switch {
			case tt.wantCode == "" && err != nil:
				t.Errorf("GetItem: %v", err)
			case tt.wantCode != "" && (!errors.As(err, &e) || e.Code != tt.wantCode):
				t.Errorf("GetItem: %v, want %s", err, tt.wantCode)
			}
			if n.Load() != tt.wantN {
				t.Errorf("%d attempts, want %d", n.Load(), tt.wantN)
			}
		})
	}
}

func TestRetriesStopWithTheContext(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fails(400, "ThrottlingException")(w) }))
	t.Cleanup(srv.Close)
	c := scriptedClient(t, srv.URL, 100)
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.GetItem(ctx, dynamolite.GetItemInput{TableName: "t", Key: dynamolite.Item{"pk": dynamolite.String("k")}})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("GetItem: %v, want the deadline", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("returned after %v, long after the deadline", d)
	}
}

func scriptedClient(t *testing.T, endpoint string, attempts int) *dynamolite.Client {
	t.Helper()
	c, err := dynamolite.New(dynamolite.Config{Endpoint: endpoint, Region: "cn-north-1", MaxAttempts: attempts,
		Credentials: dynamolite.Credentials{AccessKeyID: "a", SecretAccessKey: "s"}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func ok(w http.ResponseWriter) { _, _ = w.Write([]byte(`{"Item":{"pk":{"S":"k"}}}`)) }

func fails(status int, code string) func(http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		w.WriteHeader(status)
		_, _ = w.Write([]byte(`{"__type":"com.amazonaws.dynamodb.v20120810#` + code + `","message":"m"}`))
	}
}

// hangUp closes the connection without an answer.
func hangUp(w http.ResponseWriter) {
	conn, _, err := w.(http.Hijacker).Hijack()
	if err == nil {
		conn.Close()
	}
}

func TestConfigFromEnv(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		env     map[string]string
		want    dynamolite.Config
		wantErr bool
	}{
		{"Lambda in Beijing", map[string]string{"AWS_REGION": "cn-north-1", "AWS_ACCESS_KEY_ID": "ASIA1", "AWS_SECRET_ACCESS_KEY": "s", "AWS_SESSION_TOKEN": "tok"},
			dynamolite.Config{Endpoint: "https://dynamodb.cn-north-1.amazonaws.com.cn", Region: "cn-north-1", Credentials: dynamolite.Credentials{AccessKeyID: "ASIA1", SecretAccessKey: "s", SessionToken: "tok"}}, false},
		{"Lambda in Singapore", map[string]string{"AWS_REGION": "ap-southeast-1", "AWS_ACCESS_KEY_ID": "ASIA1", "AWS_SECRET_ACCESS_KEY": "s"},
			dynamolite.Config{Endpoint: "https://dynamodb.ap-southeast-1.amazonaws.com", Region: "ap-southeast-1", Credentials: dynamolite.Credentials{AccessKeyID: "ASIA1", SecretAccessKey: "s"}}, false},
		{"DynamoDB Local", map[string]string{"DYNAMODB_ENDPOINT": "http://127.0.0.1:8000"},
			dynamolite.Config{Endpoint: "http://127.0.0.1:8000", Region: "cn-north-1", Credentials: dynamolite.Credentials{AccessKeyID: "local", SecretAccessKey: "local"}}, false},
		{"no credentials", map[string]string{"AWS_REGION": "cn-north-1"}, dynamolite.Config{}, true},
		{"half the credentials", map[string]string{"AWS_ACCESS_KEY_ID": "a"}, dynamolite.Config{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := dynamolite.ConfigFromEnv(func(k string) string { return tt.env[k] })
			if (err != nil) != tt.wantErr {
				t.Fatalf("ConfigFromEnv = %v, want error %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("config (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNewRefusesBadEndpoints(t *testing.T) {
	t.Parallel()
	for _, ep := range []string{"", "127.0.0.1:8000", "ftp://x", "http://", "http://x/?a=b"} {
		_, err := dynamolite.New(dynamolite.Config{Endpoint: ep, Region: "r", Credentials: dynamolite.Credentials{AccessKeyID: "a", SecretAccessKey: "s"}})
		if err == nil {
			t.Errorf("New(%q) accepted", ep)
		}
	}
}
