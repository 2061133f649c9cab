package qrverify

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"regexp"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/go-cmp/cmp"

	"github.com/citycode/citycode/shared/dynamotest"
	"github.com/citycode/citycode/shared/holders"
)

// The store writes and reads shared/holders' items without it; these tests
// hold it to holders.Store's own reads and writes.

func TestIDFromRefIsHolders(t *testing.T) {
	t.Parallel()
	for range 20 {
		var ref [16]byte
		_, _ = rand.Read(ref[:])
		id := idFromRef(ref)
		back, err := holders.Ref(id)
		if err != nil || back != ref || id != holders.IDFromRef(ref) {
			t.Fatalf("idFromRef(%x) = %s; holders: %s, back %x, %v", ref, id, holders.IDFromRef(ref), back, err)
		}
	}
	if id := newEntryID(); !regexp.MustCompile(`^acc_[a-z2-7]{26}$`).MatchString(id) {
		t.Errorf("entry id %q is not holders' shape", id)
	}
}

// holdersWorld is a test's tables with one holder enrolled through
// holders.Store, whose account holds 700 fen.
func holdersWorld(t *testing.T) (*dynamotest.Env, *holders.Store, holders.Holder, *DynamoStore) {
	t.Helper()
	ctx := t.Context()
	db := dynamotest.New(t)
	key, _ := hex.DecodeString(db.FunctionEnv(t, "HoldersFunction")["DOCUMENT_KEY"])
	hs := holders.NewStore(db.Client, db.Tables["HoldersTable"], key)
	h, err := hs.Enroll(ctx, "store-test", holders.Enrollment{
		Name: "林晓", DocumentType: holders.DocPassport, DocumentNumber: "E7654321", DateOfBirth: "2010-06-01", Nationality: "SGP"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := hs.TopUp(ctx, h.ID, "top_store_test", 700); err != nil {
		t.Fatal(err)
	}
	return db, hs, h, NewDynamoStore(liteClient(t, db, nil), db.Tables["CodeUsesTable"], db.Tables["HoldersTable"])
}

func TestHolderReadsHoldersItems(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	_, hs, h, s := holdersWorld(t)
	got, err := s.Holder(ctx, h.ID)
	if err != nil {
		t.Fatal(err)
	}
	stored, err := hs.Get(ctx, h.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := Holder{ID: stored.ID, Name: stored.Name, DocumentType: stored.DocumentType, DocumentNumber: stored.DocumentNumber,
		DateOfBirth: stored.DateOfBirth, Nationality: stored.Nationality, Status: stored.Status, BalanceFen: 700}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("holder (-holders.Store +qrverify):\n%s", diff)
	}
	if _, err := s.Holder(ctx, idFromRef([16]byte{1})); !errors.Is(err, ErrNoHolder) {
		t.Errorf("an unknown holder: %v, want ErrNoHolder", err)
	}
}

// TestAccessEntryIsHoldersItem writes an entry and finds it through
// holders.Store.AccessLog, and compares the raw item with what holders'
// own attributevalue marshalling makes of the same entry.
func TestAccessEntryIsHoldersItem(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, hs, h, s := holdersWorld(t)
	at := time.Date(2026, 5, 6, 7, 8, 9, 123456000, time.UTC)
	e := AccessEntry{At: at, Organisation: "hotel-demo", Actor: "desk-3", Purpose: "hotel",
		What: []string{ClaimName, ClaimDocumentNumber}, Outcome: "released"}
	if err := s.Accept(ctx, nil, h.ID, &e); err != nil {
		t.Fatal(err)
	}
	page, err := hs.AccessLog(ctx, h.ID, 10, "")
	if err != nil || len(page.Items) != 1 {
		t.Fatalf("holders' access log: %+v, %v; want one entry", page, err)
	}
	read := page.Items[0]
	want := holders.AccessEntry{EntryID: read.EntryID, At: at, Organisation: e.Organisation, Actor: e.Actor, Purpose: e.Purpose, What: e.What, Outcome: e.Outcome}
	if diff := cmp.Diff(want, read); diff != "" {
		t.Errorf("entry read by holders (-written +read):\n%s", diff)
	}

	// The raw item, byte for byte what holders.Store would have written.
	wantItem, err := attributevalue.MarshalMap(want)
	if err != nil {
		t.Fatal(err)
	}
	wantItem["pk"] = &types.AttributeValueMemberS{Value: "HOLDER#" + h.ID}
	wantItem["sk"] = &types.AttributeValueMemberS{Value: "ACCESS#" + holders.TimeKey(at) + "#" + read.EntryID}
	out, err := db.Client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(db.Tables["HoldersTable"]),
		Key: map[string]types.AttributeValue{"pk": wantItem["pk"], "sk": wantItem["sk"]}, ConsistentRead: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	var wantRaw, gotRaw map[string]any
	if err := attributevalue.UnmarshalMap(wantItem, &wantRaw); err != nil {
		t.Fatal(err)
	}
	if err := attributevalue.UnmarshalMap(out.Item, &gotRaw); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(wantRaw, gotRaw); diff != "" || len(out.Item) != len(wantItem) {
		t.Errorf("raw item (-holders' marshalling +qrverify's):\n%s", diff)
	}
	for name, v := range wantItem {
		if got, want := typeName(out.Item[name]), typeName(v); got != want {
			t.Errorf("attribute %s is %s, holders writes %s", name, got, want)
		}
	}
}

func typeName(v types.AttributeValue) string {
	switch v.(type) {
	case *types.AttributeValueMemberS:
		return "S"
	case *types.AttributeValueMemberN:
		return "N"
	case *types.AttributeValueMemberL:
		return "L"
	case *types.AttributeValueMemberSS:
		return "SS"
	case *types.AttributeValueMemberNULL:
		return "NULL"
	}
	return "other"
}

// TestAcceptIsOneWrite: a replayed single-use code is refused whether or
// not an access entry goes with it, and a refused acceptance writes no
// entry.
func TestAcceptIsOneWrite(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	_, hs, h, s := holdersWorld(t)
	entry := &AccessEntry{At: time.Now().UTC(), Organisation: "o", Actor: "a", Purpose: "hotel", What: []string{ClaimName}, Outcome: "released"}
	steps := []struct {
		name    string
		use     Use
		entry   *AccessEntry
		want    error
		entries int // in the log afterwards
	}{
		{"a transit code", Use{Purpose: "transit", Issuer: "CN-SH", CodeID: [8]byte{1}}, nil, nil, 0},
		{"the transit code again", Use{Purpose: "transit", Issuer: "CN-SH", CodeID: [8]byte{1}}, nil, ErrReplayed, 0},
		{"the same code for another purpose", Use{Purpose: "venue", Issuer: "CN-SH", CodeID: [8]byte{1}}, nil, nil, 0},
		{"a hotel code", Use{Purpose: "hotel", Issuer: "CN-SH", CodeID: [8]byte{2}}, entry, nil, 1},
		{"the hotel code again", Use{Purpose: "hotel", Issuer: "CN-SH", CodeID: [8]byte{2}}, entry, ErrReplayed, 1},
		{"another city's hotel code with the same id", Use{Purpose: "hotel", Issuer: "CN-HZ", CodeID: [8]byte{2}}, entry, nil, 2},
	}
	for _, st := range steps {
		st.use.Until = time.Now().Add(time.Hour)
		if err := s.Accept(ctx, &st.use, h.ID, st.entry); !errors.Is(err, st.want) {
			t.Errorf("%s: Accept = %v, want %v", st.name, err, st.want)
		}
		page, err := hs.AccessLog(ctx, h.ID, 10, "")
		if err != nil || len(page.Items) != st.entries {
			t.Errorf("%s: %d entries, %v; want %d", st.name, len(page.Items), err, st.entries)
		}
	}
	if err := s.Accept(context.Background(), nil, h.ID, nil); err != nil {
		t.Errorf("accepting nothing: %v", err)
	}
}
