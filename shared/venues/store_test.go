package venues

import (
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// TestRefusal: DynamoDB Local serialises transactions rather than
// cancelling them with TransactionConflict, so the concurrency test does
// not reach the retry; its decision is checked here on the cancellations
// DynamoDB gives.
func TestRefusal(t *testing.T) {
	t.Parallel()
	cancel := func(codes ...string) error {
		e := &types.TransactionCanceledException{}
		for _, c := range codes {
			e.CancellationReasons = append(e.CancellationReasons, types.CancellationReason{Code: aws.String(c)})
		}
		return e
	}
	const counter = 2 // mark, access-log entry, counter, entry
	for _, tc := range []struct {
		name  string
		err   error
		want  error
		retry bool
	}{
		{"replayed", cancel("ConditionalCheckFailed", "None", "None", "None"), ErrReplayed, false},
		{"full", cancel("None", "None", "ConditionalCheckFailed", "None"), ErrCapacityReached, false},
		{"full while another held the mark", cancel("TransactionConflict", "None", "ConditionalCheckFailed", "None"), ErrCapacityReached, false},
		{"collision on the counter", cancel("None", "None", "TransactionConflict", "None"), nil, true},
		{"entry id taken", cancel("None", "None", "None", "ConditionalCheckFailed"), nil, false},
		{"not a cancellation", errors.New("throttled"), nil, false},
	} {
		got := refusal(tc.err, counter)
		switch {
		case tc.retry && got != nil:
			t.Errorf("%s: %v, want a retry", tc.name, got)
		case !tc.retry && got == nil:
			t.Errorf("%s: a retry, want a refusal", tc.name)
		case tc.want != nil && !errors.Is(got, tc.want):
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}
