// Package seed loads the fictional demo data of infra/seed/demo.json into a
// fresh local stack, through the capabilities' own stores so that seeded
// records are exactly what the API would have written.
package seed

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/citycode/citycode/shared/app"
	"github.com/citycode/citycode/shared/awsclient"
	"github.com/citycode/citycode/shared/holders"
	"github.com/citycode/citycode/shared/outbox"
)

// Demo is the shape of infra/seed/demo.json.
type Demo struct {
	Residents []struct {
		Sub        string                        `json:"sub"`
		Enrollment holders.Enrollment            `json:"enrollment"`
		TopUpFen   int64                         `json:"top_up_fen"`
		Dependants []holders.DependantEnrollment `json:"dependants"`

		// PostpaidLimitFen is how far below zero transit may take the
		// balance (holders.Store.SetPostpaidLimit); 0 for prepaid only.
		PostpaidLimitFen int64 `json:"postpaid_limit_fen"`
	} `json:"residents"`
	Organisations []Organisation `json:"organisations"`
	Insurance     []Insurance    `json:"insurance"`
	Certificates  []Certificate  `json:"certificates"`
}

// Step loads part of a Demo with the environment of the template function
// whose data it writes.
type Step struct {
	Function string
	Load     func(ctx context.Context, env app.Env, d Demo) error
}

// Steps load a whole Demo, in order: residents first, then what refers to
// them.
var Steps = []Step{
	{Function: "HoldersFunction", Load: Load},
	{Function: "HospitalSettleFunction", Load: LoadInsurance},
	{Function: "CertificatesFunction", Load: LoadCertificates},
}

// Organisation is a demo organisation and its machine clients, for which
// the local run prints devtoken command lines.
type Organisation struct {
	Org     string `json:"org"`
	Kind    string `json:"kind"`
	Name    string `json:"name"`
	Clients []struct {
		Sub    string   `json:"sub"`
		Scopes []string `json:"scopes"`
		Note   string   `json:"note"`
	} `json:"clients"`
}

// Read parses a demo file.
func Read(path string) (Demo, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Demo{}, fmt.Errorf("read seed: %w", err)
	}
	var d Demo
	if err := json.Unmarshal(b, &d); err != nil {
		return Demo{}, fmt.Errorf("parse seed %s: %w", path, err)
	}
	return d, nil
}

// Load writes d's residents, dependants and opening balances with env's
// configuration (the holders function's environment). Running it twice is
// harmless: what exists already is left as it is.
func Load(ctx context.Context, env app.Env, d Demo) error {
	cfg, err := holders.ConfigFrom(env)
	if err != nil {
		return err
	}
	key, err := hex.DecodeString(cfg.DocumentKeyHex)
	if err != nil {
		return fmt.Errorf("seed needs DOCUMENT_KEY: %w", err)
	}
	awsCfg, err := awsclient.Config(ctx, env)
	if err != nil {
		return err
	}
	db := awsclient.DynamoDB(awsCfg, env)
	store := holders.NewStore(db, cfg.HoldersTable, key).WithOutbox(outbox.New(db, cfg.Events.Table, cfg.Events.Retention))
	today := time.Now().UTC()
	for _, r := range d.Residents {
		if errs := r.Enrollment.Validate(today); len(errs) > 0 {
			return fmt.Errorf("seed %s: invalid enrollment: %+v", r.Sub, errs)
		}
		h, err := store.Enroll(ctx, r.Sub, r.Enrollment)
		if errors.Is(err, holders.ErrAlreadyEnrolled) {
			continue
		}
		if err != nil {
			return fmt.Errorf("seed %s: %w", r.Sub, err)
		}
		if r.TopUpFen > 0 {
			if _, err := store.TopUp(ctx, h.ID, "top_seed_"+h.ID, r.TopUpFen); err != nil {
				return fmt.Errorf("seed top-up %s: %w", r.Sub, err)
			}
		}
		if r.PostpaidLimitFen > 0 {
			if err := store.SetPostpaidLimit(ctx, h.ID, r.PostpaidLimitFen); err != nil {
				return fmt.Errorf("seed post-paid limit %s: %w", r.Sub, err)
			}
		}
		for _, dep := range r.Dependants {
			if errs := dep.Validate(today); len(errs) > 0 {
				return fmt.Errorf("seed dependant of %s: invalid: %+v", r.Sub, errs)
			}
			if _, err := store.AddDependant(ctx, h.ID, dep); err != nil {
				return fmt.Errorf("seed dependant of %s: %w", r.Sub, err)
			}
		}
	}
	return nil
}
