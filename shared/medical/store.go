package medical

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/uuid"

	"github.com/citycode/citycode/shared/awsclient"
	"github.com/citycode/citycode/shared/medpolicy"
	"github.com/citycode/citycode/shared/outbox"
)

// Store keeps profiles, visits and settlements in MedicalTable (layout in
// infra/medical.md). Exactly-once rules are conditions on its writes.
type Store struct {
	db       *dynamodb.Client
	table    string
	outbox   *outbox.Outbox
	policies *medpolicy.Policies
	now      func() time.Time
}

// NewStore returns a Store on table, splitting bills by policies and
// writing events through ob.
func NewStore(db *dynamodb.Client, table string, ob *outbox.Outbox, policies *medpolicy.Policies) *Store {
	return &Store{db: db, table: table, outbox: ob, policies: policies, now: func() time.Time { return time.Now().UTC() }}
}

const (
	skInsurance  = "INSURANCE"
	skVisit      = "VISIT#"
	skBill       = "BILL#"
	skSettlement = "SETTLEMENT#"
	// maxAttempts bounds the retries of a profile write under contention.
	maxAttempts = 50
)

func holderPK(id string) string { return "HOLDER#" + id }
func orgPK(org string) string   { return "ORG#" + org }

func key(pk, sk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"pk": str(pk), "sk": str(sk)}
}

func str(s string) types.AttributeValue { return &types.AttributeValueMemberS{Value: s} }
func num(n int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}

func item(pk, sk string, v any) (map[string]types.AttributeValue, error) {
	m, err := attributevalue.MarshalMap(v)
	if err != nil {
		return nil, fmt.Errorf("marshal %s: %w", sk, err)
	}
	m["pk"], m["sk"] = str(pk), str(sk)
	return m, nil
}

func (s *Store) putNew(it map[string]types.AttributeValue) types.TransactWriteItem {
	return types.TransactWriteItem{Put: &types.Put{TableName: aws.String(s.table), Item: it,
		ConditionExpression: aws.String("attribute_not_exists(pk)")}}
}

// get reads one item into v; found is false when there is none.
func (s *Store) get(ctx context.Context, pk, sk string, v any) (found bool, err error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.table), Key: key(pk, sk), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return false, fmt.Errorf("get %s: %w", sk, err)
	}
	if out.Item == nil {
		return false, nil
	}
	if err := attributevalue.UnmarshalMap(out.Item, v); err != nil {
		return false, fmt.Errorf("unmarshal %s: %w", sk, err)
	}
	return true, nil
}

// PutProfile creates p (the bureau's enrollment of a holder in a scheme;
// the seeder's); ErrProfileExists if the holder has one.
func (s *Store) PutProfile(ctx context.Context, p Profile) error {
	if p.HolderID == "" || p.City == "" || p.PersonalAccountFen < 0 ||
		(p.Scheme != string(medpolicy.Employee) && p.Scheme != string(medpolicy.Resident)) {
		return fmt.Errorf("put profile: %+v needs a holder, a city, a scheme (employee or resident) and no negative balance", p)
	}
	p.Version, p.UpdatedAt = 0, s.now()
	it, err := item(holderPK(p.HolderID), skInsurance, p)
	if err != nil {
		return err
	}
	_, err = s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{s.putNew(it)}})
	if len(cancelled(err)) > 0 {
		return ErrProfileExists
	}
	if err != nil {
		return fmt.Errorf("put profile: %w", err)
	}
	return nil
}

// Profile reads a holder's insurance profile; ErrNotInsured if none.
func (s *Store) Profile(ctx context.Context, holderID string) (Profile, error) {
	var p Profile
	found, err := s.get(ctx, holderPK(holderID), skInsurance, &p)
	if err == nil && !found {
		err = ErrNotInsured
	}
	return p, err
}

