package holders

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/citycode/citycode/shared/awsclient"
	"github.com/citycode/citycode/shared/ddb"
	"github.com/citycode/citycode/shared/outbox"
)

// Store keeps holders in HoldersTable; see infra/holders.md for the items.
// Every rule about uniqueness and single use is a condition on a write.
type Store struct {
	db     *dynamodb.Client
	table  string
	docKey []byte
	outbox *outbox.Outbox
	now    func() time.Time
}

// NewStore returns a Store on table. docKey keys the HMAC that indexes
// document numbers, so that no number is ever part of a key. The Store
// writes no events until given an outbox (WithOutbox): only stores that
// never enroll anyone (qr-issue, qr-verify) and other capabilities' test
// fixtures go without.
func NewStore(db *dynamodb.Client, table string, docKey []byte) *Store {
	return &Store{db: db, table: table, docKey: docKey, now: func() time.Time { return time.Now().UTC() }}
}

// WithOutbox returns a copy of s that writes each enrollment's events
// (infra/events) through ob, in the enrollment's transaction.
func (s *Store) WithOutbox(ob *outbox.Outbox) *Store {
	c := *s
	c.outbox = ob
	return &c
}

const (
	skProfile   = "PROFILE"
	skLogin     = "LOGIN"
	skDoc       = "DOC"
	skAccount   = "ACCOUNT"
	skDependant = "DEPENDANT#"
	skLedger    = "LEDGER#"
	skTopUp     = "TOPUP#"
	skAccess    = "ACCESS#"
)

// sortTime is the layout of times in sort keys: fixed width and UTC, so
// that keys sort as their times do (RFC 3339 with nanoseconds drops
// trailing zeros, and "05Z" sorts after "05.5Z").
const sortTime = "2006-01-02T15:04:05.000000000Z"

// TimeKey is t as the holders table's sort keys hold it (ledger and
// access-log entries), for a capability that mirrors those items.
func TimeKey(t time.Time) string { return t.UTC().Format(sortTime) }

func holderPK(id string) string { return "HOLDER#" + id }
func loginPK(sub string) string {
	sum := sha256.Sum256([]byte(sub))
	return "SUB#" + hex.EncodeToString(sum[:])
}

func (s *Store) docPK(docType, number string) string {
	m := hmac.New(sha256.New, s.docKey)
	m.Write([]byte(docType + ":" + number))
	return "DOC#" + hex.EncodeToString(m.Sum(nil))
}

type loginItem struct {
	HolderID string `dynamodbav:"holder_id"`
}

type linkItem struct {
	HolderID     string `dynamodbav:"holder_id"`
	Relationship string `dynamodbav:"relationship"`
}

// newHolderWrites are the puts that create h: profile, document index, account.
func (s *Store) newHolderWrites(h Holder) ([]types.TransactWriteItem, error) {
	profile, err := ddb.Item(holderPK(h.ID), skProfile, h)
	if err != nil {
		return nil, err
	}
	doc, err := ddb.Item(s.docPK(h.DocumentType, h.DocumentNumber), skDoc, loginItem{HolderID: h.ID})
	if err != nil {
		return nil, err
	}
	acct, err := ddb.Item(holderPK(h.ID), skAccount, Account{HolderID: h.ID, UpdatedAt: h.CreatedAt})
	if err != nil {
		return nil, err
	}
	return []types.TransactWriteItem{ddb.PutNew(s.table, profile), ddb.PutNew(s.table, doc), ddb.PutNew(s.table, acct)}, nil
}

// Enroll creates the holder for login sub from e.
func (s *Store) Enroll(ctx context.Context, sub string, e Enrollment) (Holder, error) {
	h := Holder{ID: newID("hdr"), Name: e.Name, DocumentType: e.DocumentType, DocumentNumber: e.DocumentNumber,
		DateOfBirth: e.DateOfBirth, Nationality: e.Nationality, Status: StatusActive, CreatedAt: s.now()}
	login, err := ddb.Item(loginPK(sub), skLogin, loginItem{HolderID: h.ID})
	if err != nil {
		return Holder{}, err
	}
	writes, err := s.newHolderWrites(h)
	if err != nil {
		return Holder{}, err
	}
	writes = append([]types.TransactWriteItem{ddb.PutNew(s.table, login)}, writes...)
	err = s.transact(ctx, writes, enrolled(h, kindResident))
	switch failed := ddb.Cancelled(err); {
	case failed == nil && err != nil:
		return Holder{}, fmt.Errorf("enroll: %w", err)
	case failed[0]:
		return Holder{}, ErrAlreadyEnrolled
	case failed[2]:
		return Holder{}, ErrDocumentTaken
	case err != nil:
		return Holder{}, fmt.Errorf("enroll: %w", err)
	}
	return h, nil
}

