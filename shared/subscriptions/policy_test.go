package subscriptions

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestPolicyAllows(t *testing.T) {
	t.Parallel()
	p := Policy{
		"police":  {"city.holder.enrolled.v1", "city.lodging.*"},
		"welfare": {"city.*"},
	}
	tests := []struct {
		org, typ string
		want     bool
	}{
		{"police", "city.holder.enrolled.v1", true},
		{"police", "city.holder.enrolled.v2", false},
		{"police", "city.holder.dependant_added.v1", false},
		{"police", "city.holder.*", false},
		{"police", "city.*", false},
		{"police", "city.lodging.registered.v1", true},
		{"police", "city.lodging.*", true},
		{"police", "city.lodging.checkout.*", true},
		{"police", "city.lodgings.registered.v1", false},
		{"welfare", "city.holder.*", true},
		{"welfare", "city.*", true},
		{"unknown", "city.holder.enrolled.v1", false},
		{"", "city.holder.enrolled.v1", false},
	}
	for _, tc := range tests {
		if got := p.Allows(tc.org, tc.typ); got != tc.want {
			t.Errorf("Allows(%q, %q) = %v, want %v", tc.org, tc.typ, got, tc.want)
		}
	}
}

func TestParsePolicyRefusesBadDocuments(t *testing.T) {
	t.Parallel()
	for name, doc := range map[string]string{
		"not JSON":     `{`,
		"no purpose":   `{"organisations": {"a": {"types": ["city.x.v1"]}}}`,
		"no types":     `{"organisations": {"a": {"purpose": "p", "types": []}}}`,
		"bad type":     `{"organisations": {"a": {"purpose": "p", "types": ["holder.enrolled"]}}}`,
		"bare pattern": `{"organisations": {"a": {"purpose": "p", "types": ["*"]}}}`,
	} {
		if _, err := ParsePolicy([]byte(doc)); err == nil {
			t.Errorf("%s: parsed", name)
		}
	}
}

// TestEmbeddedPolicyNamesSubscribingOrganisations keeps policy.json in step
// with the demo seed: every organisation it lists exists there with a
// client holding events:subscribe, and every such organisation is listed.
func TestEmbeddedPolicyNamesSubscribingOrganisations(t *testing.T) {
	t.Parallel()
	p, err := LoadPolicy()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join("..", "..", "infra", "seed", "demo.json"))
	if err != nil {
		t.Fatal(err)
	}
	var seed struct {
		Organisations []struct {
			Org     string `json:"org"`
			Clients []struct {
				Scopes []string `json:"scopes"`
			} `json:"clients"`
		} `json:"organisations"`
	}
	if err := json.Unmarshal(raw, &seed); err != nil {
		t.Fatal(err)
	}
	var subscribers []string
	for _, o := range seed.Organisations {
		for _, c := range o.Clients {
			if slices.Contains(c.Scopes, Scope) && !slices.Contains(subscribers, o.Org) {
				subscribers = append(subscribers, o.Org)
			}
		}
	}
	for _, org := range subscribers {
		if len(p[org]) == 0 {
			t.Errorf("%s subscribes in the seed but policy.json allows it nothing", org)
		}
	}
	for org := range p {
		if !slices.Contains(subscribers, org) {
			t.Errorf("policy.json lists %s, which has no events:subscribe client in the seed", org)
		}
	}
	if !p.Allows("police-demo", "city.holder.enrolled.v1") {
		t.Error("police-demo may not receive enrollments (entry-exit administration)")
	}
}
