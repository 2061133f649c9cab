package transit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/citycode/citycode/shared/awsclient"
	"github.com/citycode/citycode/shared/ddb"
	"github.com/citycode/citycode/shared/fares"
	"github.com/citycode/citycode/shared/holders"
	"github.com/citycode/citycode/shared/outbox"
)

// Store keeps riders' transit state, trips and tap records in TransitTable
// (infra/transit.md), and charges accounts in the holders table in the
// same transactions.
type Store struct {
	db             *dynamodb.Client
	table, holders string
	uses           string
	outbox         *outbox.Outbox
	now            func() time.Time
}

// NewStore returns a Store on the transit, holders and code-uses tables,
// writing events through ob.
func NewStore(db *dynamodb.Client, table, holdersTable, usesTable string, ob *outbox.Outbox) *Store {
	return &Store{db: db, table: table, holders: holdersTable, uses: usesTable, outbox: ob,
		now: func() time.Time { return time.Now().UTC() }}
}

const (
	skState = "STATE"
	skTrip  = "TRIP#"
	skTap   = "TAP"
)

func riderPK(holderID string) string { return "RIDER#" + holderID }
func tapPK(org, tapID string) string { return "TAP#" + org + "#" + tapID }

// riderState is everything about a rider that the next tap depends on, in
// one item, written on condition of its version.
type riderState struct {
	Version  int64     `dynamodbav:"version"`
	Open     *openTrip `dynamodbav:"open,omitempty"`
	Previous *previous `dynamodbav:"previous,omitempty"`
	// Month ("2006-01", the fare rules' zone) and the metro fares charged
	// in it, for the monthly discount.
	Month         string `dynamodbav:"month"`
	MonthMetroFen int64  `dynamodbav:"month_metro_fen"`
}

// openTrip is a metro trip tapped in and not yet out.
type openTrip struct {
	TripID   string    `dynamodbav:"trip_id"`
	TapID    string    `dynamodbav:"tap_id"`
	GateID   string    `dynamodbav:"gate_id"`
	StopID   string    `dynamodbav:"stop_id"`
	Operator string    `dynamodbav:"operator"`
	At       time.Time `dynamodbav:"at"`
}

// previous is fares.Priced as stored.
type previous struct {
	Mode               string    `dynamodbav:"mode"`
	NetworkID          string    `dynamodbav:"network_id"`
	TapIn              time.Time `dynamodbav:"tap_in"`
	TransferDiscounted bool      `dynamodbav:"transfer_discounted"`
	ChainStart         time.Time `dynamodbav:"chain_start"`
	ChainTransfers     int       `dynamodbav:"chain_transfers"`
}

// priced is the stored previous ride as the fare engine takes it.
func (p *previous) priced() *fares.Priced {
	return &fares.Priced{Mode: fares.Mode(p.Mode), NetworkID: p.NetworkID, TapIn: p.TapIn,
		TransferDiscounted: p.TransferDiscounted, ChainStart: p.ChainStart, ChainTransfers: p.ChainTransfers}
}

// pricedOn is fares.History as stored on a trip.
type pricedOn struct {
	Previous      *previous `dynamodbav:"previous,omitempty"`
	MonthMetroFen int64     `dynamodbav:"month_metro_fen"`
}

// tapRecord is a processed tap: its fingerprint and its answer.
type tapRecord struct {
	Fingerprint string `dynamodbav:"fingerprint"`
	Result      string `dynamodbav:"result"`
	ExpiresAt   int64  `dynamodbav:"expires_at"`
}

// fingerprint identifies what a tap said, so that a tap id reused for
// another tap is told apart from a retry.
func fingerprint(t Tap) string {
	at, _ := time.Parse(time.RFC3339, t.At) // validated
	sum := sha256.Sum256([]byte(strings.Join([]string{t.GateID, t.StopID, t.Direction, at.UTC().Format(time.RFC3339Nano), t.Code}, "\n")))
	return hex.EncodeToString(sum[:])
}

// duplicate is the answer to a tap whose id was processed before: the
// original outcome, or tap_id_reused when the tap is another one.
func (r *tapRecord) duplicate(tapID, fp string) (Result, error) {
	if r.Fingerprint != fp {
		return refused(tapID, CodeTapIDReused, "this tap_id was used before for a different tap"), nil
	}
	var res Result
	if err := json.Unmarshal([]byte(r.Result), &res); err != nil {
		return Result{}, fmt.Errorf("tap record %s: %w", tapID, err)
	}
	res.Status = StatusDuplicate
	return res, nil
}

// snapshot is what deciding a tap reads, at one point in time.
type snapshot struct {
	state       riderState
	stateExists bool
	account     holders.Account
	tap         *tapRecord
}

