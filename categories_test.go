package citycode_test

import (
	"bytes"
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// categoriesFile is the certificate categories' data (infra/certificates.md).
const categoriesFile = "infra/certificates/categories.json"

type categoriesDoc struct {
	Comment    string                     `json:"_comment"`
	Purposes   map[string]json.RawMessage `json:"purposes"`
	Categories []categoryDoc              `json:"categories"`
}

type categoryDoc struct {
	ID        string              `json:"id"`
	NameZH    string              `json:"name_zh"`
	NameEN    string              `json:"name_en"`
	IssuerOrg string              `json:"issuer_org"`
	OnePer    bool                `json:"one_per_holder"`
	Fields    json.RawMessage     `json:"fields"`
	Validity  *string             `json:"validity"`
	Purposes  map[string][]string `json:"purposes"`
}

// fieldsHeader is what the checks read of a category's schema besides
// compiling it.
type fieldsHeader struct {
	Type                 string                     `json:"type"`
	Properties           map[string]json.RawMessage `json:"properties"`
	Required             []string                   `json:"required"`
	AdditionalProperties *bool                      `json:"additionalProperties"`
	Examples             []any                      `json:"examples"`
}

var (
	categoryID = regexp.MustCompile(`^[a-z][a-z0-9_]{1,63}$`)
	// dateDuration is an ISO 8601 duration in whole years, months, weeks
	// or days; at least one part.
	dateDuration = regexp.MustCompile(`^P(?:[1-9][0-9]{0,2}Y)?(?:[1-9][0-9]{0,2}M)?(?:[1-9][0-9]{0,2}W)?(?:[1-9][0-9]{0,3}D)?$`)
)

func validValidity(v *string) bool {
	return v == nil || (*v != "P" && dateDuration.MatchString(*v))
}

func TestCategoryValidityFormat(t *testing.T) {
	t.Parallel()
	s := func(v string) *string { return &v }
	for _, tc := range []struct {
		in   *string
		want bool
	}{
		{nil, true}, {s("P10Y"), true}, {s("P6Y"), true}, {s("P1Y6M"), true}, {s("P90D"), true}, {s("P2W"), true},
		{s("P"), false}, {s(""), false}, {s("10Y"), false}, {s("P0Y"), false}, {s("PT1H"), false}, {s("P1.5Y"), false}, {s("p1y"), false},
	} {
		if got := validValidity(tc.in); got != tc.want {
			t.Errorf("validValidity(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func loadCategories(t *testing.T) categoriesDoc {
	t.Helper()
	raw, err := os.ReadFile(categoriesFile)
	if err != nil {
		t.Fatalf("read categories: %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var doc struct {
		categoriesDoc
		Version int `json:"version"`
	}
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("decode %s: %v", categoriesFile, err)
	}
	return doc.categoriesDoc
}

func TestCategoriesFile(t *testing.T) {
	t.Parallel()
	doc := loadCategories(t)
	if doc.Comment == "" {
		t.Error("_comment is missing: the file must say it is sample data")
	}
	if len(doc.Categories) < 30 {
		t.Errorf("%d categories, want at least 30", len(doc.Categories))
	}
	seen := map[string]bool{}
	for _, c := range doc.Categories {
		if seen[c.ID] {
			t.Errorf("category id %q is not unique", c.ID)
		}
		seen[c.ID] = true
	}
}

func TestCategories(t *testing.T) {
	t.Parallel()
	doc := loadCategories(t)
	for _, c := range doc.Categories {
		t.Run(c.ID, func(t *testing.T) {
			t.Parallel()
			if !categoryID.MatchString(c.ID) {
				t.Errorf("id %q is not snake_case of 2–64 characters", c.ID)
			}
			if c.NameZH == "" || c.NameEN == "" || c.IssuerOrg == "" {
				t.Errorf("name_zh %q, name_en %q, issuer_org %q: all are required", c.NameZH, c.NameEN, c.IssuerOrg)
			}
			if !validValidity(c.Validity) {
				t.Errorf("validity %q is neither null nor an ISO 8601 duration", *c.Validity)
			}

			schema, err := jsonschema.UnmarshalJSON(bytes.NewReader(c.Fields))
			if err != nil {
				t.Fatalf("fields: %v", err)
			}
			comp := jsonschema.NewCompiler()
			comp.DefaultDraft(jsonschema.Draft2020)
			comp.AssertFormat()
			url := "urn:citycode:category:" + c.ID
			if err := comp.AddResource(url, schema); err != nil {
				t.Fatalf("fields: %v", err)
			}
			sch, err := comp.Compile(url)
			if err != nil {
				t.Fatalf("fields do not compile: %v", err)
			}

			var h fieldsHeader
			if err := json.Unmarshal(c.Fields, &h); err != nil {
				t.Fatalf("fields: %v", err)
			}
			if h.Type != "object" || h.AdditionalProperties == nil || *h.AdditionalProperties {
				t.Errorf("fields: type %q, additionalProperties %v; want an object schema closed with additionalProperties: false", h.Type, h.AdditionalProperties)
			}
			if len(h.Required) == 0 {
				t.Error("fields: no required fields")
			}
			for _, f := range h.Required {
				if _, ok := h.Properties[f]; !ok {
					t.Errorf("fields: required %q is not a property", f)
				}
			}
			if len(h.Examples) == 0 {
				t.Error("fields: no example")
			}
			for i, ex := range h.Examples {
				if err := sch.Validate(ex); err != nil {
					t.Errorf("fields: example %d does not validate: %v", i, err)
				}
			}

			if _, ok := c.Purposes["government"]; !ok {
				t.Error("purposes: government (the issuing and consenting agencies) is missing")
			}
			for purpose, names := range c.Purposes {
				if _, ok := doc.Purposes[purpose]; !ok {
					t.Errorf("purpose %q is not declared in the file's purposes", purpose)
				}
				if len(names) == 0 {
					t.Errorf("purpose %q releases nothing; leave it out instead", purpose)
				}
				for i, n := range names {
					if _, ok := h.Properties[n]; !ok {
						t.Errorf("purpose %q: field %q is not in the schema's properties", purpose, n)
					}
					if slices.Contains(names[:i], n) {
						t.Errorf("purpose %q: field %q is listed twice", purpose, n)
					}
				}
			}
		})
	}
}