// profileWrite replaces the profile's money and totals with next's,
// conditional on the version read (prev), so a concurrent change cancels.
func (s *Store) profileWrite(prev, next Profile) (types.TransactWriteItem, error) {
	totals, err := attributevalue.Marshal(next.Totals)
	if err != nil {
		return types.TransactWriteItem{}, fmt.Errorf("marshal totals: %w", err)
	}
	return types.TransactWriteItem{Update: &types.Update{
		TableName: aws.String(s.table), Key: key(holderPK(prev.HolderID), skInsurance),
		UpdateExpression:    aws.String("SET personal_account_fen = :pa, totals = :totals, version = :next, updated_at = :now"),
		ConditionExpression: aws.String("version = :version"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pa": num(next.PersonalAccountFen), ":totals": totals, ":next": num(prev.Version + 1),
			":version": num(prev.Version), ":now": str(s.now().Format(time.RFC3339Nano)),
		},
	}}, nil
}

// Accept is what puts a scanned code to use: the writes that go first in
// the transaction of what the scan opens (shared/scan's Scan.Writes).
type Accept func() ([]types.TransactWriteItem, error)

// OpenVisit registers v in one transaction with accept's writes (the
// code's single-use mark and the access-log entry); ErrReplayed if the
// code was accepted before.
func (s *Store) OpenVisit(ctx context.Context, v Visit, accept Accept) (Visit, error) {
	v.ID, v.OpenedAt = "vst_"+hexID(uuid.New()), s.now()
	writes, err := accept()
	if err != nil {
		return Visit{}, err
	}
	it, err := item(orgPK(v.Org), skVisit+v.ID, v)
	if err != nil {
		return Visit{}, err
	}
	_, err = s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: append(writes, s.putNew(it))})
	switch {
	case err == nil:
		return v, nil
	case len(writes) > 0 && cancelled(err)[0]:
		return Visit{}, ErrReplayed
	}
	return Visit{}, fmt.Errorf("open visit: %w", err)
}

// Visit reads org's visit id; ErrVisitNotFound for any other organisation's.
func (s *Store) Visit(ctx context.Context, org, id string) (Visit, error) {
	var v Visit
	found, err := s.get(ctx, orgPK(org), skVisit+id, &v)
	if err == nil && !found {
		err = ErrVisitNotFound
	}
	return v, err
}

// Charge is a bill to split: where, for whom, what.
type Charge struct {
	Provider  Provider
	BillID    string // the provider's bill (sale) id; empty for an estimate
	VisitID   string // empty for a pharmacy sale
	VisitType medpolicy.VisitType
	HolderID  string
	Lines     []medpolicy.Line
	// Accept, when set, puts a scanned code to use in the settlement's
	// transaction (a pharmacy sale).
	Accept Accept
}

func (c Charge) fingerprint() string { return fingerprint(c.VisitID, c.Lines) }

// Estimate splits c as settling it now would, and changes nothing.
func (s *Store) Estimate(ctx context.Context, c Charge) (Settlement, error) {
	p, err := s.Profile(ctx, c.HolderID)
	if err != nil {
		return Settlement{}, err
	}
	st, _, err := s.split(c, p)
	return st, err
}

