package seed_test

import (
	"testing"

	"github.com/citycode/citycode/shared/dynamotest"
	"github.com/citycode/citycode/shared/holders"
	"github.com/citycode/citycode/shared/medical"
	"github.com/citycode/citycode/shared/seed"
)

func TestDemoInsuranceSeedsOnceForResidentsAndDependants(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db := dynamotest.New(t)
	demo := readDemo(t)
	if len(demo.Insurance) == 0 {
		t.Fatal("demo.json has no insurance profiles")
	}
	if err := seed.Load(ctx, db.AppEnv(t, "HoldersFunction"), demo); err != nil {
		t.Fatal(err)
	}
	for range 2 { // the second run finds them all and changes nothing
		if err := seed.LoadInsurance(ctx, db.AppEnv(t, "HospitalSettleFunction"), demo); err != nil {
			t.Fatal(err)
		}
	}
	people := holders.NewStore(db.Client, db.Tables["HoldersTable"], nil)
	store := medical.NewStore(db.Client, db.Tables["MedicalTable"], db.Tables["HoldersTable"], nil, nil)
	guardian, err := people.HolderIDForLogin(ctx, "demo-resident-1")
	if err != nil {
		t.Fatal(err)
	}
	deps, err := people.Dependants(ctx, guardian)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]string{"demo-resident-1": guardian}
	for _, d := range deps {
		ids[d.Name] = d.ID
	}
	for who, want := range map[string]medical.Profile{
		"demo-resident-1": {Scheme: "employee", City: "sh", PersonalAccountFen: 182000},
		"王建国":             {Scheme: "employee", Retired: true, City: "sh", PersonalAccountFen: 356000},
	} {
		got, err := store.Profile(ctx, ids[who])
		if err != nil || got.Scheme != want.Scheme || got.Retired != want.Retired || got.City != want.City ||
			got.PersonalAccountFen != want.PersonalAccountFen || got.Version != 0 {
			t.Errorf("%s: %+v, %v; want %+v at version 0", who, got, err, want)
		}
	}
}
