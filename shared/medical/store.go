package medical

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/uuid"

	"github.com/citycode/citycode/shared/awsclient"
	"github.com/citycode/citycode/shared/ddb"
	"github.com/citycode/citycode/shared/holders"
	"github.com/citycode/citycode/shared/medpolicy"
	"github.com/citycode/citycode/shared/outbox"
)

// Store keeps profiles, visits and settlements in MedicalTable (layout in
// infra/medical.md). Exactly-once rules are conditions on its writes.
type Store struct {
	db       *dynamodb.Client
	table    string
	holders  string // HoldersTable: a holder's status is checked in the writes
	outbox   *outbox.Outbox
	policies *medpolicy.Policies
	now      func() time.Time
}

// NewStore returns a Store on table, checking holders in holdersTable,
// splitting bills by policies and writing events through ob.
func NewStore(db *dynamodb.Client, table, holdersTable string, ob *outbox.Outbox, policies *medpolicy.Policies) *Store {
	return &Store{db: db, table: table, holders: holdersTable, outbox: ob, policies: policies, now: func() time.Time { return time.Now().UTC() }}
}

const (
	skInsurance  = "INSURANCE"
	skVisit      = "VISIT#"
	skBill       = "BILL#"
	skSettlement = "SETTLEMENT#"
	skCredit     = "CREDIT#"
	// skHolder is the holders table's profile item, whose status says
	// whether the holder is active.
	skHolder = "PROFILE"
	// maxAttempts bounds the retries of a profile write under contention.
	maxAttempts = 50
)

func holderPK(id string) string { return "HOLDER#" + id }
func orgPK(org string) string   { return "ORG#" + org }

// PutProfile creates p (the bureau's enrollment of a holder in a scheme;
// the seeder's); ErrProfileExists if the holder has one, ErrHolderNotFound
// if the holders table has no such holder.
func (s *Store) PutProfile(ctx context.Context, p Profile) error {
	if p.HolderID == "" || p.City == "" || p.PersonalAccountFen < 0 || p.PersonalAccountFen > medpolicy.MaxMemberFen ||
		(p.Scheme != string(medpolicy.Employee) && p.Scheme != string(medpolicy.Resident)) {
		return fmt.Errorf("put profile: %+v needs a holder, a city, a scheme (employee or resident) and a balance within 0..%d", p, medpolicy.MaxMemberFen)
	}
	p.Version, p.UpdatedAt = 0, s.now()
	it, err := ddb.Item(holderPK(p.HolderID), skInsurance, p)
	if err != nil {
		return err
	}
	holder := types.TransactWriteItem{ConditionCheck: &types.ConditionCheck{TableName: aws.String(s.holders),
		Key: ddb.Key(holderPK(p.HolderID), skHolder), ConditionExpression: aws.String("attribute_exists(pk)")}}
	_, err = s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{holder, ddb.PutNew(s.table, it)}})
	failed := ddb.Cancelled(err)
	switch {
	case err == nil:
		return nil
	case failed[1]:
		return ErrProfileExists
	case failed[0]:
		return ErrHolderNotFound
	}
	return fmt.Errorf("put profile: %w", err)
}