// HolderIDForLogin finds the holder enrolled by login sub.
func (s *Store) HolderIDForLogin(ctx context.Context, sub string) (string, error) {
	var l loginItem
	found, err := ddb.Get(ctx, s.db, s.table, loginPK(sub), skLogin, &l)
	if err != nil {
		return "", fmt.Errorf("login: %w", err)
	}
	if !found {
		return "", ErrNotEnrolled
	}
	return l.HolderID, nil
}

// Get reads a holder's profile.
func (s *Store) Get(ctx context.Context, id string) (Holder, error) {
	var h Holder
	found, err := ddb.Get(ctx, s.db, s.table, holderPK(id), skProfile, &h)
	if err != nil {
		return Holder{}, fmt.Errorf("holder: %w", err)
	}
	if !found {
		return Holder{}, ErrNotEnrolled
	}
	return h, nil
}

// AddDependant enrolls d under guardian, who must be active and have room.
func (s *Store) AddDependant(ctx context.Context, guardian string, d DependantEnrollment) (Holder, error) {
	h := Holder{ID: newID("hdr"), Name: d.Name, DocumentType: d.DocumentType, DocumentNumber: d.DocumentNumber,
		DateOfBirth: d.DateOfBirth, Nationality: d.Nationality, Status: StatusActive, GuardianID: guardian,
		Relationship: d.Relationship, CreatedAt: s.now()}
	writes, err := s.newHolderWrites(h)
	if err != nil {
		return Holder{}, err
	}
	link, err := ddb.Item(holderPK(guardian), skDependant+h.ID, linkItem{HolderID: h.ID, Relationship: d.Relationship})
	if err != nil {
		return Holder{}, err
	}
	room := types.TransactWriteItem{Update: &types.Update{
		TableName:        aws.String(s.table),
		Key:              ddb.Key(holderPK(guardian), skProfile),
		UpdateExpression: aws.String("SET dependant_count = if_not_exists(dependant_count, :zero) + :one"),
		ConditionExpression: aws.String("attribute_exists(pk) AND #status = :active AND " +
			"(attribute_not_exists(dependant_count) OR dependant_count < :max)"),
		ExpressionAttributeNames: map[string]string{"#status": "status"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":zero": ddb.N(0), ":one": ddb.N(1), ":max": ddb.N(MaxDependants), ":active": ddb.S(StatusActive),
		},
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	}}
	writes = append([]types.TransactWriteItem{room, ddb.PutNew(s.table, link)}, writes...)
	err = s.transact(ctx, writes, enrolled(h, kindDependant), dependantAdded(h, guardian))
	if err == nil {
		return h, nil
	}
	failed := ddb.Cancelled(err)
	switch {
	case failed[0]:
		var tce *types.TransactionCanceledException
		errors.As(err, &tce)
		var g Holder
		if old := tce.CancellationReasons[0].Item; old != nil {
			_ = attributevalue.UnmarshalMap(old, &g)
		}
		switch {
		case g.ID == "":
			return Holder{}, ErrNotEnrolled
		case g.Status == StatusActive:
			return Holder{}, ErrTooManyDependants
		}
		return Holder{}, ErrNotActive
	case failed[3]:
		return Holder{}, ErrDocumentTaken
	}
	return Holder{}, fmt.Errorf("add dependant: %w", err)
}

