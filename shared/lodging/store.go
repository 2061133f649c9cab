package lodging

import (
	"cmp"
	"context"
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
	"github.com/citycode/citycode/shared/outbox"
	"github.com/citycode/citycode/shared/webhooks"
)

// Store keeps stays in LodgingTable (infra/lodging.md). Every rule — a
// code used once, a holder once per stay, a minor with their guardian, an
// open stay, its guest limit — is a condition on a write of the one
// transaction that registers the guests and writes their reports.
type Store struct {
	db       *dynamodb.Client
	table    string
	holders  string
	outbox   *outbox.Outbox
	receipts *webhooks.ReceiptStore
	policy   Policy
	now      func() time.Time
}

// NewStore returns a Store on table, checking guardianship links in
// holdersTable, writing reports through ob and reading their receipts from
// receipts.
func NewStore(db *dynamodb.Client, table, holdersTable string, ob *outbox.Outbox, receipts *webhooks.ReceiptStore, p Policy) *Store {
	return &Store{db: db, table: table, holders: holdersTable, outbox: ob, receipts: receipts, policy: p,
		now: func() time.Time { return time.Now().UTC() }}
}

// Item keys.
const (
	skStay      = "STAY"
	skGuest     = "GUEST#"
	cityPending = "PENDING"
	// timeKey is a fixed-width UTC time, so that keys sort in time order.
	timeKey = "2006-01-02T15:04:05.000000000Z"
)

func stayPK(id string) string     { return "STAY#" + id }
func hotelPK(org string) string   { return "HOTEL#" + org }
func pendingPK(org string) string { return cityPending + "#" + org }
func hotelSK(st Stay) string      { return "STAY#" + st.CheckedInAt.UTC().Format(timeKey) + "#" + st.ID }
func reportSK(r Report) string {
	return r.Due.UTC().Format(timeKey) + "#" + r.RegistrationID + "#" + r.Kind
}

// guestSK makes "a holder once per stay" a put condition; another city's
// guest has no holder id here.
func guestSK(r Registration) string {
	if r.Home() {
		return skGuest + "H#" + r.HolderID
	}
	return skGuest + "R#" + r.ID
}

// Roles of a transaction's items, to map a cancellation's reasons.
const (
	roleStay  = "stay"
	roleMark  = "mark"
	roleGuest = "guest"
	roleLink  = "link"
	roleOther = "other"
)

type role struct {
	what  string
	guest int
}

// txn is a transaction being built: its items, what each is for, and the
// events that go last.
type txn struct {
	writes []types.TransactWriteItem
	roles  []role
	events []outbox.Event
}

func (t *txn) add(r role, w ...types.TransactWriteItem) {
	for range w {
		t.roles = append(t.roles, r)
	}
	t.writes = append(t.writes, w...)
}

// failed answers the roles of the items whose condition failed; nil when
// err is not a cancellation.
func (t *txn) failed(err error) []role {
	failed := ddb.Cancelled(err)
	var out []role
	for i, r := range t.roles {
		if failed[i] {
			out = append(out, r)
		}
	}
	return out
}

// CodesRejected is a transaction refused on guests' single-use marks: their
// codes were accepted before (another desk, a clone). Guests maps each
// guest's index to its reason.
type CodesRejected struct {
	Guests map[int]string
}

func (e *CodesRejected) Error() string {
	return fmt.Sprintf("lodging: %d codes rejected", len(e.Guests))
}

// ReasonReplayed is the reason of a code accepted before.
const ReasonReplayed = "replayed"