// Enrol gives holderID the identity id: a new profile (an empty personal
// account, no totals; created true) if the holder has none, or else the
// profile's scheme, retired flag and insured city changed, its money and
// totals kept, conditional on the version read, so that a concurrent
// settlement or credit makes it read again and retry. The same identity
// again changes nothing. ErrHolderNotFound if there is no such holder.
func (s *Store) Enrol(ctx context.Context, holderID string, id Identity) (Profile, bool, error) {
	for attempt := 1; ; attempt++ {
		p, err := s.Profile(ctx, holderID)
		switch {
		case errors.Is(err, ErrNotInsured):
			err = s.PutProfile(ctx, Profile{HolderID: holderID, Scheme: id.Scheme, Retired: id.Retired, City: id.City})
			if errors.Is(err, ErrProfileExists) {
				continue // enrolled meanwhile: change that profile
			}
			if err != nil {
				return Profile{}, false, err
			}
			p, err = s.Profile(ctx, holderID)
			return p, true, err
		case err != nil:
			return Profile{}, false, err
		case p.identity() == id:
			return p, false, nil
		}
		next := p
		next.Scheme, next.Retired, next.City, next.Version, next.UpdatedAt = id.Scheme, id.Retired, id.City, p.Version+1, s.now()
		_, err = s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName: aws.String(s.table), Key: ddb.Key(holderPK(holderID), skInsurance),
			UpdateExpression:    aws.String("SET scheme = :scheme, retired = :retired, insured_city = :city, version = :next, updated_at = :now"),
			ConditionExpression: aws.String("version = :version"),
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":scheme": ddb.S(next.Scheme), ":retired": &types.AttributeValueMemberBOOL{Value: next.Retired}, ":city": ddb.S(next.City),
				":next": ddb.N(next.Version), ":version": ddb.N(p.Version), ":now": ddb.S(next.UpdatedAt.Format(time.RFC3339Nano)),
			},
		})
		var ccf *types.ConditionalCheckFailedException
		switch {
		case err == nil:
			return next, false, nil
		case !errors.As(err, &ccf):
			return Profile{}, false, fmt.Errorf("enrol: %w", err)
		}
		if err := s.backoff(ctx, attempt); err != nil {
			return Profile{}, false, err
		}
	}
}

// CreditAccount adds c.AmountFen to c.HolderID's personal account, once per
// c.ID: the credit record (new) and the profile's balance (conditional on
// the version read) are one transaction, and a concurrent settlement makes
// it read again and retry. The same c.ID again answers the first credit
// (created false) if it is the same credit, ErrCreditReused if not.
func (s *Store) CreditAccount(ctx context.Context, c Credit) (Credit, bool, error) {
	for attempt := 1; ; attempt++ {
		var prev Credit
		found, err := ddb.Get(ctx, s.db, s.table, holderPK(c.HolderID), skCredit+c.ID, &prev)
		switch {
		case err != nil:
			return Credit{}, false, err
		case found && (prev.AmountFen != c.AmountFen || prev.Reference != c.Reference):
			return Credit{}, false, ErrCreditReused
		case found:
			return prev, false, nil
		}
		p, err := s.Profile(ctx, c.HolderID)
		if err != nil {
			return Credit{}, false, err
		}
		if c.AmountFen <= 0 || p.PersonalAccountFen > medpolicy.MaxMemberFen-c.AmountFen {
			return Credit{}, false, ErrBalanceLimit
		}
		after := p
		after.PersonalAccountFen += c.AmountFen
		c.BalanceAfterFen, c.At = after.PersonalAccountFen, s.now()
		record, err := ddb.Item(holderPK(c.HolderID), skCredit+c.ID, c)
		if err != nil {
			return Credit{}, false, err
		}
		profile, err := s.profileWrite(p, after)
		if err != nil {
			return Credit{}, false, err
		}
		_, err = s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{ddb.PutNew(s.table, record), profile}})
		failed := ddb.Cancelled(err)
		switch {
		case err == nil:
			return c, true, nil
		case failed[0]:
			continue // credited meanwhile: the next round answers it
		case !s.contended(err, failed, 1, 2):
			return Credit{}, false, fmt.Errorf("credit: %w", err)
		}
		if err := s.backoff(ctx, attempt); err != nil {
			return Credit{}, false, err
		}
	}
}

