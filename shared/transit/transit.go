// Package transit is transit-fare: bus and metro gates post the codes they
// scan (online one at a time, offline in batches), tap-in and tap-out pair
// into trips, and each trip's fare (shared/fares) is charged to the
// holder's account exactly once, in one transaction with the trip, the
// ledger entry, the rider's state and the events. See infra/transit.md.
package transit

import (
	"errors"
	"time"

	"github.com/citycode/citycode/shared/ddb"
)

// Directions of a tap.
const (
	DirectionIn  = "in"
	DirectionOut = "out"
)

// Statuses of a tap's result.
const (
	StatusAccepted  = "accepted"
	StatusDuplicate = "duplicate"
	StatusRefused   = "refused"
)

// Stable refusal codes of a tap (besides qr-verify's reasons for an invalid
// code, which are passed on as they are).
const (
	CodeInvalidTap            = "invalid_tap"
	CodeUnknownGate           = "unknown_gate"
	CodeGateNotYours          = "gate_not_yours"
	CodeUnknownStop           = "unknown_stop"
	CodeStopNotAtGate         = "stop_not_at_gate"
	CodeDirectionNotSupported = "direction_not_supported"
	CodeTapInFuture           = "tap_in_future"
	CodeTapTooOld             = "tap_too_old"
	CodeTapIDReused           = "tap_id_reused"
	CodeReplayed              = "replayed"
	CodeForeignCode           = "foreign_code"
	CodeInsufficientFunds     = "insufficient_funds"
	CodeNoTapIn               = "no_tap_in"
)

// Trip statuses.
const (
	TripCompleted     = "completed"       // tap-in and tap-out
	TripMissingTapOut = "missing_tap_out" // closed at the maximum fare
	TripBus           = "bus"             // a single tap, charged at once
)

// Limits on taps.
const (
	// MaxFuture is how far ahead of the server's clock a tap may be.
	MaxFuture = 5 * time.Minute
	// MaxAge is how old a tap may be when it arrives (an offline gate's
	// upload); its code's use mark is kept at least this long.
	MaxAge = 72 * time.Hour
	// MaxBatch is the most taps one batch may carry.
	MaxBatch = 500
	// MaxBatchBytes is the largest batch body.
	MaxBatchBytes = 512 << 10
	// tapRetention is how long a tap's record (its dedupe key) is kept.
	tapRetention = 90 * 24 * time.Hour
)

var (
	// errBadCursor is a cursor this API did not give out.
	errBadCursor = ddb.ErrCorruptCursor
	// errBadMonth is a month that is not YYYY-MM.
	errBadMonth = errors.New("transit: bad month")
)

// Tap is one scan at a gate, as the gate sends it. At stays text so that
// one bad time in a batch is that tap's refusal, not the batch's.
type Tap struct {
	TapID     string `json:"tap_id"`
	GateID    string `json:"gate_id"`
	StopID    string `json:"stop_id"`
	Direction string `json:"direction"`
	At        string `json:"at"`
	Code      string `json:"code"`
}

// Result is what became of a tap.
type Result struct {
	TapID  string `json:"tap_id"`
	Status string `json:"status"`
	// Code and Detail say why a tap was refused.
	Code   string `json:"code,omitempty"`
	Detail string `json:"detail,omitempty"`
	// MayTravel is the account's state after the tap; nil when the holder
	// is not known.
	MayTravel *bool `json:"may_travel,omitempty"`
	// TripID is the trip the tap opened or completed.
	TripID string `json:"trip_id,omitempty"`
	// Trip is the trip the tap completed (a tap-out, a bus boarding).
	Trip *Trip `json:"trip,omitempty"`
}

func refused(tapID, code, detail string) Result {
	return Result{TapID: tapID, Status: StatusRefused, Code: code, Detail: detail}
}

// Trip is a priced ride, as stored and answered.
type Trip struct {
	TripID    string    `json:"trip_id" dynamodbav:"trip_id"`
	HolderID  string    `json:"holder_id" dynamodbav:"holder_id"`
	Mode      string    `json:"mode" dynamodbav:"mode"`
	Status    string    `json:"status" dynamodbav:"status"`
	Operator  string    `json:"operator" dynamodbav:"operator"`
	RouteID   string    `json:"route_id,omitempty" dynamodbav:"route_id,omitempty"`
	Entry     Point     `json:"entry" dynamodbav:"entry"`
	Exit      *Point    `json:"exit,omitempty" dynamodbav:"exit,omitempty"`
	DistanceM int64     `json:"distance_m" dynamodbav:"distance_m"`
	Fare      Fare      `json:"fare" dynamodbav:"fare"`
	UnpaidFen int64     `json:"unpaid_fen" dynamodbav:"unpaid_fen"`
	EntryID   string    `json:"entry_id,omitempty" dynamodbav:"entry_id,omitempty"`
	ChargedAt time.Time `json:"charged_at" dynamodbav:"charged_at"`
	// RepricedAt, RefundFen and RefundEntryID are set on a trip closed as
	// a missing tap-out whose tap-out arrived later (an offline gate's
	// upload): repriced with its real exit, the difference refunded once
	// (ledger entry RefundEntryID, none when the difference is 0). Fare is
	// then the fare as repriced.
	RepricedAt    *time.Time `json:"repriced_at,omitempty" dynamodbav:"repriced_at,omitempty"`
	RefundFen     int64      `json:"refund_fen,omitempty" dynamodbav:"refund_fen,omitempty"`
	RefundEntryID string     `json:"refund_entry_id,omitempty" dynamodbav:"refund_entry_id,omitempty"`
	// PricedOn is the history a missing tap-out's maximum fare was priced
	// on, kept (not answered) to reprice it on the same history.
	PricedOn *pricedOn `json:"-" dynamodbav:"priced_on,omitempty"`
}

// Point is where and when a trip began or ended.
type Point struct {
	StopID   string    `json:"stop_id" dynamodbav:"stop_id"`
	StopName string    `json:"stop_name" dynamodbav:"stop_name"`
	GateID   string    `json:"gate_id" dynamodbav:"gate_id"`
	At       time.Time `json:"at" dynamodbav:"at"`
}

// Fare is a trip's fare, explained.
type Fare struct {
	BaseFen     int64        `json:"base_fen" dynamodbav:"base_fen"`
	ChargedFen  int64        `json:"charged_fen" dynamodbav:"charged_fen"`
	Basis       string       `json:"basis" dynamodbav:"basis"`
	ProductID   string       `json:"product_id" dynamodbav:"product_id"`
	Detail      string       `json:"detail" dynamodbav:"detail"`
	Adjustments []Adjustment `json:"adjustments" dynamodbav:"adjustments"`
}

// Adjustment is one discount of a fare.
type Adjustment struct {
	Code      string `json:"code" dynamodbav:"code"`
	AmountFen int64  `json:"amount_fen" dynamodbav:"amount_fen"`
	Detail    string `json:"detail" dynamodbav:"detail"`
}