// register adds arrivals to st in t: each code's acceptance, the
// registration (checked in at st.CheckedInAt), its two report trackers, a
// minor's guardianship check and the registration event. guardians maps a
// guardian's holder id to the registration already in the stay.
func (s *Store) register(t *txn, st Stay, arrivals []Arrival, guardians map[string]string) error {
	byHolder := map[string]string{}
	for i := range arrivals {
		r := &arrivals[i].Registration
		r.ID, r.StayID, r.RegisteredAt = newID("reg"), st.ID, st.CheckedInAt
		r.RegisteredDue = r.RegisteredAt.Add(s.policy.RegistrationDeadline(r.Nationality))
		r.ExpiresAt = st.ExpiresAt
		if r.Home() {
			byHolder[r.HolderID] = r.ID
		}
	}
	for i, a := range arrivals {
		r := a.Registration
		if r.Minor && a.GuardianHolderID != "" {
			g, inRequest := byHolder[a.GuardianHolderID]
			if !inRequest {
				g = guardians[a.GuardianHolderID]
			}
			if g == "" {
				return ErrMinorUnaccompanied
			}
			r.GuardianRegistrationID = g
			arrivals[i].Registration = r
		}
		acc, err := a.Scan.Writes()
		if err != nil {
			return err
		}
		if len(acc) == 0 {
			return errors.New("lodging: a hotel scan without its single-use mark")
		}
		t.add(role{roleMark, i}, acc[0])
		t.add(role{roleOther, i}, acc[1:]...)
		reg, err := ddb.Item(stayPK(st.ID), guestSK(r), r)
		if err != nil {
			return err
		}
		t.add(role{roleGuest, i}, ddb.PutNew(s.table, reg))
		if err := s.track(t, st, r, KindRegistered, r.RegisteredDue, i); err != nil {
			return err
		}
		if r.Minor && a.GuardianHolderID != "" {
			t.add(role{roleLink, i}, types.TransactWriteItem{ConditionCheck: &types.ConditionCheck{
				TableName: aws.String(s.holders), Key: ddb.Key("HOLDER#"+a.GuardianHolderID, "DEPENDANT#"+r.HolderID),
				ConditionExpression: aws.String("attribute_exists(pk)"),
			}})
		}
		t.events = append(t.events, registered(st, r))
	}
	return nil
}

// track adds the two trackers of a report awaiting its receipt: in the
// hotel's pending partition and in the city's.
func (s *Store) track(t *txn, st Stay, r Registration, kind string, due time.Time, guest int) error {
	rep := Report{Hotel: st.Hotel, StayID: st.ID, Room: st.Room, RegistrationID: r.ID, Kind: kind, Due: due,
		Name: r.Name, Nationality: r.Nationality, GuestSK: guestSK(r), ExpiresAt: r.ExpiresAt}
	for _, pk := range []string{pendingPK(st.Hotel), cityPending} {
		it, err := ddb.Item(pk, reportSK(rep), rep)
		if err != nil {
			return err
		}
		t.add(role{roleOther, guest}, ddb.Put(s.table, it))
	}
	return nil
}

// expiry is when a stay's items expire: the retention after the end of
// the expected check-out date, or after the check-out.
func (s *Store) expiry(checkOutDate string, checkedOut *time.Time) int64 {
	if checkedOut != nil {
		return checkedOut.Add(s.policy.Retention).Unix()
	}
	d, _ := time.ParseInLocation(time.DateOnly, checkOutDate, s.policy.Location)
	return d.AddDate(0, 0, 1).Add(s.policy.Retention).Unix()
}

// CheckIn opens st (Hotel, Room, CheckOutDate, CheckedInAt) with arrivals,
// in one transaction. A code accepted before is *CodesRejected.
func (s *Store) CheckIn(ctx context.Context, st Stay, arrivals []Arrival) (Stay, error) {
	if len(arrivals) > s.policy.MaxGuests {
		return Stay{}, ErrTooManyGuests
	}
	st.ID, st.Status, st.Guests = newID("sty"), StatusOpen, len(arrivals)
	st.ExpiresAt = s.expiry(st.CheckOutDate, nil)
	for _, a := range arrivals {
		if !a.Registration.Minor {
			st.Adults++
		}
	}
	for _, a := range arrivals {
		if a.Registration.Minor && a.GuardianHolderID == "" && st.Adults == 0 {
			return Stay{}, ErrMinorUnaccompanied
		}
	}
	var t txn
	stay, err := ddb.Item(stayPK(st.ID), skStay, st)
	if err != nil {
		return Stay{}, err
	}
	index, err := ddb.Item(hotelPK(st.Hotel), hotelSK(st), map[string]any{"stay_id": st.ID, "expires_at": st.ExpiresAt})
	if err != nil {
		return Stay{}, err
	}
	t.add(role{roleStay, -1}, ddb.PutNew(s.table, stay), ddb.PutNew(s.table, index))
	if err := s.register(&t, st, arrivals, nil); err != nil {
		return Stay{}, err
	}
	if err := s.commit(ctx, &t); err != nil {
		return Stay{}, err
	}
	for _, a := range arrivals {
		st.Registrations = append(st.Registrations, a.Registration)
	}
	return st, nil
}

