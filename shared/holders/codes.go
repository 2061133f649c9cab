package holders

import (
	"context"
	"encoding/base32"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// What the code capabilities (qr-issue, qr-verify) need of holders: the
// opaque reference a code carries, one read of a holder's state, and the
// access-log entry written together with a release of personal data.

var idEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// ErrBadRef is a holder reference that names no possible holder.
var ErrBadRef = errors.New("holders: bad holder reference")

// Ref is the opaque holder reference carried in a code: the 16 random bytes
// of the holder id, nothing personal.
func Ref(id string) ([16]byte, error) {
	var ref [16]byte
	raw, ok := strings.CutPrefix(id, "hdr_")
	b, err := idEncoding.DecodeString(strings.ToUpper(raw))
	if !ok || err != nil || len(b) != len(ref) {
		return ref, ErrBadRef
	}
	copy(ref[:], b)
	return ref, nil
}

// IDFromRef is the holder id a code's reference names.
func IDFromRef(ref [16]byte) string {
	return "hdr_" + strings.ToLower(idEncoding.EncodeToString(ref[:]))
}

// Snapshot reads a holder's profile and account in one consistent call.
func (s *Store) Snapshot(ctx context.Context, id string) (Holder, Account, error) {
	keys := []map[string]types.AttributeValue{key(holderPK(id), skProfile), key(holderPK(id), skAccount)}
	out, err := s.db.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: map[string]types.KeysAndAttributes{
		s.table: {Keys: keys, ConsistentRead: aws.Bool(true)},
	}})
	if err != nil {
		return Holder{}, Account{}, fmt.Errorf("read holder: %w", err)
	}
	if len(out.UnprocessedKeys) > 0 {
		return Holder{}, Account{}, errors.New("read holder: throttled")
	}
	var h Holder
	var a Account
	for _, it := range out.Responses[s.table] {
		var err error
		switch it["sk"].(*types.AttributeValueMemberS).Value {
		case skProfile:
			err = attributevalue.UnmarshalMap(it, &h)
		case skAccount:
			err = attributevalue.UnmarshalMap(it, &a)
		}
		if err != nil {
			return Holder{}, Account{}, fmt.Errorf("unmarshal holder: %w", err)
		}
	}
	if h.ID == "" {
		return Holder{}, Account{}, ErrNotEnrolled
	}
	return h, a, nil
}

// AccessLogWrite is the put of one access-log entry, for a transaction of
// the capability that releases the data.
func (s *Store) AccessLogWrite(holderID string, e AccessEntry) (types.TransactWriteItem, error) {
	if e.EntryID == "" {
		e.EntryID = newID("acc")
	}
	it, err := item(holderPK(holderID), skAccess+e.At.UTC().Format(time.RFC3339Nano)+"#"+e.EntryID, e)
	if err != nil {
		return types.TransactWriteItem{}, err
	}
	return putNew(s.table, it), nil
}
