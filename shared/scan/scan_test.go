package scan

import (
	"context"
	"encoding/hex"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/citycode/citycode/shared/credential"
	"github.com/citycode/citycode/shared/dynamolite"
	"github.com/citycode/citycode/shared/dynamotest"
	"github.com/citycode/citycode/shared/holders"
	"github.com/citycode/citycode/shared/qrverify"
	"github.com/citycode/citycode/shared/trust"
)

type world struct {
	db      *dynamotest.Env
	holders *holders.Store
	holder  holders.Holder
	scanner *Scanner
	ring    *trust.KeyRing
}

func newWorld(t *testing.T) world {
	t.Helper()
	db := dynamotest.New(t)
	key, _ := hex.DecodeString(db.FunctionEnv(t, "HoldersFunction")["DOCUMENT_KEY"])
	hs := holders.NewStore(db.Client, db.Tables["HoldersTable"], key)
	h, err := hs.Enroll(t.Context(), "scan-test", holders.Enrollment{
		Name: "赵一", DocumentType: holders.DocPassport, DocumentNumber: "E2345678", DateOfBirth: "1991-02-03", Nationality: "SGP"})
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
	dbCfg, err := dynamolite.ConfigFromEnv(db.AppEnv(t, "QrVerifyFunction"))
	if err != nil {
		t.Fatal(err)
	}
	lite, err := dynamolite.New(dbCfg)
	if err != nil {
		t.Fatal(err)
	}
	uses, holdersTable := db.Tables["CodeUsesTable"], db.Tables["HoldersTable"]
	v := qrverify.NewVerifier(trust.StaticSource{List: list}, qrverify.NewDynamoStore(lite, uses, holdersTable), "CN-SH", 30*time.Second)
	return world{db: db, holders: hs, holder: h, scanner: NewScanner(v, uses, holdersTable), ring: ring}
}

// code signs a code for the world's holder.
func (w world) code(t *testing.T, id byte) string {
	t.Helper()
	now := time.Now().Truncate(time.Second)
	ref, _ := holders.Ref(w.holder.ID)
	c := credential.Claims{Issuer: "CN-SH", Subject: ref, IssuedAt: now, NotBefore: now, Expires: now.Add(time.Minute)}
	c.CodeID[0] = id
	signer, err := w.ring.Signer(now)
	if err != nil {
		t.Fatal(err)
	}
	code, err := credential.Encode(signer, c)
	if err != nil {
		t.Fatal(err)
	}
	return code
}

// open is a capability's transaction: the scan's writes, then its own put.
func (w world) open(ctx context.Context, sc Scan, sk string) error {
	writes, err := sc.Writes()
	if err != nil {
		return err
	}
	writes = append(writes, types.TransactWriteItem{Put: &types.Put{
		TableName: aws.String(w.db.Tables["HoldersTable"]),
		Item: map[string]types.AttributeValue{
			"pk": &types.AttributeValueMemberS{Value: "SCANTEST"}, "sk": &types.AttributeValueMemberS{Value: sk},
		},
		ConditionExpression: aws.String("attribute_not_exists(pk)"),
	}})
	_, err = w.db.Client.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: writes})
	return err
}

func TestScanIsAcceptedWithWhatItOpens(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	w := newWorld(t)
	by := qrverify.Scanner{Subject: "desk-1", Org: "hotel-demo"}
	code := w.code(t, 1)

	sc, err := w.scanner.Scan(ctx, code, "hotel", by)
	if err != nil || !sc.Valid || !sc.Home() || sc.HolderID != w.holder.ID || sc.Claims["name"] != "赵一" {
		t.Fatalf("scan = %+v, %v; want valid for %s with the hotel's claims", sc.Result, err, w.holder.ID)
	}
	// The capability's own write fails: the code is not used up.
	if _, err := w.db.Client.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(w.db.Tables["HoldersTable"]), Item: map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: "SCANTEST"}, "sk": &types.AttributeValueMemberS{Value: "taken"},
	}}); err != nil {
		t.Fatal(err)
	}
	if err := w.open(ctx, sc, "taken"); err == nil || Replayed(err) {
		t.Fatalf("a transaction failing on the capability's put: %v; want a failure that is not a replay", err)
	}
	// Accepted once with what it opens; a second desk's transaction fails on the mark.
	if err := w.open(ctx, sc, "stay-1"); err != nil {
		t.Fatalf("the code is still unused: %v", err)
	}
	again, err := w.scanner.Scan(ctx, code, "hotel", by)
	if err != nil || !again.Valid {
		t.Fatalf("the signature still checks: %+v, %v", again.Result, err)
	}
	if err := w.open(ctx, again, "stay-2"); !Replayed(err) {
		t.Fatalf("second acceptance: %v; want Replayed", err)
	}
	log, err := w.holders.AccessLog(ctx, w.holder.ID, 10, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(log.Items) != 1 || log.Items[0].Organisation != "hotel-demo" || log.Items[0].Purpose != "hotel" || log.Items[0].Outcome != "released" {
		t.Errorf("access log = %+v; want the one release to hotel-demo", log.Items)
	}
}

func TestInvalidCodesHaveReasonsAndNoWrites(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	w := newWorld(t)
	sc, err := w.scanner.Scan(ctx, "CC1:NOTACODE", "venue", qrverify.Scanner{Subject: "gate", Org: "library-demo"})
	if err != nil || sc.Valid || sc.Reason != "malformed" {
		t.Fatalf("scan = %+v, %v; want malformed", sc.Result, err)
	}
	if _, err := sc.Writes(); err == nil {
		t.Error("an invalid scan gave writes")
	}
	if _, err := w.scanner.Scan(ctx, w.code(t, 2), "dancing", qrverify.Scanner{}); err == nil {
		t.Error("an unknown purpose was scanned")
	}
}