// commit writes t and maps its refusals: codes used before, a holder
// already in the stay, a minor whose guardianship no longer holds.
func (s *Store) commit(ctx context.Context, t *txn) error {
	err := s.outbox.Transact(ctx, t.writes, t.events...)
	if err == nil {
		return nil
	}
	failed := t.failed(err)
	rejected := &CodesRejected{Guests: map[int]string{}}
	for _, r := range failed {
		switch r.what {
		case roleMark:
			rejected.Guests[r.guest] = ReasonReplayed
		case roleGuest:
			return ErrGuestAlreadyRegistered
		case roleLink:
			return ErrMinorUnaccompanied
		case roleStay:
			return errStayCondition
		}
	}
	if len(rejected.Guests) > 0 {
		return rejected
	}
	if ddb.IsConflict(err) {
		return ErrStayBusy
	}
	return fmt.Errorf("lodging: transaction: %w", err)
}

// errStayCondition: the stay's own condition failed; the caller reads why.
var errStayCondition = errors.New("lodging: stay condition failed")

// AddGuests registers arrivals as companions in hotel's open stay.
func (s *Store) AddGuests(ctx context.Context, hotel, stayID string, arrivals []Arrival) (Stay, error) {
	st, err := s.Get(ctx, hotel, stayID)
	if err != nil {
		return Stay{}, err
	}
	switch {
	case st.Status != StatusOpen:
		return Stay{}, ErrStayClosed
	case st.Guests+len(arrivals) > s.policy.MaxGuests:
		return Stay{}, ErrTooManyGuests
	}
	guardians := map[string]string{}
	for _, r := range st.Registrations {
		if r.Home() {
			guardians[r.HolderID] = r.ID
		}
	}
	adults, needAdult := 0, false
	for _, a := range arrivals {
		if !a.Registration.Minor {
			adults++
		} else if a.GuardianHolderID == "" {
			needAdult = true
		}
	}
	cond := "hotel = :hotel AND #status = :open AND guests <= :room"
	vals := map[string]types.AttributeValue{":hotel": ddb.S(hotel), ":open": ddb.S(StatusOpen),
		":room": ddb.N(int64(s.policy.MaxGuests - len(arrivals))), ":n": ddb.N(int64(len(arrivals))), ":a": ddb.N(int64(adults))}
	if needAdult && adults == 0 {
		cond += " AND adults > :zero"
		vals[":zero"] = ddb.N(0)
	}
	var t txn
	t.add(role{roleStay, -1}, types.TransactWriteItem{Update: &types.Update{
		TableName: aws.String(s.table), Key: ddb.Key(stayPK(stayID), skStay),
		UpdateExpression:          aws.String("ADD guests :n, adults :a"),
		ConditionExpression:       aws.String(cond),
		ExpressionAttributeNames:  map[string]string{"#status": "status"},
		ExpressionAttributeValues: vals,
	}})
	st.CheckedInAt = s.now() // the companions' check-in
	if err := s.register(&t, st, arrivals, guardians); err != nil {
		return Stay{}, err
	}
	err = s.commit(ctx, &t)
	if errors.Is(err, errStayCondition) {
		// Read what changed since: closed, filled, or left without adults.
		now, gerr := s.Get(ctx, hotel, stayID)
		switch {
		case gerr != nil:
			return Stay{}, gerr
		case now.Status != StatusOpen:
			return Stay{}, ErrStayClosed
		case now.Guests+len(arrivals) > s.policy.MaxGuests:
			return Stay{}, ErrTooManyGuests
		}
		return Stay{}, ErrMinorUnaccompanied
	}
	if err != nil {
		return Stay{}, err
	}
	return s.Get(ctx, hotel, stayID)
}

