package medical

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"regexp"
	"slices"
	"time"

	"github.com/citycode/citycode/shared/medpolicy"
)

// Kinds of provider.
const (
	KindHospital = "hospital"
	KindPharmacy = "pharmacy"
)

// Provider is a hospital or pharmacy that settles with the code, as listed
// in the providers file (MEDICAL_PROVIDERS_FILE).
type Provider struct {
	Org  string `json:"org"`
	Kind string `json:"kind"`
	// Tier is a hospital's grade (1 community, 2 district, 3 tertiary),
	// which sets the fund's share; 0 for a pharmacy.
	Tier int    `json:"tier"`
	Name string `json:"name"`
	// City is the city whose policies apply ("sh", as in
	// infra/medical/policies).
	City string `json:"city"`
}

// Providers are the listed providers by organisation.
type Providers map[string]Provider

var orgPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// LoadProviders reads and checks the providers file: unique organisations,
// a known kind, a hospital's tier 1–3 and a pharmacy's 0, a city.
func LoadProviders(path string) (Providers, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("providers: %w", err)
	}
	var doc struct {
		Providers []Provider `json:"providers"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("providers %s: %w", path, err)
	}
	ps := Providers{}
	for i, p := range doc.Providers {
		switch {
		case !orgPattern.MatchString(p.Org):
			err = fmt.Errorf("providers[%d]: org %q must be lower-case letters, digits and hyphens", i, p.Org)
		case ps[p.Org].Org != "":
			err = fmt.Errorf("providers[%d]: org %q listed twice", i, p.Org)
		case p.Kind == KindHospital && (p.Tier < 1 || p.Tier > 3):
			err = fmt.Errorf("providers[%d]: hospital %q needs a tier from 1 to 3", i, p.Org)
		case p.Kind == KindPharmacy && p.Tier != 0:
			err = fmt.Errorf("providers[%d]: pharmacy %q has tier 0", i, p.Org)
		case p.Kind != KindHospital && p.Kind != KindPharmacy:
			err = fmt.Errorf("providers[%d]: kind %q is not hospital or pharmacy", i, p.Kind)
		case p.Name == "" || p.City == "":
			err = fmt.Errorf("providers[%d]: %q needs a name and a city", i, p.Org)
		}
		if err != nil {
			return nil, err
		}
		ps[p.Org] = p
	}
	if len(ps) == 0 {
		return nil, errors.New("providers: the file lists none")
	}
	return ps, nil
}

// CheckTiers makes sure the policies in force this year and next, for each
// provider's city, have rules for the provider's tier, so that a provider
// listed with a tier its policy does not know fails the cold start rather
// than its patients' bills (medpolicy.ErrBadTier). A city or year without
// a policy is not checked: its bills answer no_policy.
func (ps Providers) CheckTiers(policies *medpolicy.Policies, at time.Time) error {
	probe := []medpolicy.Line{{ItemCode: "PROBE", Category: medpolicy.CategoryA, Quantity: 1, AmountFen: 1}}
	for _, org := range slices.Sorted(maps.Keys(ps)) {
		p := ps[org]
		visits := []medpolicy.VisitType{medpolicy.Outpatient, medpolicy.Inpatient}
		if p.Kind == KindPharmacy {
			visits = []medpolicy.VisitType{medpolicy.Pharmacy}
		}
		for _, on := range []time.Time{at, at.AddDate(1, 0, 0)} {
			policy, err := policies.For(p.City, on)
			if errors.Is(err, medpolicy.ErrNoPolicy) {
				continue
			}
			if err != nil {
				return err
			}
			for _, vt := range visits {
				for _, m := range []medpolicy.Member{{Scheme: medpolicy.Employee}, {Scheme: medpolicy.Employee, Retired: true}, {Scheme: medpolicy.Resident}} {
					_, err := policy.Split(medpolicy.Bill{VisitType: vt, Tier: p.Tier, Lines: probe, Date: on}, m)
					if errors.Is(err, medpolicy.ErrBadTier) {
						return fmt.Errorf("providers: %s (%s, tier %d): %w", org, p.Kind, p.Tier, err)
					}
				}
			}
		}
	}
	return nil
}
