package qrverify

import (
	"testing"

	"github.com/citycode/citycode/shared/holders"
)

// TestMayTravelIsHolders: may_travel reads the account as holders.Account
// judges it, post-paid limit included.
func TestMayTravelIsHolders(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	_, hs, h, s := holdersWorld(t) // 700 fen
	for _, limit := range []int64{0, 500, 0} {
		if err := hs.SetPostpaidLimit(ctx, h.ID, limit); err != nil {
			t.Fatal(err)
		}
		got, err := s.Holder(ctx, h.ID)
		if err != nil {
			t.Fatal(err)
		}
		acct, err := hs.Account(ctx, h.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.PostpaidLimitFen != limit || got.MayTravel() != acct.MayTravel() || !got.MayTravel() {
			t.Errorf("limit %d: qrverify %+v, holders %+v", limit, got, acct)
		}
	}
	for _, tc := range []struct {
		balance, limit int64
		want           bool
	}{{1, 0, true}, {0, 0, false}, {-200, 0, false}, {-200, 200, false}, {-200, 201, true}} {
		q := Holder{BalanceFen: tc.balance, PostpaidLimitFen: tc.limit}
		a := holders.Account{BalanceFen: tc.balance, PostpaidLimitFen: tc.limit}
		if q.MayTravel() != tc.want || a.MayTravel() != tc.want {
			t.Errorf("balance %d, limit %d: qrverify %v, holders %v; want %v", tc.balance, tc.limit, q.MayTravel(), a.MayTravel(), tc.want)
		}
	}
}
