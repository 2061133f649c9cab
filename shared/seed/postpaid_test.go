package seed_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/citycode/citycode/shared/dynamotest"
	"github.com/citycode/citycode/shared/holders"
	"github.com/citycode/citycode/shared/seed"
)

// TestDemoResidentsGetTheirPostpaidLimits: each demo resident's account
// carries the post-paid limit demo.json gives it (none: prepaid only), and
// a second load changes nothing.
func TestDemoResidentsGetTheirPostpaidLimits(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db := dynamotest.New(t)
	demo := readDemo(t)
	for range 2 {
		if err := seed.Load(ctx, db.AppEnv(t, "HoldersFunction"), demo); err != nil {
			t.Fatal(err)
		}
	}
	people := holders.NewStore(db.Client, db.Tables["HoldersTable"], nil)
	want, got := map[string][2]int64{}, map[string][2]int64{}
	credit := 0
	for _, r := range demo.Residents {
		want[r.Sub] = [2]int64{r.TopUpFen, r.PostpaidLimitFen}
		if r.PostpaidLimitFen > 0 {
			credit++
		}
		id, err := people.HolderIDForLogin(ctx, r.Sub)
		if err != nil {
			t.Fatal(err)
		}
		acct, err := people.Account(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		got[r.Sub] = [2]int64{acct.BalanceFen, acct.PostpaidLimitFen}
	}
	if credit == 0 {
		t.Error("no demo resident has a post-paid limit")
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("balance and post-paid limit by resident (-demo.json +accounts):\n%s", diff)
	}
}