// CheckOut closes hotel's stay: every guest departs, with a report each.
func (s *Store) CheckOut(ctx context.Context, hotel, stayID string) (Stay, error) {
	st, err := s.Get(ctx, hotel, stayID)
	if err != nil {
		return Stay{}, err
	}
	if st.Status != StatusOpen {
		return Stay{}, ErrStayClosed
	}
	now := s.now()
	st.Status, st.CheckedOutAt = StatusCheckedOut, &now
	st.ExpiresAt = s.expiry(st.CheckOutDate, &now)
	var t txn
	t.add(role{roleStay, -1}, types.TransactWriteItem{Update: &types.Update{
		TableName: aws.String(s.table), Key: ddb.Key(stayPK(st.ID), skStay),
		UpdateExpression:          aws.String("SET #status = :closed, checked_out_at = :now, expires_at = :exp"),
		ConditionExpression:       aws.String("hotel = :hotel AND #status = :open AND guests = :n"),
		ExpressionAttributeNames:  map[string]string{"#status": "status"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":closed": ddb.S(StatusCheckedOut), ":now": ddb.S(now.Format(time.RFC3339Nano)), ":exp": ddb.N(st.ExpiresAt), ":hotel": ddb.S(hotel), ":open": ddb.S(StatusOpen), ":n": ddb.N(int64(st.Guests))},
	}})
	expiry := func(pk, sk string) types.TransactWriteItem {
		return types.TransactWriteItem{Update: &types.Update{
			TableName: aws.String(s.table), Key: ddb.Key(pk, sk), UpdateExpression: aws.String("SET expires_at = :exp"),
			ConditionExpression: aws.String("attribute_exists(pk)"), ExpressionAttributeValues: map[string]types.AttributeValue{":exp": ddb.N(st.ExpiresAt)},
		}}
	}
	t.add(role{roleOther, -1}, expiry(hotelPK(hotel), hotelSK(st)))
	for i := range st.Registrations {
		r := &st.Registrations[i]
		due := now.Add(s.policy.Departure)
		r.DepartedAt, r.DepartedDue, r.ExpiresAt = &now, &due, st.ExpiresAt
		t.add(role{roleOther, i}, types.TransactWriteItem{Update: &types.Update{
			TableName: aws.String(s.table), Key: ddb.Key(stayPK(st.ID), guestSK(*r)),
			UpdateExpression:    aws.String("SET departed_at = :now, departed_due = :due, expires_at = :exp"),
			ConditionExpression: aws.String("attribute_exists(pk)"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":now": ddb.S(now.Format(time.RFC3339Nano)),
				":due": ddb.S(due.Format(time.RFC3339Nano)), ":exp": ddb.N(st.ExpiresAt)},
		}})
		if err := s.track(&t, st, *r, KindDeparted, due, i); err != nil {
			return Stay{}, err
		}
		t.events = append(t.events, departed(st, *r))
	}
	err = s.commit(ctx, &t)
	if errors.Is(err, errStayCondition) {
		if again, gerr := s.Get(ctx, hotel, stayID); gerr == nil && again.Status != StatusOpen {
			return Stay{}, ErrStayClosed
		}
		return Stay{}, ErrStayBusy
	}
	if err != nil {
		return Stay{}, err
	}
	return st, nil
}

