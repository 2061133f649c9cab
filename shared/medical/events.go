package medical

import (
	"time"

	"github.com/citycode/citycode/shared/outbox"
)

// Events of this capability (infra/events). They carry amounts and ids,
// never item lines or diagnoses: those are health data, which stay with
// the provider and the settlement record.
const (
	eventSource   = "/citycode/medical"
	typeCompleted = "city.medical.settlement.completed.v1"
	typeReversed  = "city.medical.settlement.reversed.v1"
)

type completedData struct {
	SettlementID string    `json:"settlement_id"`
	BillID       string    `json:"bill_id"`
	HolderID     string    `json:"holder_id"`
	Organisation string    `json:"organisation"`
	ProviderKind string    `json:"provider_kind"`
	Tier         int       `json:"tier"`
	VisitID      string    `json:"visit_id,omitempty"`
	VisitType    string    `json:"visit_type"`
	Scheme       string    `json:"scheme"`
	Retired      bool      `json:"retired"`
	Policy       string    `json:"policy"`
	Year         int       `json:"year"`
	Amounts      Amounts   `json:"amounts"`
	SettledAt    time.Time `json:"settled_at"`
}

type reversedData struct {
	SettlementID string    `json:"settlement_id"`
	BillID       string    `json:"bill_id"`
	HolderID     string    `json:"holder_id"`
	Organisation string    `json:"organisation"`
	ReversalID   string    `json:"reversal_id"`
	Reason       string    `json:"reason"`
	Year         int       `json:"year"`
	Amounts      Amounts   `json:"amounts"`
	ReversedAt   time.Time `json:"reversed_at"`
}

// completed is st's city.medical.settlement.completed.v1 event.
func completed(st Settlement) outbox.Event {
	return outbox.Event{Type: typeCompleted, Source: eventSource, Subject: st.HolderID, Time: st.SettledAt, Data: completedData{
		SettlementID: st.ID, BillID: st.BillID, HolderID: st.HolderID, Organisation: st.Org, ProviderKind: st.ProviderKind,
		Tier: st.Tier, VisitID: st.VisitID, VisitType: st.VisitType, Scheme: st.Scheme, Retired: st.Retired, Policy: st.Policy,
		Year: st.Changes.Year, Amounts: st.Total, SettledAt: st.SettledAt,
	}}
}

// reversed is the city.medical.settlement.reversed.v1 event of st, just
// reversed: the amounts given back are the settlement's.
func reversed(st Settlement) outbox.Event {
	return outbox.Event{Type: typeReversed, Source: eventSource, Subject: st.HolderID, Time: st.Reversal.At, Data: reversedData{
		SettlementID: st.ID, BillID: st.BillID, HolderID: st.HolderID, Organisation: st.Org, ReversalID: st.Reversal.ID,
		Reason: st.Reversal.Reason, Year: st.Changes.Year, Amounts: st.Total, ReversedAt: st.Reversal.At,
	}}
}