// Dependants lists guardian's dependants.
func (s *Store) Dependants(ctx context.Context, guardian string) ([]Holder, error) {
	out, err := s.db.Query(ctx, &dynamodb.QueryInput{
		TableName:              aws.String(s.table),
		KeyConditionExpression: aws.String("pk = :pk AND begins_with(sk, :dep)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": ddb.S(holderPK(guardian)), ":dep": ddb.S(skDependant),
		},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return nil, fmt.Errorf("query dependants: %w", err)
	}
	holders := make([]Holder, 0, len(out.Items))
	for _, it := range out.Items {
		var l linkItem
		if err := attributevalue.UnmarshalMap(it, &l); err != nil {
			return nil, fmt.Errorf("unmarshal link: %w", err)
		}
		h, err := s.Get(ctx, l.HolderID)
		if err != nil {
			return nil, err
		}
		h.Relationship = l.Relationship
		holders = append(holders, h)
	}
	return holders, nil
}

// Dependant reads one of guardian's dependants; ErrDependantNotFound for
// anyone else's.
func (s *Store) Dependant(ctx context.Context, guardian, id string) (Holder, error) {
	out, err := s.db.TransactGetItems(ctx, &dynamodb.TransactGetItemsInput{TransactItems: []types.TransactGetItem{
		{Get: &types.Get{TableName: aws.String(s.table), Key: ddb.Key(holderPK(guardian), skDependant+id)}},
		{Get: &types.Get{TableName: aws.String(s.table), Key: ddb.Key(holderPK(id), skProfile)}},
	}})
	if err != nil {
		return Holder{}, fmt.Errorf("get dependant: %w", err)
	}
	if out.Responses[0].Item == nil || out.Responses[1].Item == nil {
		return Holder{}, ErrDependantNotFound
	}
	var l linkItem
	var h Holder
	if err := attributevalue.UnmarshalMap(out.Responses[0].Item, &l); err != nil {
		return Holder{}, fmt.Errorf("unmarshal link: %w", err)
	}
	if err := attributevalue.UnmarshalMap(out.Responses[1].Item, &h); err != nil {
		return Holder{}, fmt.Errorf("unmarshal holder: %w", err)
	}
	h.Relationship = l.Relationship
	return h, nil
}

// OwnOrDependant resolves whom a resident acts for: the holder signed in as
// sub, or with holderID one of their dependants (ErrNotEnrolled,
// ErrDependantNotFound otherwise). Every capability that answers a resident
// about "me or my child" resolves it here.
func (s *Store) OwnOrDependant(ctx context.Context, sub, holderID string) (string, error) {
	me, err := s.HolderIDForLogin(ctx, sub)
	if err != nil {
		return "", err
	}
	if holderID == "" || holderID == me {
		return me, nil
	}
	if _, err := s.Dependant(ctx, me, holderID); err != nil {
		return "", err
	}
	return holderID, nil
}

// DependantUpdate holds the fields a guardian may correct; nil leaves a
// field as it is.
type DependantUpdate struct {
	Name         *string `json:"name"`
	Relationship *string `json:"relationship"`
}

// UpdateDependant applies u to guardian's dependant id.
func (s *Store) UpdateDependant(ctx context.Context, guardian, id string, u DependantUpdate) (Holder, error) {
	linkCheck := aws.String("attribute_exists(pk)")
	var writes []types.TransactWriteItem
	if u.Relationship != nil {
		writes = append(writes, types.TransactWriteItem{Update: &types.Update{
			TableName: aws.String(s.table), Key: ddb.Key(holderPK(guardian), skDependant+id),
			UpdateExpression: aws.String("SET relationship = :r"), ConditionExpression: linkCheck,
			ExpressionAttributeValues: map[string]types.AttributeValue{":r": ddb.S(*u.Relationship)},
		}})
	} else {
		writes = append(writes, types.TransactWriteItem{ConditionCheck: &types.ConditionCheck{
			TableName: aws.String(s.table), Key: ddb.Key(holderPK(guardian), skDependant+id), ConditionExpression: linkCheck,
		}})
	}
	if u.Name != nil {
		writes = append(writes, types.TransactWriteItem{Update: &types.Update{
			TableName: aws.String(s.table), Key: ddb.Key(holderPK(id), skProfile),
			UpdateExpression: aws.String("SET #name = :n"), ConditionExpression: linkCheck,
			ExpressionAttributeNames:  map[string]string{"#name": "name"},
			ExpressionAttributeValues: map[string]types.AttributeValue{":n": ddb.S(*u.Name)},
		}})
	}
	_, err := s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: writes})
	if failed := ddb.Cancelled(err); len(failed) > 0 {
		return Holder{}, ErrDependantNotFound
	} else if err != nil {
		return Holder{}, fmt.Errorf("update dependant: %w", err)
	}
	return s.Dependant(ctx, guardian, id)
}

// Account reads a holder's account.
func (s *Store) Account(ctx context.Context, id string) (Account, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(s.table), Key: ddb.Key(holderPK(id), skAccount), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return Account{}, fmt.Errorf("get account: %w", err)
	}
	if out.Item == nil {
		return Account{}, ErrNotEnrolled
	}
	return AccountFromItem(out.Item)
}

// SetPostpaidLimit sets how far below zero id's balance may go (0 …
// MaxPostpaidLimitFen). It bumps the account's version, so that a charge
// or top-up computed on the old limit retries.
func (s *Store) SetPostpaidLimit(ctx context.Context, id string, limit int64) error {
	if limit < 0 || limit > MaxPostpaidLimitFen {
		return fmt.Errorf("post-paid limit %d out of range", limit)
	}
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(s.table), Key: ddb.Key(holderPK(id), skAccount),
		UpdateExpression:    aws.String("SET postpaid_limit_fen = :limit, version = version + :one, updated_at = :now"),
		ConditionExpression: aws.String("attribute_exists(pk)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":limit": ddb.N(limit), ":one": ddb.N(1), ":now": ddb.S(s.now().Format(time.RFC3339Nano)),
		},
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return ErrNotEnrolled
	}
	if err != nil {
		return fmt.Errorf("set post-paid limit: %w", err)
	}
	return nil
}