// read takes the rider's state, account and the tap's record (none for
// an empty tapID: the sweep's) in one consistent TransactGetItems.
func (s *Store) read(ctx context.Context, holderID, org, tapID string) (snapshot, error) {
	gets := []types.TransactGetItem{
		{Get: &types.Get{TableName: aws.String(s.table), Key: ddb.Key(riderPK(holderID), skState)}},
		{Get: &types.Get{TableName: aws.String(s.holders), Key: holders.AccountKey(holderID)}},
	}
	if tapID != "" {
		gets = append(gets, types.TransactGetItem{Get: &types.Get{TableName: aws.String(s.table), Key: ddb.Key(tapPK(org, tapID), skTap)}})
	}
	out, err := s.db.TransactGetItems(ctx, &dynamodb.TransactGetItemsInput{TransactItems: gets})
	if err != nil {
		return snapshot{}, err
	}
	var snap snapshot
	if it := out.Responses[0].Item; it != nil {
		if err := attributevalue.UnmarshalMap(it, &snap.state); err != nil {
			return snapshot{}, fmt.Errorf("unmarshal rider state: %w", err)
		}
		snap.stateExists = true
	}
	it := out.Responses[1].Item
	if it == nil {
		return snapshot{}, fmt.Errorf("holder %s has no account", holderID)
	}
	if snap.account, err = holders.AccountFromItem(it); err != nil {
		return snapshot{}, err
	}
	if len(out.Responses) > 2 && out.Responses[2].Item != nil {
		it := out.Responses[2].Item
		snap.tap = &tapRecord{}
		if err := attributevalue.UnmarshalMap(it, snap.tap); err != nil {
			return snapshot{}, fmt.Errorf("unmarshal tap: %w", err)
		}
	}
	return snap, nil
}

// taps reads the records of org's tap ids that exist, by id.
func (s *Store) taps(ctx context.Context, org string, ids []string) (map[string]*tapRecord, error) {
	keys := make([]map[string]types.AttributeValue, 0, len(ids))
	for _, id := range slices.Compact(slices.Sorted(slices.Values(ids))) {
		keys = append(keys, ddb.Key(tapPK(org, id), skTap))
	}
	found := map[string]*tapRecord{}
	if len(keys) == 0 {
		return found, nil
	}
	items, err := awsclient.BatchGetAll(ctx, s.db, s.table, keys)
	if err != nil {
		return nil, err
	}
	for _, it := range items {
		var r tapRecord
		if err := attributevalue.UnmarshalMap(it, &r); err != nil {
			return nil, fmt.Errorf("unmarshal tap: %w", err)
		}
		pk, _ := it["pk"].(*types.AttributeValueMemberS)
		found[strings.TrimPrefix(pk.Value, tapPK(org, ""))] = &r
	}
	return found, nil
}

// change is what one tap does, decided on a snapshot.
type change struct {
	holderID string
	org      string
	tap      Tap
	fp       string
	result   Result
	// mark is the code's acceptance: the use mark first.
	mark    []types.TransactWriteItem
	state   riderState
	trips   []Trip
	charges []holders.Charge
	// chargeWrites debit the charges (holders.ChargeWrites), which leave
	// the account as account says.
	chargeWrites []types.TransactWriteItem
	account      holders.Account
	// repriced is a trip closed as missing tap-out, repriced with the
	// tap-out that arrived late (then trips and charges are empty and
	// chargeWrites credit the refund): replaced on condition that it is
	// still unrepriced.
	repriced *Trip
}

// Outcomes of a commit that the caller acts on.
var (
	errDuplicateRace = errors.New("transit: the tap was processed concurrently")
	errReplayed      = errors.New("transit: the code was used before")
	errContention    = errors.New("transit: the rider's state or account changed")
)