// Profile reads a holder's insurance profile; ErrNotInsured if none.
func (s *Store) Profile(ctx context.Context, holderID string) (Profile, error) {
	var p Profile
	found, err := ddb.Get(ctx, s.db, s.table, holderPK(holderID), skInsurance, &p)
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
		TableName: aws.String(s.table), Key: ddb.Key(holderPK(prev.HolderID), skInsurance),
		UpdateExpression:    aws.String("SET personal_account_fen = :pa, totals = :totals, version = :next, updated_at = :now"),
		ConditionExpression: aws.String("version = :version"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pa": ddb.N(next.PersonalAccountFen), ":totals": totals, ":next": ddb.N(prev.Version + 1),
			":version": ddb.N(prev.Version), ":now": ddb.S(s.now().Format(time.RFC3339Nano)),
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
	v.ExpiresAt = v.OpenedAt.Add(OutpatientVisitFor).Truncate(time.Second)
	if v.Type == string(medpolicy.Inpatient) {
		v.ExpiresAt = v.OpenedAt.Add(InpatientVisitFor).Truncate(time.Second)
	}
	writes, err := accept()
	if err != nil {
		return Visit{}, err
	}
	it, err := ddb.Item(orgPK(v.Org), skVisit+v.ID, v)
	if err != nil {
		return Visit{}, err
	}
	_, err = s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: append(writes, ddb.PutNew(s.table, it))})
	switch {
	case err == nil:
		return v, nil
	case len(writes) > 0 && ddb.Cancelled(err)[0]:
		return Visit{}, ErrReplayed
	}
	return Visit{}, fmt.Errorf("open visit: %w", err)
}

// Visit reads org's visit id; ErrVisitNotFound for any other organisation's.
func (s *Store) Visit(ctx context.Context, org, id string) (Visit, error) {
	var v Visit
	found, err := ddb.Get(ctx, s.db, s.table, orgPK(org), skVisit+id, &v)
	if err == nil && !found {
		err = ErrVisitNotFound
	}
	return v, err
}

// ActiveVisit reads org's visit id for a bill: ErrVisitNotFound for any
// other organisation's, ErrVisitClosed once it expired or its final bill
// closed it.
func (s *Store) ActiveVisit(ctx context.Context, org, id string) (Visit, error) {
	v, err := s.Visit(ctx, org, id)
	if err == nil && !v.open(s.now()) {
		return Visit{}, ErrVisitClosed
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
	// Final closes the visit with this bill (an inpatient's discharge).
	Final bool
}

func (c Charge) fingerprint() string {
	// A hospital bill's visit names its patient; a pharmacy sale has no
	// visit, so its patient is part of what was billed.
	if c.VisitID == "" {
		return fingerprint("sale:"+c.HolderID, c.Lines)
	}
	return fingerprint(c.VisitID, c.Lines)
}

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
		return Settlement{}, Profile{}, fmt.Errorf("split %s's bill for %s under %s: %w", c.Provider.Org, c.HolderID, policy.ID, err)
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
	found, err := ddb.Get(ctx, s.db, s.table, orgPK(c.Provider.Org), skBill+c.BillID, &m)
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
// personal account (conditional on the profile's version), a check that
// the holder is active (ErrHolderNotActive), the visit's check that it is
// open (ErrVisitClosed), or its closing for a final bill, and the event.
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
		marker, err := ddb.Item(orgPK(st.Org), skBill+st.BillID, billMarker{SettlementID: st.ID, Fingerprint: st.Fingerprint})
		if err != nil {
			return Settlement{}, false, err
		}
		record, err := ddb.Item(orgPK(st.Org), skSettlement+st.ID, st)
		if err != nil {
			return Settlement{}, false, err
		}
		profile, err := s.profileWrite(p, after)
		if err != nil {
			return Settlement{}, false, err
		}
		own = append(own, ddb.PutNew(s.table, marker), ddb.PutNew(s.table, record), profile, s.holderActive(st.HolderID))
		if c.VisitID != "" {
			own = append(own, s.visitWrite(c, st.SettledAt))
		}
		err = s.transact(ctx, own, completed(st))
		failed := ddb.Cancelled(err)
		switch {
		case err == nil:
			return st, true, nil
		case failed[first]:
			continue // settled meanwhile: the next round answers it
		case first > 0 && failed[0]:
			return Settlement{}, false, ErrReplayed
		case failed[first+3]:
			return Settlement{}, false, ErrHolderNotActive
		case failed[first+4]:
			return Settlement{}, false, ErrVisitClosed
		case !s.contended(err, failed, first+2, len(own)):
			return Settlement{}, false, fmt.Errorf("settle: %w", err)
		}
		if err := s.backoff(ctx, attempt); err != nil {
			return Settlement{}, false, err
		}
	}
}

