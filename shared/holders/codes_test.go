package holders

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

func TestRefRoundTrip(t *testing.T) {
	t.Parallel()
	id := newID("hdr")
	ref, err := Ref(id)
	if err != nil || IDFromRef(ref) != id {
		t.Fatalf("Ref(%s) = %x, %v; back %s", id, ref, err, IDFromRef(ref))
	}
	for _, bad := range []string{"", "hdr_", "acc_" + id[4:], "hdr_!!", id + "a"} {
		if _, err := Ref(bad); !errors.Is(err, ErrBadRef) {
			t.Errorf("Ref(%q) = %v, want ErrBadRef", bad, err)
		}
	}
}

func TestSnapshotAndAccessLog(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newTestStore(t)
	h, _ := s.Enroll(ctx, "sub-snap", adult(20))
	if _, err := s.TopUp(ctx, h.ID, "top_snap", 700); err != nil {
		t.Fatal(err)
	}
	got, acct, err := s.Snapshot(ctx, h.ID)
	if err != nil || got.DocumentNumber != h.DocumentNumber || acct.BalanceFen != 700 {
		t.Fatalf("snapshot: %+v %+v %v", got, acct, err)
	}
	if _, _, err := s.Snapshot(ctx, newID("hdr")); !errors.Is(err, ErrNotEnrolled) {
		t.Errorf("unknown holder: %v", err)
	}
	w, err := s.AccessLogWrite(h.ID, AccessEntry{At: time.Now(), Organisation: "hotel-demo", Actor: "desk", Purpose: "hotel", What: []string{"name"}, Outcome: "released"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{w}}); err != nil {
		t.Fatal(err)
	}
	p, err := s.AccessLog(ctx, h.ID, 10, "")
	if err != nil || len(p.Items) != 1 || p.Items[0].Organisation != "hotel-demo" {
		t.Errorf("access log: %+v %v", p, err)
	}
}
