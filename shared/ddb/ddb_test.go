package ddb_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/citycode/citycode/shared/ddb"
	"github.com/citycode/citycode/shared/dynamotest"
)

type thing struct {
	Name  string `dynamodbav:"name"`
	Count int64  `dynamodbav:"count"`
	// PK is overwritten by Item's key.
	PK string `dynamodbav:"pk"`
}

func transact(ctx context.Context, db *dynamodb.Client, w ...types.TransactWriteItem) error {
	_, err := db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: w})
	return err
}

func TestValuesAndItem(t *testing.T) {
	if got := ddb.S("x").(*types.AttributeValueMemberS).Value; got != "x" {
		t.Errorf("S = %q", got)
	}
	if got := ddb.N(-42).(*types.AttributeValueMemberN).Value; got != "-42" {
		t.Errorf("N = %q", got)
	}
	k := ddb.Key("P", "S")
	if len(k) != 2 || k["pk"].(*types.AttributeValueMemberS).Value != "P" || k["sk"].(*types.AttributeValueMemberS).Value != "S" {
		t.Errorf("Key = %#v", k)
	}
	it, err := ddb.Item("P", "S", thing{Name: "n", Count: 3, PK: "spoof"})
	if err != nil {
		t.Fatal(err)
	}
	if it["pk"].(*types.AttributeValueMemberS).Value != "P" || it["name"].(*types.AttributeValueMemberS).Value != "n" ||
		it["count"].(*types.AttributeValueMemberN).Value != "3" {
		t.Errorf("Item = %#v", it)
	}
	if _, err := ddb.Item("P", "S", map[[2]int]int{{1, 2}: 3}); err == nil {
		t.Error("Item marshalled a map with array keys")
	}
}

func TestPutNewAndCancelled(t *testing.T) {
	db := dynamotest.New(t)
	table, ctx := db.Tables["HoldersTable"], t.Context()

	first, err := ddb.Item("P#1", "A", thing{Name: "first"})
	if err != nil {
		t.Fatal(err)
	}
	if err := transact(ctx, db.Client, ddb.PutNew(table, first)); err != nil {
		t.Fatal(err)
	}
	if got := ddb.Cancelled(nil); got != nil {
		t.Errorf("Cancelled(nil) = %v", got)
	}
	if got := ddb.Cancelled(errors.New("boom")); got != nil {
		t.Errorf("Cancelled(other) = %v", got)
	}

	// Item 1 is new, item 2 exists already: only item 2 failed.
	second, _ := ddb.Item("P#1", "B", thing{Name: "second"})
	again, _ := ddb.Item("P#1", "A", thing{Name: "replaced?"})
	err = transact(ctx, db.Client,
		ddb.Put(table, ddb.Key("P#1", "C")), ddb.PutNew(table, second), ddb.PutNew(table, again))
	if err == nil {
		t.Fatal("PutNew replaced an item")
	}
	if got := ddb.Cancelled(fmt.Errorf("wrapped: %w", err)); len(got) != 1 || !got[2] {
		t.Errorf("Cancelled = %v, want item 2", got)
	}
	if ddb.IsConflict(err) {
		t.Error("a failed condition is not a conflict")
	}
	out, err := db.Client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), Key: ddb.Key("P#1", "A"), ConsistentRead: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	var got thing
	if err := attributevalue.UnmarshalMap(out.Item, &got); err != nil || got.Name != "first" {
		t.Errorf("after a refused PutNew: %+v, %v", got, err)
	}

	// Put replaces.
	if err := transact(ctx, db.Client, ddb.Put(table, again)); err != nil {
		t.Fatalf("Put: %v", err)
	}
}