// Get reads hotel's stay with its registrations; another hotel's stay is
// ErrStayNotFound, like one that does not exist.
func (s *Store) Get(ctx context.Context, hotel, stayID string) (Stay, error) {
	if !validID("sty", stayID) {
		return Stay{}, ErrStayNotFound
	}
	out, err := s.db.Query(ctx, &dynamodb.QueryInput{
		TableName: aws.String(s.table), KeyConditionExpression: aws.String("pk = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": ddb.S(stayPK(stayID))}, ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return Stay{}, fmt.Errorf("lodging: read stay: %w", err)
	}
	var st Stay
	var regs []Registration
	for _, it := range out.Items {
		sk, _ := it["sk"].(*types.AttributeValueMemberS)
		switch {
		case sk == nil:
			return Stay{}, errors.New("lodging: item without sk")
		case sk.Value == skStay:
			err = attributevalue.UnmarshalMap(it, &st)
		case strings.HasPrefix(sk.Value, skGuest):
			var r Registration
			err = attributevalue.UnmarshalMap(it, &r)
			regs = append(regs, r)
		}
		if err != nil {
			return Stay{}, fmt.Errorf("lodging: unmarshal %s: %w", sk.Value, err)
		}
	}
	if st.ID == "" || st.Hotel != hotel {
		return Stay{}, ErrStayNotFound
	}
	slices.SortFunc(regs, func(a, b Registration) int {
		return cmp.Or(a.RegisteredAt.Compare(b.RegisteredAt), strings.Compare(a.ID, b.ID))
	})
	st.Registrations = regs
	return st, nil
}

// List pages through hotel's stays, newest check-in first.
func (s *Store) List(ctx context.Context, hotel string, limit int, cursor string) (Page[Stay], error) {
	index, err := ddb.QueryPage[stayIndex](ctx, s.db, ddb.PageQuery{Table: s.table, PK: hotelPK(hotel), Prefix: "STAY#"}, limit, cursor)
	if err != nil {
		return Page[Stay]{}, fmt.Errorf("lodging: list stays: %w", err)
	}
	var ids []string
	keys := make([]map[string]types.AttributeValue, 0, len(index.Items))
	for _, ix := range index.Items {
		if ix.StayID == "" {
			return Page[Stay]{}, errors.New("lodging: stay index without stay_id")
		}
		ids = append(ids, ix.StayID)
		keys = append(keys, ddb.Key(stayPK(ix.StayID), skStay))
	}
	items, err := awsclient.BatchGetAll(ctx, s.db, s.table, keys)
	if err != nil {
		return Page[Stay]{}, fmt.Errorf("lodging: read stays: %w", err)
	}
	byID := map[string]Stay{}
	for _, it := range items {
		var st Stay
		if err := attributevalue.UnmarshalMap(it, &st); err != nil {
			return Page[Stay]{}, fmt.Errorf("lodging: unmarshal stay: %w", err)
		}
		byID[st.ID] = st
	}
	page := Page[Stay]{Items: make([]Stay, 0, len(ids)), NextCursor: index.NextCursor}
	for _, id := range ids {
		if st, ok := byID[id]; ok && st.Hotel == hotel {
			page.Items = append(page.Items, st)
		}
	}
	return page, nil
}

// stayIndex is a hotel's item that lists one of its stays.
type stayIndex struct {
	StayID string `dynamodbav:"stay_id"`
}

// receiptKey names r's receipt from the police.
func (s *Store) receiptKey(registrationID, kind string) webhooks.ReceiptKey {
	return webhooks.ReceiptKey{Subject: registrationID, Type: reportType(kind), Org: s.policy.ReportTo}
}

// ReportStates answers, per registration id, the state of its reports:
// delivered once lodging recorded the delivery on the registration, or
// else once the police's receipt exists (and then the delivery is
// recorded); else overdue past the deadline, else pending. The recorded
// delivery outlives the receipt (30 days), which the stay does by months.
func (s *Store) ReportStates(ctx context.Context, regs []Registration) (map[string][]ReportState, error) {
	type want struct {
		reg  Registration
		kind string
		due  time.Time
	}
	var wants []want
	var keys []webhooks.ReceiptKey
	for _, r := range regs {
		wants = append(wants, want{r, KindRegistered, r.RegisteredDue})
		if r.DepartedDue != nil {
			wants = append(wants, want{r, KindDeparted, *r.DepartedDue})
		}
	}
	for _, w := range wants {
		if w.reg.delivery(w.kind) == nil {
			keys = append(keys, s.receiptKey(w.reg.ID, w.kind))
		}
	}
	got, err := s.receipts.Received(ctx, keys)
	if err != nil {
		return nil, err
	}
	now := s.now()
	out := map[string][]ReportState{}
	for _, w := range wants {
		st := ReportState{Kind: w.kind, Status: ReportPending, Due: w.due}
		d := w.reg.delivery(w.kind)
		if rc, ok := got[s.receiptKey(w.reg.ID, w.kind)]; d == nil && ok {
			rec := delivery(rc, w.due)
			if err := s.recordDelivery(ctx, w.reg.StayID, guestSK(w.reg), w.reg.ID, w.kind, rec); err != nil {
				return nil, err
			}
			d = &rec
		}
		switch {
		case d != nil:
			st.Status, st.DeliveredAt, st.OnTime = ReportDelivered, &d.DeliveredAt, &d.OnTime
		case now.After(w.due):
			st.Status = ReportOverdue
		}
		out[w.reg.ID] = append(out[w.reg.ID], st)
	}
	return out, nil
}

// delivery is the delivery a receipt proves, of a report due at due.
func delivery(rc webhooks.Receipt, due time.Time) Delivery {
	return Delivery{DeliveredAt: rc.DeliveredAt.UTC(), OnTime: !rc.DeliveredAt.After(due)}
}

// deliveryAttr is the registration item's attribute holding the delivery
// of the report of kind.
func deliveryAttr(kind string) string {
	if kind == KindDeparted {
		return "departed_delivery"
	}
	return "registered_delivery"
}

// recordDelivery records d, the delivery of the registration's report of
// kind, on the registration item (stay stayID, sk guestSK), once: a
// delivery already recorded is kept (the first receipt is the one that
// counts, and it is the only one), and a registration gone (expired, or
// not the one named) is not recreated. It touches nothing else of the
// item, so its expiry stands.
func (s *Store) recordDelivery(ctx context.Context, stayID, guestSK, registrationID, kind string, d Delivery) error {
	v, err := attributevalue.MarshalMap(d)
	if err != nil {
		return fmt.Errorf("lodging: marshal delivery: %w", err)
	}
	_, err = s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(s.table), Key: ddb.Key(stayPK(stayID), guestSK),
		UpdateExpression:          aws.String("SET #d = :d"),
		ConditionExpression:       aws.String("attribute_exists(pk) AND registration_id = :reg AND attribute_not_exists(#d)"),
		ExpressionAttributeNames:  map[string]string{"#d": deliveryAttr(kind)},
		ExpressionAttributeValues: map[string]types.AttributeValue{":d": &types.AttributeValueMemberM{Value: v}, ":reg": ddb.S(registrationID)},
	})
	var ccf *types.ConditionalCheckFailedException
	if err != nil && !errors.As(err, &ccf) {
		return fmt.Errorf("lodging: record delivery of %s %s: %w", registrationID, kind, err)
	}
	return nil
}

