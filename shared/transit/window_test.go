package transit

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/citycode/citycode/shared/qrverify"
	"github.com/citycode/citycode/shared/trust"
)

// An offline gate uploads taps up to MaxAge late. Until then the codes it
// scanned must still verify (their keys stay in the trust list) and a
// clone of a code accepted online must still meet the original's mark.
func TestOfflineUploadWindowHoldsTogether(t *testing.T) {
	t.Parallel()
	if trust.RetiredKeyGrace < MaxAge+time.Hour {
		t.Errorf("trust.RetiredKeyGrace %s: a key leaves the trust list before taps it signed may arrive (MaxAge %s)", trust.RetiredKeyGrace, MaxAge)
	}
	if qrverify.OfflineUploadWindow < MaxAge+time.Hour {
		t.Errorf("qrverify.OfflineUploadWindow %s is shorter than MaxAge %s and an hour", qrverify.OfflineUploadWindow, MaxAge)
	}
	if p, _ := qrverify.PurposeNamed(purpose); p.KeepMark != qrverify.OfflineUploadWindow {
		t.Errorf("the %s purpose keeps its marks %s, want %s", purpose, p.KeepMark, qrverify.OfflineUploadWindow)
	}
}

func TestOnlineTapInMarkOutlivesOfflineUploads(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	w := newWorld(t, nil)
	id := w.holder(t, 1000)
	now := time.Now().UTC()
	in := tap("w-in", "peoples_square", DirectionIn, now, w.code(t, id, now))
	if r, err := w.svc.Tap(ctx, in, metroGate); err != nil || r.Status != StatusAccepted {
		t.Fatalf("online tap-in: %+v, %v", r, err)
	}
	// The test's own table: a Scan finds the one mark the tap wrote.
	out, err := w.db.Client.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String(w.db.Tables["CodeUsesTable"])})
	if err != nil {
		t.Fatal(err)
	}
	var marks int
	for _, it := range out.Items {
		pk := it["pk"].(*types.AttributeValueMemberS).Value
		if !strings.HasPrefix(pk, purpose+"#") {
			continue
		}
		marks++
		exp, _ := strconv.ParseInt(it["expires_at"].(*types.AttributeValueMemberN).Value, 10, 64)
		if until := time.Unix(exp, 0); until.Before(now.Add(MaxAge)) {
			t.Errorf("the tap-in's mark is kept until %s, before an offline clone could still arrive (%s)", until, now.Add(MaxAge))
		}
	}
	if marks != 1 {
		t.Errorf("%d tap-in marks, want 1", marks)
	}
}
