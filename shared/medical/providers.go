package medical

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
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