// commit writes c in one transaction: the code's mark, the tap record
// (none for the sweep, which has no tap), the rider's state (on condition
// of the version read), the trips (or the trip repriced), the charges (or
// the refund) and the events.
func (s *Store) commit(ctx context.Context, snap snapshot, c *change) error {
	now := s.now()
	writes := append([]types.TransactWriteItem{}, c.mark...)
	tapIdx := -1
	if c.tap.TapID != "" {
		body, err := json.Marshal(c.result)
		if err != nil {
			return err
		}
		rec, err := ddb.Item(tapPK(c.org, c.tap.TapID), skTap, tapRecord{Fingerprint: c.fp, Result: string(body), ExpiresAt: now.Add(tapRetention).Unix()})
		if err != nil {
			return err
		}
		tapIdx = len(writes)
		writes = append(writes, ddb.PutNew(s.table, rec))
	}

	c.state.Version = snap.state.Version + 1
	st, err := ddb.Item(riderPK(c.holderID), skState, c.state)
	if err != nil {
		return err
	}
	if o := c.state.Open; o != nil {
		// In the open-trips index (sparse: a state with no open trip is
		// not in it), for the sweep.
		st[attrOpenShard], st[attrOpenAt] = ddb.S(openShard(c.holderID)), ddb.S(o.At.UTC().Format(skTime))
	}
	put := ddb.PutNew(s.table, st)
	if snap.stateExists {
		// Not new: replace the state read, at its version.
		put.Put.ConditionExpression = aws.String("version = :v")
		put.Put.ExpressionAttributeValues = map[string]types.AttributeValue{":v": ddb.N(snap.state.Version)}
	}
	writes = append(writes, put)

	for _, t := range c.trips {
		it, err := ddb.Item(riderPK(c.holderID), tripSK(t), t)
		if err != nil {
			return err
		}
		writes = append(writes, ddb.PutNew(s.table, it))
	}
	evs := events(c.trips)
	if t := c.repriced; t != nil {
		it, err := ddb.Item(riderPK(c.holderID), tripSK(*t), t)
		if err != nil {
			return err
		}
		writes = append(writes, types.TransactWriteItem{Put: &types.Put{
			TableName: aws.String(s.table), Item: it,
			ConditionExpression:      aws.String("#status = :missing AND attribute_not_exists(repriced_at)"),
			ExpressionAttributeNames: map[string]string{"#status": "status"},
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":missing": ddb.S(TripMissingTapOut),
			},
		}})
		evs = append(evs, adjusted(*t))
	}
	writes = append(writes, c.chargeWrites...)
	err = s.outbox.Transact(ctx, writes, evs...)
	failed := ddb.Cancelled(err)
	if failed == nil {
		return err // nil, or not a cancellation
	}
	switch {
	case tapIdx >= 0 && failed[tapIdx]:
		return errDuplicateRace
	case tapIdx > 0 && failed[0]:
		return errReplayed
	}
	return errContention // a version, or a transaction holding an item
}

// skTime is the fixed-width UTC time of sort keys, so that they sort as
// times.
const skTime = "2006-01-02T15:04:05.000000000Z"

func tripSK(t Trip) string { return tripsFrom(t.Entry.At) + "#" + t.TripID }

// Trips pages through holderID's trips that tapped in from from (inclusive)
// to to (exclusive), newest first.
func (s *Store) Trips(ctx context.Context, holderID string, from, to time.Time, limit int, cursor string) (ddb.Page[Trip], error) {
	// A trip's key is its tap-in time and "#<id>": from's bare time sorts
	// before the trips of that instant, and so does to's.
	lo, hi := tripsFrom(from), tripsFrom(to)
	start, err := ddb.StartKey(riderPK(holderID), cursor, func(sk string) bool { return sk >= lo && sk <= hi })
	if err != nil {
		return ddb.Page[Trip]{}, err
	}
	out, err := s.queryTrips(ctx, holderID, lo, hi, limit, false, start)
	if err != nil {
		return ddb.Page[Trip]{}, fmt.Errorf("query trips: %w", err)
	}
	page := ddb.Page[Trip]{Items: make([]Trip, 0, len(out.Items)), NextCursor: ddb.Cursor(out.LastEvaluatedKey)}
	if err := attributevalue.UnmarshalListOfMaps(out.Items, &page.Items); err != nil {
		return ddb.Page[Trip]{}, fmt.Errorf("unmarshal trips: %w", err)
	}
	return page, nil
}

// tripsFrom is the bare sort key of time t among trips' keys: it sorts
// before the trips that tapped in at t and after those before.
func tripsFrom(t time.Time) string { return skTrip + t.UTC().Format(skTime) }

// queryTrips is one Query of holderID's trips whose keys lie from lo to hi,
// newest first, from start (nil: the first).
func (s *Store) queryTrips(ctx context.Context, holderID, lo, hi string, limit int, consistent bool, start map[string]types.AttributeValue) (*dynamodb.QueryOutput, error) {
	return s.db.Query(ctx, &dynamodb.QueryInput{
		TableName:              aws.String(s.table),
		KeyConditionExpression: aws.String("pk = :pk AND sk BETWEEN :from AND :to"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": ddb.S(riderPK(holderID)), ":from": ddb.S(lo), ":to": ddb.S(hi),
		},
		ScanIndexForward:  aws.Bool(false),
		Limit:             aws.Int32(int32(limit)),
		ConsistentRead:    aws.Bool(consistent),
		ExclusiveStartKey: start,
	})
}