// split is c's settlement for a member whose profile is p, and the profile
// after it.
func (s *Store) split(c Charge, p Profile) (Settlement, Profile, error) {
	if p.City != c.Provider.City {
		return Settlement{}, Profile{}, ErrNotInsured
	}
	at := s.now()
	policy, err := s.policies.For(p.City, at)
	if err != nil {
		return Settlement{}, Profile{}, err
	}
	sp, err := policy.Split(medpolicy.Bill{VisitType: c.VisitType, Tier: c.Provider.Tier, Lines: c.Lines, Date: at}, p.member())
	if err != nil {
		return Settlement{}, Profile{}, err
	}
	st := Settlement{BillID: c.BillID, VisitID: c.VisitID, Org: c.Provider.Org, ProviderKind: c.Provider.Kind,
		Tier: c.Provider.Tier, VisitType: string(c.VisitType), HolderID: c.HolderID, Scheme: p.Scheme, Retired: p.Retired,
		Policy: sp.Policy, Status: StatusCompleted, Total: Amounts(sp.Total), Fingerprint: c.fingerprint(), SettledAt: at}
	if len(sp.Lines) != len(c.Lines) {
		return Settlement{}, Profile{}, fmt.Errorf("split: %d lines for a bill of %d", len(sp.Lines), len(c.Lines))
	}
	var sum Amounts
	for i, l := range c.Lines {
		a := Amounts(sp.Lines[i].Amounts)
		if !a.consistent() || a.Submitted != l.AmountFen {
			return Settlement{}, Profile{}, fmt.Errorf("split: line %d does not add up: %+v", i, a)
		}
		sum = sum.plus(a)
		st.Lines = append(st.Lines, Line{Sequence: i + 1, ItemCode: l.ItemCode, Category: string(l.Category),
			Quantity: l.Quantity, AmountFen: l.AmountFen, Adjudication: a})
	}
	if sum != st.Total || !st.Total.consistent() {
		return Settlement{}, Profile{}, fmt.Errorf("split: the lines %+v do not add up to the total %+v", sum, st.Total)
	}
	before := p.Totals
	if before.Year != sp.After.Year {
		before = Totals{Year: sp.After.Year}
	}
	after := p
	after.Totals, after.PersonalAccountFen = Totals(sp.After), sp.PersonalAccountAfterFen
	st.Changes = Changes{Year: sp.After.Year,
		OutpatientDeductibleFen: after.Totals.OutpatientDeductibleMetFen - before.OutpatientDeductibleMetFen,
		InpatientDeductibleFen:  after.Totals.InpatientDeductibleMetFen - before.InpatientDeductibleMetFen,
		FundPaidFen:             after.Totals.FundPaidFen - before.FundPaidFen,
		PersonalAccountFen:      p.PersonalAccountFen - after.PersonalAccountFen}
	if st.Changes.PersonalAccountFen != st.Total.PersonalAccount || st.Changes.FundPaidFen != st.Total.Benefit {
		return Settlement{}, Profile{}, fmt.Errorf("split: the account and totals change by %+v, not by the split %+v", st.Changes, st.Total)
	}
	return st, after, nil
}

type billMarker struct {
	SettlementID string `dynamodbav:"settlement_id"`
	Fingerprint  string `dynamodbav:"fingerprint"`
}

// Settled is the settlement of c's bill id, if it was settled before:
// nil if not, ErrBillReused if with another bill.
func (s *Store) Settled(ctx context.Context, c Charge) (*Settlement, error) {
	var m billMarker
	found, err := s.get(ctx, orgPK(c.Provider.Org), skBill+c.BillID, &m)
	if err != nil || !found {
		return nil, err
	}
	if m.Fingerprint != c.fingerprint() {
		return nil, ErrBillReused
	}
	st, err := s.Settlement(ctx, c.Provider.Org, m.SettlementID)
	if err != nil {
		return nil, err
	}
	return &st, nil
}

