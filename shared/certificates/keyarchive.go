package certificates

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/citycode/citycode/shared/ddb"
	"github.com/citycode/citycode/shared/trust"
)

// Documents live for decades, but the document key ring drops a key a day
// after it ends (trust.KeyRing.Rotate). So the PUBLIC part of every key the
// function has ever loaded (JWK, window, root cert) is archived in
// CertificatesTable, one immutable item per key, and published for ever at
// GET /v1/certificate-keys. Every key that signs was loaded by a cold start
// that archived it first (New), so no document outlives its key's
// publication; no private key is ever written here.

// keyArchivePK is the archive's partition: a few keys a year.
const keyArchivePK = "DOCUMENT_KEYS"

// archivedKey is an archive item: the published key as its JSON.
type archivedKey struct {
	Key string `dynamodbav:"key"`
}

// keyArchiveSK orders the archive by the key's start, then kid.
func keyArchiveSK(k trust.CertifiedKey) string {
	return "KEY#" + fmt.Sprintf("%012d", k.NotBefore) + "#" + k.KID
}

// ArchiveDocumentKeys writes the public part of every key of the ring to
// the archive. The items are immutable (a key's JWK, window and cert never
// change), so writing one again changes nothing; New calls it once per
// cold start, before the function signs anything.
func (s *Store) ArchiveDocumentKeys(ctx context.Context) error {
	keys, err := s.keys.JWKS()
	if err != nil {
		return err
	}
	for _, k := range keys {
		k.D = "" // public only, whatever JWKS answers
		b, err := json.Marshal(k)
		if err != nil {
			return fmt.Errorf("certificates: archive key %s: %w", k.KID, err)
		}
		item, err := ddb.Item(keyArchivePK, keyArchiveSK(k), archivedKey{Key: string(b)})
		if err != nil {
			return err
		}
		if _, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.table), Item: item}); err != nil {
			return fmt.Errorf("certificates: archive key %s: %w", k.KID, err)
		}
	}
	return nil
}

// PublishedKeys answers every document key ever archived and the ring's
// current ones (public parts, by start), what GET /v1/certificate-keys
// publishes: a document signed by a retired key still verifies.
func (s *Store) PublishedKeys(ctx context.Context) ([]trust.CertifiedKey, error) {
	keys, err := s.keys.JWKS()
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, k := range keys {
		seen[k.KID] = true
	}
	p := dynamodb.NewQueryPaginator(s.db, &dynamodb.QueryInput{
		TableName:                 aws.String(s.table),
		KeyConditionExpression:    aws.String("pk = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": ddb.S(keyArchivePK)},
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("certificates: read key archive: %w", err)
		}
		for _, it := range page.Items {
			v, ok := it["key"].(*types.AttributeValueMemberS)
			if !ok {
				return nil, fmt.Errorf("certificates: key archive item %v has no key", it["sk"])
			}
			var k trust.CertifiedKey
			if err := json.Unmarshal([]byte(v.Value), &k); err != nil {
				return nil, fmt.Errorf("certificates: key archive: %w", err)
			}
			if k.D != "" {
				return nil, fmt.Errorf("certificates: key archive holds a private key (%s)", k.KID)
			}
			if !seen[k.KID] {
				seen[k.KID] = true
				keys = append(keys, k)
			}
		}
	}
	slices.SortStableFunc(keys, func(a, b trust.CertifiedKey) int {
		return cmp.Or(cmp.Compare(a.NotBefore, b.NotBefore), cmp.Compare(a.KID, b.KID))
	})
	return keys, nil
}