// guestSKOf finds the sk of registration regID in stay stayID, for a
// tracker written before trackers kept it; "" when the stay has no such
// registration any more.
func (s *Store) guestSKOf(ctx context.Context, stayID, regID string) (string, error) {
	p := dynamodb.NewQueryPaginator(s.db, &dynamodb.QueryInput{
		TableName: aws.String(s.table), KeyConditionExpression: aws.String("pk = :pk AND begins_with(sk, :guest)"),
		FilterExpression:          aws.String("registration_id = :reg"),
		ProjectionExpression:      aws.String("sk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": ddb.S(stayPK(stayID)), ":guest": ddb.S(skGuest), ":reg": ddb.S(regID)},
	})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return "", fmt.Errorf("lodging: find registration %s: %w", regID, err)
		}
		for _, it := range out.Items {
			if sk, ok := it["sk"].(*types.AttributeValueMemberS); ok {
				return sk.Value, nil
			}
		}
	}
	return "", nil
}

// Overdue pages through hotel's reports past their deadline without a
// receipt, oldest deadline first. Trackers whose receipt has come are
// deleted on the way (so a page may hold fewer than limit).
func (s *Store) Overdue(ctx context.Context, hotel string, limit int, cursor string) (Page[Report], error) {
	start, err := ddb.StartKey(pendingPK(hotel), cursor, validReportSK)
	if err != nil {
		return Page[Report]{}, err
	}
	reports, last, err := s.pastDue(ctx, pendingPK(hotel), limit, start)
	if err != nil {
		return Page[Report]{}, err
	}
	overdue, err := s.settle(ctx, reports)
	if err != nil {
		return Page[Report]{}, err
	}
	return Page[Report]{Items: overdue, NextCursor: ddb.Cursor(last)}, nil
}