// holderActive checks, in a transaction, that the holder's status in the
// holders table is active: a holder suspended after the scan is not
// settled for.
func (s *Store) holderActive(holderID string) types.TransactWriteItem {
	return types.TransactWriteItem{ConditionCheck: &types.ConditionCheck{
		TableName: aws.String(s.holders), Key: ddb.Key(holderPK(holderID), skHolder),
		ConditionExpression:       aws.String("#status = :active"),
		ExpressionAttributeNames:  map[string]string{"#status": "status"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":active": ddb.S(holders.StatusActive)},
	}}
}

// visitWrite checks, in a transaction, that c's visit is open at t, and
// closes it if c is its final bill.
func (s *Store) visitWrite(c Charge, t time.Time) types.TransactWriteItem {
	k, cond := ddb.Key(orgPK(c.Provider.Org), skVisit+c.VisitID), aws.String("attribute_not_exists(closed_at) AND expires_at > :now")
	if !c.Final {
		return types.TransactWriteItem{ConditionCheck: &types.ConditionCheck{TableName: aws.String(s.table), Key: k,
			ConditionExpression: cond, ExpressionAttributeValues: map[string]types.AttributeValue{":now": ddb.N(t.Unix())}}}
	}
	return types.TransactWriteItem{Update: &types.Update{TableName: aws.String(s.table), Key: k,
		UpdateExpression: aws.String("SET closed_at = :closed"), ConditionExpression: cond,
		ExpressionAttributeValues: map[string]types.AttributeValue{":now": ddb.N(t.Unix()), ":closed": ddb.S(t.Format(time.RFC3339Nano))}}}
}

// Settlement reads org's settlement id; ErrSettlementNotFound for any
// other organisation's.
func (s *Store) Settlement(ctx context.Context, org, id string) (Settlement, error) {
	var st Settlement
	found, err := ddb.Get(ctx, s.db, s.table, orgPK(org), skSettlement+id, &st)
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
			TableName: aws.String(s.table), Key: ddb.Key(orgPK(org), skSettlement+id),
			UpdateExpression:          aws.String("SET #status = :reversed, reversal = :rev"),
			ConditionExpression:       aws.String("#status = :completed"),
			ExpressionAttributeNames:  map[string]string{"#status": "status"},
			ExpressionAttributeValues: map[string]types.AttributeValue{":reversed": ddb.S(StatusReversed), ":completed": ddb.S(StatusCompleted), ":rev": rev},
		}}
		err = s.transact(ctx, []types.TransactWriteItem{flip, profile}, reversed(st))
		failed := ddb.Cancelled(err)
		switch {
		case err == nil:
			return st, true, nil
		case failed[0]:
			continue // reversed meanwhile: the next round answers it
		case !s.contended(err, failed, 1, 2):
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
// on (the events start at index events), or an item was held by another
// transaction.
func (s *Store) contended(err error, failed map[int]bool, profile, events int) bool {
	return failed[profile] || outbox.Retryable(err, events)
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
	return ddb.QueryPage[Settlement](ctx, s.db, ddb.PageQuery{Table: s.table, PK: orgPK(org), Prefix: skSettlement}, limit, cursor)
}

// hexID is u in 32 lower-case hex digits; a UUID v7's sort in time order.
func hexID(u uuid.UUID) string { return strings.ReplaceAll(u.String(), "-", "") }