// Settle splits c and writes, in one transaction: the bill marker (so a
// bill id settles once), the settlement, the member's new totals and
// personal account (conditional on the profile's version) and the event.
// A concurrent change of the profile makes it read the profile again,
// split again and retry. The same bill id again returns the first
// settlement (created false) when the bill is the same, ErrBillReused
// when it is not.
func (s *Store) Settle(ctx context.Context, c Charge) (Settlement, bool, error) {
	for attempt := 1; ; attempt++ {
		if prev, err := s.Settled(ctx, c); err != nil || prev != nil {
			if err != nil {
				return Settlement{}, false, err
			}
			return *prev, false, nil
		}
		p, err := s.Profile(ctx, c.HolderID)
		if err != nil {
			return Settlement{}, false, err
		}
		st, after, err := s.split(c, p)
		if err != nil {
			return Settlement{}, false, err
		}
		st.ID = "stl_" + hexID(uuid.Must(uuid.NewV7()))
		var own []types.TransactWriteItem
		if c.Accept != nil {
			if own, err = c.Accept(); err != nil {
				return Settlement{}, false, err
			}
		}
		first := len(own)
		marker, err := item(orgPK(st.Org), skBill+st.BillID, billMarker{SettlementID: st.ID, Fingerprint: st.Fingerprint})
		if err != nil {
			return Settlement{}, false, err
		}
		record, err := item(orgPK(st.Org), skSettlement+st.ID, st)
		if err != nil {
			return Settlement{}, false, err
		}
		profile, err := s.profileWrite(p, after)
		if err != nil {
			return Settlement{}, false, err
		}
		own = append(own, s.putNew(marker), s.putNew(record), profile)
		err = s.transact(ctx, own, completed(st))
		failed := cancelled(err)
		switch {
		case err == nil:
			return st, true, nil
		case failed[first]:
			continue // settled meanwhile: the next round answers it
		case first > 0 && failed[0]:
			return Settlement{}, false, ErrReplayed
		case !s.contended(err, failed, first+2):
			return Settlement{}, false, fmt.Errorf("settle: %w", err)
		}
		if err := s.backoff(ctx, attempt); err != nil {
			return Settlement{}, false, err
		}
	}
}

// Settlement reads org's settlement id; ErrSettlementNotFound for any
// other organisation's.
func (s *Store) Settlement(ctx context.Context, org, id string) (Settlement, error) {
	var st Settlement
	found, err := s.get(ctx, orgPK(org), skSettlement+id, &st)
	if err == nil && !found {
		err = ErrSettlementNotFound
	}
	return st, err
}

// Reverse reverses org's settlement id in full, once: in one transaction
// the settlement turns reversed (conditional on being completed), the
// member's profile gets back exactly what the settlement changed
// (conditional on its version), and the event is written. Reversing a
// reversed settlement returns it as it is (created false).
func (s *Store) Reverse(ctx context.Context, org, id, reason string) (Settlement, bool, error) {
	for attempt := 1; ; attempt++ {
		st, err := s.Settlement(ctx, org, id)
		if err != nil || st.Status == StatusReversed {
			return st, false, err
		}
		p, err := s.Profile(ctx, st.HolderID)
		if err != nil {
			return Settlement{}, false, err
		}
		st.Status, st.Reversal = StatusReversed, &Reversal{ID: "rev_" + hexID(uuid.New()), Reason: reason, At: s.now()}
		rev, err := attributevalue.Marshal(st.Reversal)
		if err != nil {
			return Settlement{}, false, fmt.Errorf("marshal reversal: %w", err)
		}
		profile, err := s.profileWrite(p, restored(p, st.Changes))
		if err != nil {
			return Settlement{}, false, err
		}
		flip := types.TransactWriteItem{Update: &types.Update{
			TableName: aws.String(s.table), Key: key(orgPK(org), skSettlement+id),
			UpdateExpression:          aws.String("SET #status = :reversed, reversal = :rev"),
			ConditionExpression:       aws.String("#status = :completed"),
			ExpressionAttributeNames:  map[string]string{"#status": "status"},
			ExpressionAttributeValues: map[string]types.AttributeValue{":reversed": str(StatusReversed), ":completed": str(StatusCompleted), ":rev": rev},
		}}
		err = s.transact(ctx, []types.TransactWriteItem{flip, profile}, reversed(st))
		failed := cancelled(err)
		switch {
		case err == nil:
			return st, true, nil
		case failed[0]:
			continue // reversed meanwhile: the next round answers it
		case !s.contended(err, failed, 1):
			return Settlement{}, false, fmt.Errorf("reverse: %w", err)
		}
		if err := s.backoff(ctx, attempt); err != nil {
			return Settlement{}, false, err
		}
	}
}