func validReportSK(sk string) bool {
	_, err := time.Parse(timeKey, strings.SplitN(sk, "#", 2)[0])
	return err == nil && strings.Count(sk, "#") == 2
}

// pastDue reads up to limit trackers of partition pk whose deadline has
// passed, from start.
func (s *Store) pastDue(ctx context.Context, pk string, limit int, start map[string]types.AttributeValue) ([]Report, map[string]types.AttributeValue, error) {
	out, err := s.db.Query(ctx, &dynamodb.QueryInput{
		TableName: aws.String(s.table), KeyConditionExpression: aws.String("pk = :pk AND sk < :now"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": ddb.S(pk), ":now": ddb.S(s.now().Format(timeKey))},
		Limit:                     aws.Int32(int32(limit)), ExclusiveStartKey: start, ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return nil, nil, fmt.Errorf("lodging: read pending reports: %w", err)
	}
	var reports []Report
	if err := attributevalue.UnmarshalListOfMaps(out.Items, &reports); err != nil {
		return nil, nil, fmt.Errorf("lodging: unmarshal reports: %w", err)
	}
	return reports, out.LastEvaluatedKey, nil
}

// settle looks up the receipts of reports; for each received, records its
// delivery on the registration and then deletes its trackers (so a
// failure leaves the trackers to settle again); answers the rest: overdue.
func (s *Store) settle(ctx context.Context, reports []Report) ([]Report, error) {
	keys := make([]webhooks.ReceiptKey, 0, len(reports))
	for _, r := range reports {
		keys = append(keys, s.receiptKey(r.RegistrationID, r.Kind))
	}
	got, err := s.receipts.Received(ctx, keys)
	if err != nil {
		return nil, err
	}
	overdue := []Report{}
	for _, r := range reports {
		rc, ok := got[s.receiptKey(r.RegistrationID, r.Kind)]
		if !ok {
			overdue = append(overdue, r)
			continue
		}
		sk := r.GuestSK
		if sk == "" {
			if sk, err = s.guestSKOf(ctx, r.StayID, r.RegistrationID); err != nil {
				return nil, err
			}
		}
		if sk != "" {
			if err := s.recordDelivery(ctx, r.StayID, sk, r.RegistrationID, r.Kind, delivery(rc, r.Due)); err != nil {
				return nil, err
			}
		}
		for _, pk := range []string{pendingPK(r.Hotel), cityPending} {
			if _, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(s.table), Key: ddb.Key(pk, reportSK(r))}); err != nil {
				return nil, fmt.Errorf("lodging: delete tracker: %w", err)
			}
		}
	}
	return overdue, nil
}

// CityOverdue answers every report of the city past its deadline without
// a receipt, settling the received ones on the way.
func (s *Store) CityOverdue(ctx context.Context) ([]Report, error) {
	var all []Report
	var start map[string]types.AttributeValue
	for {
		reports, last, err := s.pastDue(ctx, cityPending, 100, start)
		if err != nil {
			return nil, err
		}
		overdue, err := s.settle(ctx, reports)
		if err != nil {
			return nil, err
		}
		all = append(all, overdue...)
		if last == nil {
			return all, nil
		}
		start = last
	}
}
