package subscriptions

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
)

// Policy maps an organisation to the event types its purpose allows it to
// receive: exact type names or prefix.* patterns. An organisation it does
// not list may subscribe to nothing.
type Policy map[string][]string

//go:embed policy.json
var policyJSON []byte

// LoadPolicy parses the embedded policy.json.
func LoadPolicy() (Policy, error) { return ParsePolicy(policyJSON) }

// ParsePolicy parses a policy document: {"organisations": {org: {"purpose",
// "types"}}}. Every organisation needs a purpose and valid types.
func ParsePolicy(doc []byte) (Policy, error) {
	var raw struct {
		Organisations map[string]struct {
			Purpose string   `json:"purpose"`
			Types   []string `json:"types"`
		} `json:"organisations"`
	}
	if err := json.Unmarshal(doc, &raw); err != nil {
		return nil, fmt.Errorf("subscriptions: parse policy: %w", err)
	}
	p := Policy{}
	for org, o := range raw.Organisations {
		if strings.TrimSpace(o.Purpose) == "" || len(o.Types) == 0 {
			return nil, fmt.Errorf("subscriptions: policy of %q needs a purpose and types", org)
		}
		for _, t := range o.Types {
			if !ValidType(t) {
				return nil, fmt.Errorf("subscriptions: policy of %q: %q is not a type or a prefix.* pattern", org, t)
			}
		}
		p[org] = o.Types
	}
	return p, nil
}

// Allows reports whether org may subscribe to typ, an exact type name or a
// prefix.* pattern: some type of org's policy must cover all of it.
func (p Policy) Allows(org, typ string) bool {
	for _, allowed := range p[org] {
		if covers(allowed, typ) {
			return true
		}
	}
	return false
}

// covers reports whether every type that pattern b matches is matched by a
// (both exact names or prefix.* patterns).
func covers(a, b string) bool {
	if prefix, ok := strings.CutSuffix(a, "*"); ok {
		return strings.HasPrefix(strings.TrimSuffix(b, "*"), prefix)
	}
	return a == b
}

var (
	exactType   = regexp.MustCompile(`^city(\.[a-z][a-z0-9_]*)+\.v[1-9][0-9]*$`)
	typePattern = regexp.MustCompile(`^city(\.[a-z][a-z0-9_]*)*\.\*$`)
)

// MaxTypeLength bounds a type name or pattern.
const MaxTypeLength = 128

// ValidType reports whether t is a versioned event type name
// (city.holder.enrolled.v1) or a prefix pattern (city.holder.*, city.*).
func ValidType(t string) bool {
	return len(t) <= MaxTypeLength && (exactType.MatchString(t) || typePattern.MatchString(t))
}
