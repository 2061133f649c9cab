package certificates

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
)

// Organisations maps an organisation id (a token's org) to its kind
// (agency, hotel, bank, …), which decides the purposes it may use
// (infra/certificates/organisations.json).
type Organisations map[string]string

// LoadOrganisations reads the organisations file at path.
func LoadOrganisations(path string) (Organisations, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("certificates: %w", err)
	}
	var doc struct {
		Comment       string `json:"_comment"`
		Organisations map[string]struct {
			Kind string `json:"kind"`
			Name string `json:"name"`
		} `json:"organisations"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("certificates: %s: %w", path, err)
	}
	if len(doc.Organisations) == 0 {
		return nil, errors.New("certificates: " + path + " lists no organisations")
	}
	orgs := Organisations{}
	for id, o := range doc.Organisations {
		if o.Kind == "" {
			return nil, fmt.Errorf("certificates: %s: organisation %q has no kind", path, id)
		}
		orgs[id] = o.Kind
	}
	return orgs, nil
}
