package transit

import (
	"time"

	"github.com/citycode/citycode/shared/outbox"
)

// Events of this capability (infra/events).
const (
	eventSource       = "/citycode/transit"
	typeTripCompleted = "city.transit.trip.completed.v1"
	typeFareCharged   = "city.transit.fare.charged.v1"
	typeFareAdjusted  = "city.transit.fare.adjusted.v1"
)

type pointData struct {
	StopID string    `json:"stop_id"`
	GateID string    `json:"gate_id"`
	At     time.Time `json:"at"`
}

type tripCompletedData struct {
	TripID     string     `json:"trip_id"`
	HolderID   string     `json:"holder_id"`
	Mode       string     `json:"mode"`
	Status     string     `json:"status"`
	Operator   string     `json:"operator"`
	RouteID    string     `json:"route_id,omitempty"`
	Entry      pointData  `json:"entry"`
	Exit       *pointData `json:"exit,omitempty"`
	DistanceM  int64      `json:"distance_m"`
	Basis      string     `json:"basis"`
	ChargedFen int64      `json:"charged_fen"`
}

type adjustmentData struct {
	Code      string `json:"code"`
	AmountFen int64  `json:"amount_fen"`
}

type fareChargedData struct {
	EntryID     string           `json:"entry_id"`
	TripID      string           `json:"trip_id"`
	HolderID    string           `json:"holder_id"`
	Operator    string           `json:"operator"`
	Mode        string           `json:"mode"`
	ProductID   string           `json:"product_id"`
	BaseFen     int64            `json:"base_fen"`
	Adjustments []adjustmentData `json:"adjustments"`
	AmountFen   int64            `json:"amount_fen"`
	UnpaidFen   int64            `json:"unpaid_fen"`
	ChargedAt   time.Time        `json:"charged_at"`
}

// events are the trips' city.transit.trip.completed.v1 events and, for
// those that cost something, their city.transit.fare.charged.v1: subject
// the holder, so that a receiver sees one rider's charges in order. No
// personal data but the pseudonymous holder id, which a charge must carry
// to be disputed.
func events(trips []Trip) []outbox.Event {
	var evs []outbox.Event
	for _, t := range trips {
		ended := t.Entry.At
		var exit *pointData
		if t.Exit != nil {
			ended = t.Exit.At
			exit = &pointData{StopID: t.Exit.StopID, GateID: t.Exit.GateID, At: t.Exit.At}
		}
		evs = append(evs, outbox.Event{Type: typeTripCompleted, Source: eventSource, Subject: t.HolderID, Time: ended, Data: tripCompletedData{
			TripID: t.TripID, HolderID: t.HolderID, Mode: t.Mode, Status: t.Status, Operator: t.Operator, RouteID: t.RouteID,
			Entry: pointData{StopID: t.Entry.StopID, GateID: t.Entry.GateID, At: t.Entry.At}, Exit: exit,
			DistanceM: t.DistanceM, Basis: t.Fare.Basis, ChargedFen: t.Fare.ChargedFen,
		}})
		if t.EntryID == "" {
			continue
		}
		adj := make([]adjustmentData, 0, len(t.Fare.Adjustments))
		for _, a := range t.Fare.Adjustments {
			adj = append(adj, adjustmentData{Code: a.Code, AmountFen: a.AmountFen})
		}
		evs = append(evs, outbox.Event{Type: typeFareCharged, Source: eventSource, Subject: t.HolderID, Time: t.ChargedAt, Data: fareChargedData{
			EntryID: t.EntryID, TripID: t.TripID, HolderID: t.HolderID, Operator: t.Operator, Mode: t.Mode, ProductID: t.Fare.ProductID,
			BaseFen: t.Fare.BaseFen, Adjustments: adj, AmountFen: t.Fare.ChargedFen, UnpaidFen: t.UnpaidFen, ChargedAt: t.ChargedAt,
		}})
	}
	return evs
}

type fareAdjustedData struct {
	EntryID            string           `json:"entry_id,omitempty"`
	TripID             string           `json:"trip_id"`
	HolderID           string           `json:"holder_id"`
	Operator           string           `json:"operator"`
	Mode               string           `json:"mode"`
	Reason             string           `json:"reason"`
	Exit               pointData        `json:"exit"`
	DistanceM          int64            `json:"distance_m"`
	Basis              string           `json:"basis"`
	ProductID          string           `json:"product_id"`
	BaseFen            int64            `json:"base_fen"`
	Adjustments        []adjustmentData `json:"adjustments"`
	PreviousChargedFen int64            `json:"previous_charged_fen"`
	ChargedFen         int64            `json:"charged_fen"`
	RefundFen          int64            `json:"refund_fen"`
	UnpaidFen          int64            `json:"unpaid_fen"`
	AdjustedAt         time.Time        `json:"adjusted_at"`
}

// adjustedReasonLateTapOut is why a fare is adjusted: its tap-out arrived
// after the trip was closed without one.
const adjustedReasonLateTapOut = "late_tap_out"

// adjusted is the city.transit.fare.adjusted.v1 event of t, a trip
// repriced with its late tap-out: its exit (which its trip.completed event
// lacked), the new fare and the refund.
func adjusted(t Trip) outbox.Event {
	adj := make([]adjustmentData, 0, len(t.Fare.Adjustments))
	for _, a := range t.Fare.Adjustments {
		adj = append(adj, adjustmentData{Code: a.Code, AmountFen: a.AmountFen})
	}
	return outbox.Event{Type: typeFareAdjusted, Source: eventSource, Subject: t.HolderID, Time: *t.RepricedAt, Data: fareAdjustedData{
		EntryID: t.RefundEntryID, TripID: t.TripID, HolderID: t.HolderID, Operator: t.Operator, Mode: t.Mode, Reason: adjustedReasonLateTapOut,
		Exit: pointData{StopID: t.Exit.StopID, GateID: t.Exit.GateID, At: t.Exit.At}, DistanceM: t.DistanceM, Basis: t.Fare.Basis,
		ProductID: t.Fare.ProductID, BaseFen: t.Fare.BaseFen, Adjustments: adj, PreviousChargedFen: t.Fare.ChargedFen + t.RefundFen,
		ChargedFen: t.Fare.ChargedFen, RefundFen: t.RefundFen, UnpaidFen: t.UnpaidFen, AdjustedAt: *t.RepricedAt,
	}}
}
