package holders

import (
	"context"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/citycode/citycode/shared/outbox"
)

// Events of this capability (infra/events).
const (
	eventSource        = "/citycode/holders"
	typeEnrolled       = "city.holder.enrolled.v1"
	typeDependantAdded = "city.holder.dependant_added.v1"
	kindResident       = "resident"
	kindDependant      = "dependant"
)

type enrolledData struct {
	HolderID     string    `json:"holder_id"`
	Kind         string    `json:"kind"`
	DocumentType string    `json:"document_type"`
	Nationality  string    `json:"nationality"`
	EnrolledAt   time.Time `json:"enrolled_at"`
}

type dependantAddedData struct {
	HolderID     string `json:"holder_id"`
	GuardianID   string `json:"guardian_id"`
	Relationship string `json:"relationship"`
	DocumentType string `json:"document_type"`
	Nationality  string `json:"nationality"`
}

// enrolled is h's city.holder.enrolled.v1 event: no name, document number
// or date of birth.
func enrolled(h Holder, kind string) outbox.Event {
	return outbox.Event{Type: typeEnrolled, Source: eventSource, Subject: h.ID, Time: h.CreatedAt, Data: enrolledData{
		HolderID: h.ID, Kind: kind, DocumentType: h.DocumentType, Nationality: h.Nationality, EnrolledAt: h.CreatedAt,
	}}
}

// dependantAdded is the city.holder.dependant_added.v1 event of dependant
// h under guardian.
func dependantAdded(h Holder, guardian string) outbox.Event {
	return outbox.Event{Type: typeDependantAdded, Source: eventSource, Subject: h.ID, Time: h.CreatedAt, Data: dependantAddedData{
		HolderID: h.ID, GuardianID: guardian, Relationship: h.Relationship, DocumentType: h.DocumentType, Nationality: h.Nationality,
	}}
}

// transact writes writes and, after them, events in one transaction; the
// events do not shift the indexes of the writes' cancellation reasons.
func (s *Store) transact(ctx context.Context, writes []types.TransactWriteItem, events ...outbox.Event) error {
	if s.outbox == nil {
		_, err := s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: writes})
		return err
	}
	return s.outbox.Transact(ctx, writes, events...)
}
