package seed

import (
	"context"
	"errors"
	"fmt"

	"github.com/citycode/citycode/shared/app"
	"github.com/citycode/citycode/shared/awsclient"
	"github.com/citycode/citycode/shared/holders"
	"github.com/citycode/citycode/shared/medical"
)

// Insurance is a demo insurance profile (demo.json's "insurance"): the
// resident enrolled as Sub, or with DependantName the dependant of that
// name they enrolled.
type Insurance struct {
	Sub                string `json:"sub"`
	DependantName      string `json:"dependant_name"`
	Scheme             string `json:"scheme"`
	Retired            bool   `json:"retired"`
	City               string `json:"insured_city"`
	PersonalAccountFen int64  `json:"personal_account_fen"`
}

// LoadInsurance writes the profiles, as the social security bureau would,
// with env's configuration (the hospital-settle function's environment),
// after Load has enrolled the residents. Profiles that exist are left as
// they are.
func LoadInsurance(ctx context.Context, env app.Env, d Demo) error {
	cfg, err := medical.ConfigFrom(env)
	if err != nil {
		return err
	}
	awsCfg, err := awsclient.Config(ctx, env)
	if err != nil {
		return err
	}
	db := awsclient.DynamoDB(awsCfg, env)
	people := holders.NewStore(db, cfg.HoldersTable, nil)
	store := medical.NewStore(db, cfg.MedicalTable, cfg.HoldersTable, nil, nil)
	for _, in := range d.Insurance {
		id, err := people.HolderIDForLogin(ctx, in.Sub)
		if err != nil {
			return fmt.Errorf("seed insurance of %s: %w", in.Sub, err)
		}
		if in.DependantName != "" {
			if id, err = dependantNamed(ctx, people, id, in.DependantName); err != nil {
				return fmt.Errorf("seed insurance of %s's %s: %w", in.Sub, in.DependantName, err)
			}
		}
		err = store.PutProfile(ctx, medical.Profile{HolderID: id, Scheme: in.Scheme, Retired: in.Retired, City: in.City,
			PersonalAccountFen: in.PersonalAccountFen})
		if err != nil && !errors.Is(err, medical.ErrProfileExists) {
			return fmt.Errorf("seed insurance of %s: %w", in.Sub, err)
		}
	}
	return nil
}

func dependantNamed(ctx context.Context, people *holders.Store, guardian, name string) (string, error) {
	deps, err := people.Dependants(ctx, guardian)
	if err != nil {
		return "", err
	}
	for _, d := range deps {
		if d.Name == name {
			return d.ID, nil
		}
	}
	return "", holders.ErrDependantNotFound
}