// TestIsConflict: DynamoDB Local serialises transactions rather than
// cancelling one with TransactionConflict (racing 16 transactions on one
// item for 20 s never did), so a conflict is DynamoDB's cancellation as it
// gives it: one reason per item, "None" for the items that were fine. The
// real cancellation of a failed condition is not a conflict
// (TestPutNewAndCancelled).
func TestIsConflict(t *testing.T) {
	cancel := func(codes ...string) error {
		e := &types.TransactionCanceledException{Message: aws.String("Transaction cancelled")}
		for _, c := range codes {
			e.CancellationReasons = append(e.CancellationReasons, types.CancellationReason{Code: aws.String(c)})
		}
		return fmt.Errorf("wrapped: %w", e)
	}
	for _, tc := range []struct {
		name     string
		err      error
		conflict bool
		failed   map[int]bool
	}{
		{"nil", nil, false, nil},
		{"another error", errors.New("boom"), false, nil},
		{"a conflict", cancel("None", "TransactionConflict", "None"), true, map[int]bool{}},
		{"a conflict and a failed condition", cancel("ConditionalCheckFailed", "TransactionConflict"), true, map[int]bool{0: true}},
		{"failed conditions", cancel("None", "ConditionalCheckFailed", "ConditionalCheckFailed"), false, map[int]bool{1: true, 2: true}},
		{"no reasons", cancel(), false, map[int]bool{}},
	} {
		if got := ddb.IsConflict(tc.err); got != tc.conflict {
			t.Errorf("%s: IsConflict = %v", tc.name, got)
		}
		got := ddb.Cancelled(tc.err)
		if (got == nil) != (tc.failed == nil) || len(got) != len(tc.failed) {
			t.Errorf("%s: Cancelled = %#v, want %#v", tc.name, got, tc.failed)
		}
		for i := range tc.failed {
			if !got[i] {
				t.Errorf("%s: Cancelled = %v, want %v", tc.name, got, tc.failed)
			}
		}
	}
}

type entry struct {
	SK string `dynamodbav:"sk"`
	N  int64  `dynamodbav:"n"`
}

func TestQueryPage(t *testing.T) {
	db := dynamotest.New(t)
	table, ctx := db.Tables["HoldersTable"], t.Context()
	for i := range 5 {
		for _, p := range []string{"A#", "B#"} {
			it, _ := ddb.Item("H#1", fmt.Sprintf("%s%02d", p, i), map[string]int64{"n": int64(i)})
			if err := transact(ctx, db.Client, ddb.PutNew(table, it)); err != nil {
				t.Fatal(err)
			}
		}
	}
	other, _ := ddb.Item("H#2", "A#99", map[string]int64{"n": 99})
	if err := transact(ctx, db.Client, ddb.PutNew(table, other)); err != nil {
		t.Fatal(err)
	}

	list := func(q ddb.PageQuery) ([]string, string) {
		t.Helper()
		var sks []string
		cursor, first := "", ""
		for pages := 0; ; pages++ {
			page, err := ddb.QueryPage[entry](ctx, db.Client, q, 2, cursor)
			if err != nil {
				t.Fatal(err)
			}
			if page.Items == nil {
				t.Fatal("nil Items")
			}
			for _, e := range page.Items {
				sks = append(sks, e.SK)
			}
			if pages == 0 {
				first = page.NextCursor
			}
			if page.NextCursor == "" || pages > 5 {
				return sks, first
			}
			cursor = page.NextCursor
		}
	}
	a := ddb.PageQuery{Table: table, PK: "H#1", Prefix: "A#"}
	got, cursorA := list(a)
	if want := []string{"A#04", "A#03", "A#02", "A#01", "A#00"}; !slices.Equal(got, want) {
		t.Errorf("newest first: %v, want %v", got, want)
	}
	got, _ = list(ddb.PageQuery{Table: table, PK: "H#1", Prefix: "B#", Forward: true, Consistent: true})
	if want := []string{"B#00", "B#01", "B#02", "B#03", "B#04"}; !slices.Equal(got, want) {
		t.Errorf("forward: %v, want %v", got, want)
	}
	if cursorA == "" {
		t.Fatal("no cursor after a full page")
	}

	// A's cursor stays in A: refused for B, and for a prefix that A's
	// sort keys do not start with.
	for _, q := range []ddb.PageQuery{
		{Table: table, PK: "H#1", Prefix: "B#"},
		{Table: table, PK: "H#1", Prefix: "A#09"},
	} {
		if _, err := ddb.QueryPage[entry](ctx, db.Client, q, 2, cursorA); !errors.Is(err, ddb.ErrCorruptCursor) {
			t.Errorf("A's cursor for %q: %v, want ErrCorruptCursor", q.Prefix, err)
		}
	}
	for _, c := range []string{"!!", "QiMwMw", "QSMwMw=="} { // not base64url; "B#03"; padded
		if _, err := ddb.QueryItems(ctx, db.Client, a, 2, c); !errors.Is(err, ddb.ErrCorruptCursor) {
			t.Errorf("cursor %q: %v, want ErrCorruptCursor", c, err)
		}
	}
	// A cursor carries only the sort key: another partition's listing
	// resumes in its own partition, never in H#1.
	page, err := ddb.QueryPage[entry](ctx, db.Client, ddb.PageQuery{Table: table, PK: "H#2", Prefix: "A#"}, 10, cursorA)
	if err != nil || len(page.Items) != 0 {
		t.Errorf("H#2 after A#03: %+v, %v", page, err)
	}

	raw, err := ddb.QueryItems(ctx, db.Client, a, 10, "")
	if err != nil || len(raw.Items) != 5 || raw.NextCursor != "" {
		t.Errorf("QueryItems: %d items, cursor %q, %v", len(raw.Items), raw.NextCursor, err)
	}
	if _, err := ddb.QueryPage[entry](ctx, db.Client, ddb.PageQuery{Table: "no-such-table", PK: "H#1", Prefix: "A#"}, 2, ""); err == nil {
		t.Error("query of a missing table succeeded")
	}
}

