package outboxtest

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/citycode/citycode/shared/localstack"
)

// Every schema in infra/events is draft 2020-12, is named after its type,
// closes its properties (no field, and so no personal data, slips in
// unlisted) and is described in the README.
func TestSchemasAreComplete(t *testing.T) {
	t.Parallel()
	root, err := localstack.RepoRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "infra", "events")
	readme, err := os.ReadFile(filepath.Join(dir, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no schemas in %s (%v)", dir, err)
	}
	for _, f := range files {
		typ := strings.TrimSuffix(filepath.Base(f), ".json")
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var s struct {
			Schema     string `json:"$schema"`
			Title      string `json:"title"`
			Additional *bool  `json:"additionalProperties"`
		}
		if err := json.Unmarshal(b, &s); err != nil {
			t.Fatalf("%s: %v", typ, err)
		}
		if s.Schema != "https://json-schema.org/draft/2020-12/schema" || s.Title != typ || s.Additional == nil || *s.Additional {
			t.Errorf("%s: $schema %q, title %q, additionalProperties %v; want draft 2020-12, the type, false", typ, s.Schema, s.Title, s.Additional)
		}
		if !strings.Contains(string(readme), "`"+typ+"`") {
			t.Errorf("%s is not described in infra/events/README.md", typ)
		}
		if err := Validate(typ, []byte(`{}`)); err == nil {
			t.Errorf("%s accepts empty data", typ)
		}
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	const (
		holder   = `"holder_id":"hdr_abcdefghijklmnopqrstuvwxyz"`
		guardian = `"guardian_id":"hdr_234567abcdefghijklmnopqrst"`
	)
	enrolled := func(extra string) string {
		return `{` + holder + `,"kind":"resident","document_type":"passport","nationality":"FRA","enrolled_at":"2026-11-22T08:00:00Z"` + extra + `}`
	}
	added := func(extra string) string {
		return `{` + holder + `,` + guardian + `,"relationship":"child","document_type":"resident_id","nationality":"CHN"` + extra + `}`
	}
	for _, tc := range []struct {
		name, typ, data string
		ok              bool
	}{
		{"enrolled", "city.holder.enrolled.v1", enrolled(""), true},
		{"enrolled with a name", "city.holder.enrolled.v1", enrolled(`,"name":"张伟"`), false},
		{"enrolled with a document number", "city.holder.enrolled.v1", enrolled(`,"document_number":"E12345678"`), false},
		{"enrolled with a bad time", "city.holder.enrolled.v1", strings.Replace(enrolled(""), "2026-11-22T08:00:00Z", "yesterday", 1), false},
		{"enrolled of an unknown kind", "city.holder.enrolled.v1", strings.Replace(enrolled(""), "resident", "visitor", 1), false},
		{"dependant added", "city.holder.dependant_added.v1", added(""), true},
		{"dependant added with a date of birth", "city.holder.dependant_added.v1", added(`,"date_of_birth":"2015-01-01"`), false},
		{"dependant added without guardian", "city.holder.dependant_added.v1", strings.Replace(added(""), guardian+",", "", 1), false},
		{"unknown type", "city.holder.unknown.v1", `{}`, false},
	} {
		if err := Validate(tc.typ, []byte(tc.data)); (err == nil) != tc.ok {
			t.Errorf("%s: Validate = %v, want ok %v", tc.name, err, tc.ok)
		}
	}
}