// TopUp adds amount to id's balance once per entryID: the account update,
// the ledger entry and a marker keyed by entryID are one transaction, and the
// marker's put is conditional, so a repeated entryID returns the first
// result and never adds again. The balance update is conditional on the
// version read, retried on contention.
func (s *Store) TopUp(ctx context.Context, id, entryID string, amount int64) (Entry, error) {
	for attempt := 0; ; attempt++ {
		if prev, err := s.topUpDone(ctx, id, entryID); err != nil || prev != nil {
			if prev != nil {
				return *prev, nil
			}
			return Entry{}, err
		}
		acct, err := s.Account(ctx, id)
		if err != nil {
			return Entry{}, err
		}
		e, err := s.tryTopUp(ctx, acct, entryID, amount)
		if !errors.Is(err, ErrConcurrentUpdate) {
			return e, err
		}
		if attempt == 50 {
			return Entry{}, err
		}
		if err := awsclient.Sleep(ctx, time.Duration(rand.IntN(10*(attempt+1)))*time.Millisecond); err != nil {
			return Entry{}, err
		}
	}
}

func (s *Store) tryTopUp(ctx context.Context, acct Account, entryID string, amount int64) (Entry, error) {
	now := s.now()
	e := Entry{EntryID: entryID, Kind: "top_up", AmountFen: amount, BalanceAfterFen: acct.BalanceFen + amount, CreatedAt: now}
	pk := holderPK(acct.HolderID)
	ledger, err := ddb.Item(pk, skLedger+TimeKey(now)+"#"+entryID, e)
	if err != nil {
		return Entry{}, err
	}
	marker, err := ddb.Item(pk, skTopUp+entryID, e)
	if err != nil {
		return Entry{}, err
	}
	writes := []types.TransactWriteItem{
		ddb.PutNew(s.table, marker),
		{Update: &types.Update{
			TableName: aws.String(s.table), Key: ddb.Key(pk, skAccount),
			UpdateExpression:    aws.String("SET balance_fen = :bal, version = :next, updated_at = :now"),
			ConditionExpression: aws.String("version = :version"),
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":bal": ddb.N(e.BalanceAfterFen), ":next": ddb.N(acct.Version + 1), ":version": ddb.N(acct.Version),
				":now": ddb.S(now.Format(time.RFC3339Nano)),
			},
		}},
		{ConditionCheck: &types.ConditionCheck{
			TableName: aws.String(s.table), Key: ddb.Key(pk, skProfile),
			ConditionExpression:       aws.String("#status = :active"),
			ExpressionAttributeNames:  map[string]string{"#status": "status"},
			ExpressionAttributeValues: map[string]types.AttributeValue{":active": ddb.S(StatusActive)},
		}},
		ddb.PutNew(s.table, ledger),
	}
	_, err = s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: writes})
	failed := ddb.Cancelled(err)
	switch {
	case err == nil:
		return e, nil
	case failed[2]:
		return Entry{}, ErrNotActive
	case failed[0], failed[1], ddb.IsConflict(err):
		return Entry{}, ErrConcurrentUpdate
	}
	return Entry{}, fmt.Errorf("top up: %w", err)
}

func (s *Store) topUpDone(ctx context.Context, id, entryID string) (*Entry, error) {
	var e Entry
	found, err := ddb.Get(ctx, s.db, s.table, holderPK(id), skTopUp+entryID, &e)
	if err != nil || !found {
		return nil, err
	}
	return &e, nil
}

// Entries pages through id's ledger, newest first.
func (s *Store) Entries(ctx context.Context, id string, limit int, cursor string) (Page[Entry], error) {
	return ddb.QueryPage[Entry](ctx, s.db, ddb.PageQuery{Table: s.table, PK: holderPK(id), Prefix: skLedger}, limit, cursor)
}

// AccessLog pages through id's access log, newest first.
func (s *Store) AccessLog(ctx context.Context, id string, limit int, cursor string) (Page[AccessEntry], error) {
	return ddb.QueryPage[AccessEntry](ctx, s.db, ddb.PageQuery{Table: s.table, PK: holderPK(id), Prefix: skAccess}, limit, cursor)
}
