package holders

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/citycode/citycode/shared/ddb"
	"github.com/citycode/citycode/shared/dynamotest"
	"github.com/citycode/citycode/shared/outbox"
)

func newTestStore(t *testing.T) *Store {
	t.Helper()
	s, _ := newEventedStore(t)
	return s
}

// newEventedStore is a Store with its outbox, and the test's tables.
func newEventedStore(t *testing.T) (*Store, *dynamotest.Env) {
	t.Helper()
	db := dynamotest.New(t)
	key, err := hex.DecodeString(db.FunctionEnv(t, "HoldersFunction")["DOCUMENT_KEY"])
	if err != nil {
		t.Fatal(err)
	}
	ob := outbox.New(db.Client, db.Tables["EventsTable"], outbox.DefaultRetention)
	return NewStore(db.Client, db.Tables["HoldersTable"], key).WithOutbox(ob), db
}

func adult(n int) Enrollment {
	return Enrollment{Name: fmt.Sprintf("测试%d", n), DocumentType: DocResidentID,
		DocumentNumber: residentID(fmt.Sprintf("31010119800101%03d", n)), DateOfBirth: "1980-01-01", Nationality: "CHN"}
}

func child(n int) DependantEnrollment {
	return DependantEnrollment{Enrollment: Enrollment{Name: fmt.Sprintf("孩子%d", n), DocumentType: DocResidentID,
		DocumentNumber: residentID(fmt.Sprintf("31010120150101%03d", n)), DateOfBirth: "2015-01-01", Nationality: "CHN"}, Relationship: "child"}
}

func TestEnrollIsAllOrNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newTestStore(t)
	h, err := s.Enroll(ctx, "sub-a", adult(1))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Enroll(ctx, "sub-a", adult(2)); !errors.Is(err, ErrAlreadyEnrolled) {
		t.Errorf("same login again: %v, want ErrAlreadyEnrolled", err)
	}
	if _, err := s.Enroll(ctx, "sub-b", adult(1)); !errors.Is(err, ErrDocumentTaken) {
		t.Errorf("same document, other login: %v, want ErrDocumentTaken", err)
	}
	// The refused enrollment left nothing behind: sub-b is still free, and
	// adult(2)'s document was not taken by the failed first attempt.
	if _, err := s.HolderIDForLogin(ctx, "sub-b"); !errors.Is(err, ErrNotEnrolled) {
		t.Errorf("refused login was half-written: %v", err)
	}
	if _, err := s.Enroll(ctx, "sub-b", adult(2)); err != nil {
		t.Errorf("document of a refused enrollment stayed taken: %v", err)
	}
	id, err := s.HolderIDForLogin(ctx, "sub-a")
	if err != nil || id != h.ID {
		t.Errorf("login sub-a -> %q, %v; want %q", id, err, h.ID)
	}
}

func TestTwentyConcurrentTopUpsAddUpExactly(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newTestStore(t)
	h, err := s.Enroll(ctx, "sub-topup", adult(3))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.TopUp(ctx, h.ID, fmt.Sprintf("top_%02d", i), int64(100+i))
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("top-up: %v", err)
		}
	}
	acct, err := s.Account(ctx, h.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := int64(0)
	for i := range 20 {
		want += int64(100 + i)
	}
	if acct.BalanceFen != want {
		t.Errorf("balance = %d, want %d", acct.BalanceFen, want)
	}
	assertLedgerMatches(t, s, h.ID, acct.BalanceFen, 20)
}

// assertLedgerMatches checks the ledger has n entries summing to balance and
// that each entry's balance_after chains from the one before.
func assertLedgerMatches(t *testing.T, s *Store, id string, balance int64, n int) {
	t.Helper()
	var all []Entry
	cursor := ""
	for {
		p, err := s.Entries(context.Background(), id, 7, cursor)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, p.Items...)
		if p.NextCursor == "" {
			break
		}
		cursor = p.NextCursor
	}
	sum := int64(0)
	afters := map[int64]bool{}
	for _, e := range all {
		sum += e.AmountFen
		afters[e.BalanceAfterFen] = true
	}
	if len(all) != n || sum != balance {
		t.Errorf("ledger: %d entries summing to %d, want %d summing to %d", len(all), sum, n, balance)
	}
	if len(afters) != len(all) || !afters[balance] {
		t.Errorf("balance_after values are not a chain ending at %d: %v", balance, afters)
	}
}

func TestTopUpWithOneEntryIDAppliesOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newTestStore(t)
	h, err := s.Enroll(ctx, "sub-once", adult(4))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	results := make(chan Entry, 10)
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e, err := s.TopUp(ctx, h.ID, "top_same", 500)
			if err != nil {
				t.Errorf("top-up: %v", err)
			}
			results <- e
		}()
	}
	wg.Wait()
	close(results)
	for e := range results {
		if e.EntryID != "top_same" || e.BalanceAfterFen != 500 {
			t.Errorf("retry answered %+v, want the first entry", e)
		}
	}
	acct, _ := s.Account(ctx, h.ID)
	if acct.BalanceFen != 500 {
		t.Errorf("balance = %d, want 500", acct.BalanceFen)
	}
	assertLedgerMatches(t, s, h.ID, 500, 1)
}

func TestGuardianshipIsPrivate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newTestStore(t)
	guardian, _ := s.Enroll(ctx, "sub-guardian", adult(5))
	other, _ := s.Enroll(ctx, "sub-other", adult(6))
	dep, err := s.AddDependant(ctx, guardian.ID, child(1))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.Dependant(ctx, guardian.ID, dep.ID); err != nil || got.Name != "孩子1" || got.Relationship != "child" {
		t.Errorf("guardian reads dependant: %+v, %v", got, err)
	}
	if _, err := s.Dependant(ctx, other.ID, dep.ID); !errors.Is(err, ErrDependantNotFound) {
		t.Errorf("other resident reads dependant: %v, want ErrDependantNotFound", err)
	}
	name := "改名"
	if _, err := s.UpdateDependant(ctx, other.ID, dep.ID, DependantUpdate{Name: &name}); !errors.Is(err, ErrDependantNotFound) {
		t.Errorf("other resident renames dependant: %v, want ErrDependantNotFound", err)
	}
	if got, _ := s.Get(ctx, dep.ID); got.Name != "孩子1" {
		t.Errorf("refused rename changed the name to %q", got.Name)
	}
	if got, err := s.UpdateDependant(ctx, guardian.ID, dep.ID, DependantUpdate{Name: &name}); err != nil || got.Name != name {
		t.Errorf("guardian renames: %+v, %v", got, err)
	}
	deps, err := s.Dependants(ctx, other.ID)
	if err != nil || len(deps) != 0 {
		t.Errorf("other resident's dependants: %+v, %v", deps, err)
	}
}

func TestDependantLimitAndSuspendedGuardian(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newTestStore(t)
	g, _ := s.Enroll(ctx, "sub-many", adult(7))
	for i := range MaxDependants {
		if _, err := s.AddDependant(ctx, g.ID, child(100+i)); err != nil {
			t.Fatalf("dependant %d: %v", i, err)
		}
	}
	if _, err := s.AddDependant(ctx, g.ID, child(200)); !errors.Is(err, ErrTooManyDependants) {
		t.Errorf("11th dependant: %v, want ErrTooManyDependants", err)
	}
	// The refused dependant's document is still free.
	g2, _ := s.Enroll(ctx, "sub-few", adult(8))
	if _, err := s.AddDependant(ctx, g2.ID, child(200)); err != nil {
		t.Errorf("document of a refused dependant stayed taken: %v", err)
	}
	suspend(t, s, g2.ID)
	if _, err := s.AddDependant(ctx, g2.ID, child(201)); !errors.Is(err, ErrNotActive) {
		t.Errorf("suspended guardian adds dependant: %v, want ErrNotActive", err)
	}
	if _, err := s.TopUp(ctx, g2.ID, "top_suspended", 100); !errors.Is(err, ErrNotActive) {
		t.Errorf("suspended holder tops up: %v, want ErrNotActive", err)
	}
}

// suspend marks a holder suspended, as an administrator would.
func suspend(t *testing.T, s *Store, id string) {
	t.Helper()
	_, err := s.db.UpdateItem(context.Background(), &dynamodb.UpdateItemInput{
		TableName: aws.String(s.table), Key: ddb.Key(holderPK(id), skProfile),
		UpdateExpression:          aws.String("SET #status = :s"),
		ExpressionAttributeNames:  map[string]string{"#status": "status"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":s": ddb.S(StatusSuspended)},
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestCursorCannotLeaveItsList(t *testing.T) {
	t.Parallel()
	s := newTestStore(t)
	for _, c := range []string{"!!!", "UFJPRklMRQ", "QUNDT1VOVA"} { // not base64; "PROFILE"; "ACCOUNT"
		if _, err := s.Entries(context.Background(), "hdr_x", 10, c); !errors.Is(err, errCorruptCursor) {
			t.Errorf("cursor %q: %v, want errCorruptCursor", c, err)
		}
	}
}
