package certificates

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/citycode/citycode/shared/ddb"
	"github.com/citycode/citycode/shared/dynamotest"
	"github.com/citycode/citycode/shared/trust"
)

// TestRetiredDocumentKeysStayPublished rotates the document ring on a fake
// clock until its first key has left the ring: a document that key signed
// still verifies against the published keys, and no private key is
// published, archived, or kept in the ring after retirement.
func TestRetiredDocumentKeysStayPublished(t *testing.T) {
	t.Parallel()
	db := dynamotest.New(t)
	ctx := t.Context()
	t0 := time.Now().UTC().Truncate(time.Second)
	home, err := trust.Generate("CN-SH", "Shanghai", t0, trust.DefaultSigningKeyLifetime)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "document-keys.json")
	// coldStart is what New does with the ring at path as of now.
	coldStart := func(now time.Time) (*trust.KeyRing, *Store) {
		t.Helper()
		if err := EnsureDocumentKeys(path, home, now); err != nil {
			t.Fatal(err)
		}
		ring, err := trust.ReadKeyRingFile(path)
		if err != nil {
			t.Fatal(err)
		}
		keys, err := NewDocumentKeys(ring, home.Root, "")
		if err != nil {
			t.Fatal(err)
		}
		store := NewStore(db.Client, db.Tables["CertificatesTable"], db.Tables["HoldersTable"], db.Tables["CodeUsesTable"], nil, keys)
		if err := store.ArchiveDocumentKeys(ctx); err != nil {
			t.Fatal(err)
		}
		return ring, store
	}

	ring0, store0 := coldStart(t0)
	old := ring0.Keys[0]
	doc, err := store0.keys.Sign(samplePayload(), t0)
	if err != nil {
		t.Fatal(err)
	}
	oldKID := kidOf(t, store0.keys)

	// The successor is made 14 days before the first key ends; a day
	// after that end the first key leaves the ring.
	coldStart(old.NotAfter.Add(-documentKeyOverlap + time.Hour))
	later := old.NotAfter.Add(trust.RetiredKeyGrace + time.Hour)
	ring, store := coldStart(later)
	for _, k := range ring.Keys {
		if k.Cert == old.Cert {
			t.Fatal("the retired key is still in the ring")
		}
	}
	if _, err := store.keys.Sign(samplePayload(), later); err != nil {
		t.Fatalf("the ring cannot sign after rotation: %v", err)
	}
	if current, _ := store.keys.JWKS(); containsKID(current, oldKID) {
		t.Fatal("the rotation test is void: the old key is still in the ring's keys")
	}

	published, err := store.PublishedKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !containsKID(published, oldKID) || len(published) != 2 {
		t.Fatalf("published %d keys, want the retired one and its successor", len(published))
	}
	got, err := VerifyDocument(doc, published, home.Root)
	if err != nil {
		t.Fatalf("a document of the retired key: %v", err)
	}
	if got.Certificate.CertificateID != "crt_x" {
		t.Errorf("payload %+v", got)
	}
	b, err := json.Marshal(map[string]any{"keys": published})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), `"d"`) {
		t.Errorf("the published keys hold a private part: %s", b)
	}
	out, err := db.Client.Query(ctx, &dynamodb.QueryInput{
		TableName: aws.String(db.Tables["CertificatesTable"]), KeyConditionExpression: aws.String("pk = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": ddb.S(keyArchivePK)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Items) != 2 {
		t.Errorf("archive holds %d items, want 2 (each key once)", len(out.Items))
	}
	for _, it := range out.Items {
		for name, v := range it {
			if s, ok := v.(*types.AttributeValueMemberS); ok && strings.Contains(s.Value, `"d"`) {
				t.Errorf("archive item %v %s holds a private part", it["sk"], name)
			}
		}
	}
}

func kidOf(t *testing.T, k *DocumentKeys) string {
	t.Helper()
	keys, err := k.JWKS()
	if err != nil || len(keys) != 1 {
		t.Fatalf("ring keys %d: %v", len(keys), err)
	}
	return keys[0].KID
}

func containsKID(keys []trust.CertifiedKey, kid string) bool {
	for _, k := range keys {
		if k.KID == kid {
			return true
		}
	}
	return false
}

// TestKeysAreArchivedBeforeTheFirstSignature: a signature whose archive
// fails is refused; the next one archives the ring's keys, then signs.
func TestKeysAreArchivedBeforeTheFirstSignature(t *testing.T) {
	t.Parallel()
	db := dynamotest.New(t)
	ctx := t.Context()
	now := time.Now().UTC().Truncate(time.Second)
	home, err := trust.Generate("CN-SH", "Shanghai", now, trust.DefaultSigningKeyLifetime)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "document-keys.json")
	if err := EnsureDocumentKeys(path, home, now); err != nil {
		t.Fatal(err)
	}
	ring, err := trust.ReadKeyRingFile(path)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := NewDocumentKeys(ring, home.Root, "")
	if err != nil {
		t.Fatal(err)
	}
	archived := func() int {
		t.Helper()
		out, err := db.Client.Query(ctx, &dynamodb.QueryInput{
			TableName: aws.String(db.Tables["CertificatesTable"]), KeyConditionExpression: aws.String("pk = :pk"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":pk": ddb.S(keyArchivePK)},
		})
		if err != nil {
			t.Fatal(err)
		}
		return len(out.Items)
	}
	c := Certificate{ID: "crt_x", Version: 1, Category: "driving_licence", Status: StatusActive, UpdatedAt: now}

	// An archive that cannot be written (no such table): no signature.
	broken := NewStore(db.Client, "no-such-table", db.Tables["HoldersTable"], db.Tables["CodeUsesTable"], nil, keys)
	if err := broken.sign(ctx, &c); err == nil || c.Document != "" {
		t.Fatalf("signed without archiving: %v", err)
	}
	broken.table = db.Tables["CertificatesTable"] // the table is back
	if err := broken.sign(ctx, &c); err != nil || c.Document == "" {
		t.Fatalf("the retry: %v", err)
	}
	if n := archived(); n != len(ring.Keys) {
		t.Fatalf("archived %d keys, want the ring's %d", n, len(ring.Keys))
	}
}