// restored is p with c given back: the year's totals lose c's deltas (if
// they are still of c's year) and the personal account gets back what it
// paid.
func restored(p Profile, c Changes) Profile {
	if p.Totals.Year == c.Year {
		p.Totals.OutpatientDeductibleMetFen -= c.OutpatientDeductibleFen
		p.Totals.InpatientDeductibleMetFen -= c.InpatientDeductibleFen
		p.Totals.FundPaidFen -= c.FundPaidFen
	}
	p.PersonalAccountFen += c.PersonalAccountFen
	return p
}

// transact writes own and, after them, events in one transaction.
func (s *Store) transact(ctx context.Context, own []types.TransactWriteItem, events ...outbox.Event) error {
	ev, err := s.outbox.Writes(ctx, events...)
	if err != nil {
		return err
	}
	_, err = s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: append(own, ev...)})
	return err
}

// contended reports whether a cancelled transaction lost a race worth
// retrying: the profile at index profile changed, an event's sequence moved
// on, or an item was held by another transaction.
func (s *Store) contended(err error, failed map[int]bool, profile int) bool {
	return failed[profile] || outbox.Retryable(err, profile+1)
}

// backoff waits a jittered, growing while before attempt+1; ErrBusy after
// the last attempt.
func (s *Store) backoff(ctx context.Context, attempt int) error {
	if attempt >= maxAttempts {
		return ErrBusy
	}
	return awsclient.Sleep(ctx, time.Millisecond+rand.N(time.Duration(min(attempt, 10))*5*time.Millisecond))
}

// Settlements pages through org's settlements, newest first. The cursor
// carries only the sort key and must be a settlement's, so it cannot reach
// another organisation's items.
func (s *Store) Settlements(ctx context.Context, org string, limit int, cursor string) (Page[Settlement], error) {
	in := &dynamodb.QueryInput{
		TableName:              aws.String(s.table),
		KeyConditionExpression: aws.String("pk = :pk AND begins_with(sk, :prefix)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": str(orgPK(org)), ":prefix": str(skSettlement),
		},
		ScanIndexForward: aws.Bool(false),
		Limit:            aws.Int32(int32(limit)),
	}
	if cursor != "" {
		raw, err := base64.RawURLEncoding.DecodeString(cursor)
		if err != nil || !strings.HasPrefix(string(raw), skSettlement) {
			return Page[Settlement]{}, errCorruptCursor
		}
		in.ExclusiveStartKey = key(orgPK(org), string(raw))
	}
	out, err := s.db.Query(ctx, in)
	if err != nil {
		return Page[Settlement]{}, fmt.Errorf("query settlements: %w", err)
	}
	page := Page[Settlement]{Items: make([]Settlement, 0, len(out.Items))}
	if err := attributevalue.UnmarshalListOfMaps(out.Items, &page.Items); err != nil {
		return Page[Settlement]{}, fmt.Errorf("unmarshal settlements: %w", err)
	}
	if sk, ok := out.LastEvaluatedKey["sk"].(*types.AttributeValueMemberS); ok {
		page.NextCursor = base64.RawURLEncoding.EncodeToString([]byte(sk.Value))
	}
	return page, nil
}

// cancelled reports which items of a cancelled transaction failed their
// condition; empty when err is not a cancellation.
func cancelled(err error) map[int]bool {
	failed := map[int]bool{}
	var tce *types.TransactionCanceledException
	if errors.As(err, &tce) {
		for i, r := range tce.CancellationReasons {
			if aws.ToString(r.Code) == "ConditionalCheckFailed" {
				failed[i] = true
			}
		}
	}
	return failed
}

// hexID is u in 32 lower-case hex digits; a UUID v7's sort in time order.
func hexID(u uuid.UUID) string { return strings.ReplaceAll(u.String(), "-", "") }
