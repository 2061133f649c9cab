package qrverify

import (
	"context"
	"encoding/hex"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/citycode/citycode/shared/credential"
	"github.com/citycode/citycode/shared/dynamolite"
	"github.com/citycode/citycode/shared/dynamotest"
	"github.com/citycode/citycode/shared/holders"
	"github.com/citycode/citycode/shared/trust"
)

// TestOneReadAndOneWritePerVerification counts the storage calls of each
// kind of verification against DynamoDB Local.
func TestOneReadAndOneWritePerVerification(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := dynamotest.New(t)
	key, _ := hex.DecodeString(db.FunctionEnv(t, "HoldersFunction")["DOCUMENT_KEY"])
	h, err := holders.NewStore(db.Client, db.Tables["HoldersTable"], key).Enroll(ctx, "counted", holders.Enrollment{
		Name: "计数", DocumentType: holders.DocPassport, DocumentNumber: "E1234567", DateOfBirth: "1990-01-01", Nationality: "GBR"})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	ring, err := trust.Generate("CN-SH", "Shanghai", now.Add(-time.Hour), 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	_, list, err := trust.Publish(ring, nil, 1, now, time.Hour, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	counter := &dynamotest.CallCounter{}
	counted := liteClient(t, db, &http.Client{Transport: counter})
	v := NewVerifier(trust.StaticSource{List: list}, NewDynamoStore(counted, db.Tables["CodeUsesTable"], db.Tables["HoldersTable"]), "CN-SH", 30*time.Second)
	signer, _ := ring.Signer(now)
	ref, _ := holders.Ref(h.ID)

	for _, tc := range []struct {
		purpose string
		want    map[string]int
	}{
		{"hotel", map[string]int{"BatchGetItem": 1, "TransactWriteItems": 1}}, // single-use mark + access log
		{"transit", map[string]int{"BatchGetItem": 1, "PutItem": 1}},          // single-use mark, nothing personal
		{"government", map[string]int{"BatchGetItem": 1, "PutItem": 1}},       // access log, not single-use
	} {
		c := credential.Claims{Issuer: "CN-SH", Subject: ref, IssuedAt: now.Truncate(time.Second), NotBefore: now.Truncate(time.Second), Expires: now.Add(time.Minute).Truncate(time.Second)}
		c.CodeID[0] = byte(len(tc.purpose))
		code, err := credential.Encode(signer, c)
		if err != nil {
			t.Fatal(err)
		}
		counter.Take()
		res, err := v.Verify(ctx, code, purposes[tc.purpose], Scanner{Subject: "s", Org: "o"})
		if err != nil || !res.Valid {
			t.Fatalf("%s: %+v %v", tc.purpose, res, err)
		}
		if diff := cmp.Diff(tc.want, counter.Take()); diff != "" {
			t.Errorf("%s: storage calls (-want +got):\n%s", tc.purpose, diff)
		}
	}
}

// liteClient is a dynamolite client of the test's DynamoDB Local, sending
// through hc (nil: its own).
func liteClient(t *testing.T, db *dynamotest.Env, hc *http.Client) *dynamolite.Client {
	t.Helper()
	cfg, err := dynamolite.ConfigFromEnv(db.AppEnv(t, "QrVerifyFunction"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.HTTPClient = hc
	c, err := dynamolite.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
