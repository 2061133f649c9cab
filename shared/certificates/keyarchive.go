package certificates

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"

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
// GET /v1/certificate-keys. The Store archives its ring's keys before its
// first signature (keysArchived: documents and references), not at the cold
// start, so that the cold start makes no network calls for it; a failed
// archive fails that request and is tried again by the next, so no key
// signs before it is archived and no document outlives its key's
// publication. No private key is ever written here.

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

// keyArchiver remembers that the ring's keys are archived: once done, a
// process never writes them again (its ring does not change).
type keyArchiver struct {
	mu   sync.Mutex
	done bool
}

// keysArchived archives the ring's keys unless this Store already has:
// every path that signs (documents, references) calls it first. An error
// leaves it undone, so the next signature tries again.
func (s *Store) keysArchived(ctx context.Context) error {
	s.archive.mu.Lock()
	defer s.archive.mu.Unlock()
	if s.archive.done {
		return nil
	}
	if err := s.ArchiveDocumentKeys(ctx); err != nil {
		return err
	}
	s.archive.done = true
	return nil
}

// ArchiveDocumentKeys writes the public part of every key of the ring to
// the archive, one PutItem per key, in parallel. The items are immutable (a
// key's JWK, window and cert never change), so writing one again changes
// nothing; the Store calls it before its first signature (keysArchived).
func (s *Store) ArchiveDocumentKeys(ctx context.Context) error {
	keys, err := s.keys.JWKS()
	if err != nil {
		return err
	}
	items := make([]map[string]types.AttributeValue, len(keys))
	for i, k := range keys {
		k.D = "" // public only, whatever JWKS answers
		b, err := json.Marshal(k)
		if err != nil {
			return fmt.Errorf("certificates: archive key %s: %w", k.KID, err)
		}
		if items[i], err = ddb.Item(keyArchivePK, keyArchiveSK(k), archivedKey{Key: string(b)}); err != nil {
			return err
		}
	}
	errs := make([]error, len(keys))
	var wg sync.WaitGroup
	for i, item := range items {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.table), Item: item}); err != nil {
				errs[i] = fmt.Errorf("certificates: archive key %s: %w", keys[i].KID, err)
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
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
