package dynamolite

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// AttributeValue is one attribute's value in DynamoDB's JSON form: exactly
// one member is set. N and NS hold numbers as DynamoDB's decimal strings.
type AttributeValue struct {
	S    *string                   `json:"S,omitempty"`
	N    *string                   `json:"N,omitempty"`
	B    []byte                    `json:"B,omitempty"`
	BOOL *bool                     `json:"BOOL,omitempty"`
	NULL bool                      `json:"NULL,omitempty"`
	L    []AttributeValue          `json:"L,omitempty"`
	M    map[string]AttributeValue `json:"M,omitempty"`
	SS   []string                  `json:"SS,omitempty"`
	NS   []string                  `json:"NS,omitempty"`
	BS   [][]byte                  `json:"BS,omitempty"`
}

// plainValue is AttributeValue without its MarshalJSON.
type plainValue AttributeValue

// MarshalJSON writes the one member that is set, keeping an empty list,
// map or binary value (which omitempty would drop).
func (v AttributeValue) MarshalJSON() ([]byte, error) {
	switch {
	case v.L != nil && len(v.L) == 0:
		return []byte(`{"L":[]}`), nil
	case v.M != nil && len(v.M) == 0:
		return []byte(`{"M":{}}`), nil
	case v.B != nil && len(v.B) == 0:
		return []byte(`{"B":""}`), nil
	}
	return json.Marshal(plainValue(v))
}

// String is an S value.
func String(s string) AttributeValue { return AttributeValue{S: &s} }

// Int is an N value.
func Int(n int64) AttributeValue {
	s := strconv.FormatInt(n, 10)
	return AttributeValue{N: &s}
}

// StringList is ss as the SDK's attributevalue package writes a []string:
// a list (L) of S values, or NULL for a nil slice.
func StringList(ss []string) AttributeValue {
	if ss == nil {
		return AttributeValue{NULL: true}
	}
	l := make([]AttributeValue, len(ss))
	for i, s := range ss {
		l[i] = String(s)
	}
	return AttributeValue{L: l}
}

// Item is an item, or a key: attribute name to value.
type Item map[string]AttributeValue

// GetString answers it[name]'s S value: "" when absent, an error when it is
// of another type.
func (it Item) GetString(name string) (string, error) {
	v, ok := it[name]
	if !ok {
		return "", nil
	}
	if v.S == nil {
		return "", fmt.Errorf("dynamolite: attribute %s is not a string", name)
	}
	return *v.S, nil
}

// GetInt answers it[name]'s N value as an int64: 0 when absent, an error
// when it is of another type or not an integer.
func (it Item) GetInt(name string) (int64, error) {
	v, ok := it[name]
	if !ok {
		return 0, nil
	}
	if v.N == nil {
		return 0, fmt.Errorf("dynamolite: attribute %s is not a number", name)
	}
	n, err := strconv.ParseInt(*v.N, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("dynamolite: attribute %s: %w", name, err)
	}
	return n, nil
}

// GetItemInput is GetItem's request.
type GetItemInput struct {
	TableName      string
	Key            Item
	ConsistentRead bool `json:",omitempty"`
}

// GetItemOutput is GetItem's answer.
type GetItemOutput struct {
	Item Item
}

// KeysAndAttributes are the keys BatchGetItem reads from one table.
type KeysAndAttributes struct {
	Keys           []Item
	ConsistentRead bool `json:",omitempty"`
}

// BatchGetItemInput is BatchGetItem's request: table name to keys.
type BatchGetItemInput struct {
	RequestItems map[string]KeysAndAttributes
}

// BatchGetItemOutput is BatchGetItem's answer, by table name. Items come
// in no particular order.
type BatchGetItemOutput struct {
	Responses       map[string][]Item
	UnprocessedKeys map[string]KeysAndAttributes
}

// PutItemInput is PutItem's request.
type PutItemInput struct {
	TableName                 string
	Item                      Item
	ConditionExpression       string            `json:",omitempty"`
	ExpressionAttributeNames  map[string]string `json:",omitempty"`
	ExpressionAttributeValues Item              `json:",omitempty"`
}

// TransactWriteItemsInput is TransactWriteItems's request.
type TransactWriteItemsInput struct {
	TransactItems      []TransactWriteItem
	ClientRequestToken string `json:",omitempty"`
}

// TransactWriteItem is one action of a transaction; only Put is needed so
// far.
type TransactWriteItem struct {
	Put *PutItemInput `json:",omitempty"`
}

// Error codes callers test with errors.Is on an *Error.
var (
	// ErrConditionalCheckFailed matches a ConditionalCheckFailedException.
	ErrConditionalCheckFailed = errors.New("ConditionalCheckFailedException")
	// ErrTransactionCanceled matches a TransactionCanceledException.
	ErrTransactionCanceled = errors.New("TransactionCanceledException")
)

// Error is DynamoDB's answer to a call that failed.
type Error struct {
	StatusCode int
	// Code is the error's type, such as ConditionalCheckFailedException.
	Code    string
	Message string
	// CancellationReasons are a TransactionCanceledException's, one per
	// action in order: Code "None" for the actions that did not fail.
	CancellationReasons []CancellationReason
}

// CancellationReason is why one action of a transaction was cancelled.
type CancellationReason struct {
	Code    string // e.g. ConditionalCheckFailed, TransactionConflict, None
	Message string
}

func (e *Error) Error() string {
	if e.Code == "" {
		return fmt.Sprintf("HTTP %d", e.StatusCode)
	}
	return fmt.Sprintf("%s (HTTP %d): %s", e.Code, e.StatusCode, e.Message)
}

// Is matches ErrConditionalCheckFailed and ErrTransactionCanceled by code.
func (e *Error) Is(target error) bool {
	return (target == ErrConditionalCheckFailed || target == ErrTransactionCanceled) && e.Code == target.Error()
}

// retryable: throttling and DynamoDB's own failures may pass on a retry.
func (e *Error) retryable() bool {
	switch e.Code {
	case "ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded":
		return true
	}
	return e.StatusCode >= 500
}

// parseError reads an error answer: {"__type": "…#Code", "message": …}.
func parseError(status int, body []byte) *Error {
	var b struct {
		Type                string `json:"__type"`
		Message             string `json:"message"`
		CancellationReasons []CancellationReason
	}
	e := &Error{StatusCode: status}
	if json.Unmarshal(body, &b) == nil {
		e.Code = b.Type[strings.LastIndexByte(b.Type, '#')+1:]
		e.Message, e.CancellationReasons = b.Message, b.CancellationReasons
	}
	return e
}