func TestCursorAndStartKey(t *testing.T) {
	if c := ddb.Cursor(nil); c != "" {
		t.Errorf("Cursor(nil) = %q", c)
	}
	c := ddb.Cursor(ddb.Key("P", "2026-01-02"))
	k, err := ddb.StartKey("Q", c, func(sk string) bool { return sk == "2026-01-02" })
	if err != nil || k["pk"].(*types.AttributeValueMemberS).Value != "Q" || k["sk"].(*types.AttributeValueMemberS).Value != "2026-01-02" {
		t.Errorf("StartKey = %v, %v", k, err)
	}
	if _, err := ddb.StartKey("Q", c, func(string) bool { return false }); !errors.Is(err, ddb.ErrCorruptCursor) {
		t.Errorf("refused sort key: %v", err)
	}
	if k, err := ddb.StartKey("Q", "", func(string) bool { return false }); k != nil || err != nil {
		t.Errorf("empty cursor: %v, %v", k, err)
	}
}

func TestGet(t *testing.T) {
	db := dynamotest.New(t)
	table, ctx := db.Tables["HoldersTable"], t.Context()
	it, err := ddb.Item("P#g", "A", thing{Name: "stored", Count: 7})
	if err != nil {
		t.Fatal(err)
	}
	if err := transact(ctx, db.Client, ddb.Put(table, it)); err != nil {
		t.Fatal(err)
	}
	var got thing
	if found, err := ddb.Get(ctx, db.Client, table, "P#g", "A", &got); err != nil || !found || got.Name != "stored" || got.Count != 7 {
		t.Errorf("Get = %v, %v, %+v", found, err, got)
	}
	none := thing{Name: "untouched"}
	if found, err := ddb.Get(ctx, db.Client, table, "P#g", "missing", &none); err != nil || found || none.Name != "untouched" {
		t.Errorf("Get(missing) = %v, %v, %+v", found, err, none)
	}
}
