package certificates

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"

	"github.com/citycode/citycode/shared/httpapi"
)

// Category is one kind of certificate (infra/certificates/categories.json):
// who issues it, the fields it carries (a JSON Schema), how long it is
// valid, and which fields each purpose may see.
type Category struct {
	ID           string              `json:"id"`
	NameZH       string              `json:"name_zh"`
	NameEN       string              `json:"name_en"`
	IssuerOrg    string              `json:"issuer_org"`
	OnePerHolder bool                `json:"one_per_holder"`
	Validity     *string             `json:"validity"`
	Fields       json.RawMessage     `json:"fields"`
	Purposes     map[string][]string `json:"purposes"`

	schema *jsonschema.Schema
	term   period
}

// PurposeDef is a purpose the file declares: what it is for and which
// organisation kinds may use it.
type PurposeDef struct {
	Description string   `json:"description"`
	OrgKinds    []string `json:"org_kinds"`
}

// Catalogue is the loaded, checked categories file.
type Catalogue struct {
	byID     map[string]*Category
	ids      []string
	purposes map[string]PurposeDef
}

var (
	categoryIDPattern = regexp.MustCompile(`^[a-z][a-z0-9_]{1,63}$`)
	durationPattern   = regexp.MustCompile(`^P(?:([1-9][0-9]{0,2})Y)?(?:([1-9][0-9]{0,2})M)?(?:([1-9][0-9]{0,2})W)?(?:([1-9][0-9]{0,3})D)?$`)
)

// period is an ISO 8601 duration in years, months and days.
type period struct{ years, months, days int }

func (p period) zero() bool { return p == period{} }

// after is the last day of a term that starts on from: from + p - 1 day is
// still valid, so valid_until is from + p.
func (p period) after(from time.Time) time.Time { return from.AddDate(p.years, p.months, p.days) }

func parsePeriod(s string) (period, error) {
	m := durationPattern.FindStringSubmatch(s)
	if m == nil || s == "P" {
		return period{}, fmt.Errorf("validity %q is not an ISO 8601 duration in Y, M, W, D", s)
	}
	n := func(i int) int { v, _ := strconv.Atoi(m[i]); return v }
	return period{years: n(1), months: n(2), days: 7*n(3) + n(4)}, nil
}

// LoadCatalogue reads and checks the categories file at path: every schema
// compiles (draft 2020-12, formats asserted), is a closed object schema,
// and every purpose is declared and names real fields. A broken file is an
// error, so that it fails the cold start rather than a request.
func LoadCatalogue(path string) (*Catalogue, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("certificates: %w", err)
	}
	c, err := ParseCatalogue(b)
	if err != nil {
		return nil, fmt.Errorf("certificates: %s: %w", path, err)
	}
	return c, nil
}

// ParseCatalogue parses and checks a categories document.
func ParseCatalogue(b []byte) (*Catalogue, error) {
	var doc struct {
		Comment    string                `json:"_comment"`
		Version    int                   `json:"version"`
		Purposes   map[string]PurposeDef `json:"purposes"`
		Categories []*Category           `json:"categories"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		return nil, err
	}
	if len(doc.Purposes) == 0 || len(doc.Categories) == 0 {
		return nil, errors.New("no purposes or no categories")
	}
	c := &Catalogue{byID: map[string]*Category{}, purposes: doc.Purposes}
	// Each category is checked and its schema compiled on its own, in
	// parallel up to GOMAXPROCS (compiling is most of a cold start's work
	// here); every schema still compiles before the catalogue exists.
	errs := make([]error, len(doc.Categories))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(doc.Categories)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				errs[i] = doc.Categories[i].check(doc.Purposes)
			}
		}()
	}
	for i := range doc.Categories {
		next <- i
	}
	close(next)
	wg.Wait()
	for i, cat := range doc.Categories {
		if errs[i] != nil {
			return nil, fmt.Errorf("category %q: %w", cat.ID, errs[i])
		}
		if c.byID[cat.ID] != nil {
			return nil, fmt.Errorf("category %q is listed twice", cat.ID)
		}
		c.byID[cat.ID] = cat
		c.ids = append(c.ids, cat.ID)
	}
	sort.Strings(c.ids)
	return c, nil
}

func (cat *Category) check(purposes map[string]PurposeDef) error {
	if !categoryIDPattern.MatchString(cat.ID) {
		return errors.New("id is not snake_case of 2-64 characters")
	}
	if cat.NameZH == "" || cat.NameEN == "" || cat.IssuerOrg == "" {
		return errors.New("name_zh, name_en and issuer_org are required")
	}
	if cat.Validity != nil {
		p, err := parsePeriod(*cat.Validity)
		if err != nil {
			return err
		}
		cat.term = p
	}
	// The schema is decoded once, for the compiler; its top level is
	// checked on that decoded value.
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(cat.Fields))
	if err != nil {
		return fmt.Errorf("fields: %w", err)
	}
	top, _ := doc.(map[string]any)
	properties, _ := top["properties"].(map[string]any)
	if top["type"] != "object" || top["additionalProperties"] != false {
		return errors.New("fields must be an object schema with additionalProperties: false")
	}
	comp := jsonschema.NewCompiler()
	comp.DefaultDraft(jsonschema.Draft2020)
	comp.AssertFormat()
	url := "urn:citycode:category:" + cat.ID
	if err := comp.AddResource(url, doc); err != nil {
		return fmt.Errorf("fields: %w", err)
	}
	if cat.schema, err = comp.Compile(url); err != nil {
		return fmt.Errorf("fields: %w", err)
	}
	for purpose, names := range cat.Purposes {
		if _, ok := purposes[purpose]; !ok {
			return fmt.Errorf("purpose %q is not declared", purpose)
		}
		if len(names) == 0 {
			return fmt.Errorf("purpose %q releases nothing", purpose)
		}
		for _, n := range names {
			if _, ok := properties[n]; !ok {
				return fmt.Errorf("purpose %q: %q is not a field", purpose, n)
			}
		}
	}
	return nil
}

// Category answers the category id; false for an unknown one.
func (c *Catalogue) Category(id string) (*Category, bool) {
	cat, ok := c.byID[id]
	return cat, ok
}

// Page answers up to limit categories in id order after the id cursor
// (exclusive), and the cursor of the next page ("" on the last).
func (c *Catalogue) Page(limit int, after string) ([]*Category, string) {
	i, _ := slices.BinarySearch(c.ids, after)
	if i < len(c.ids) && c.ids[i] == after {
		i++
	}
	end := min(i+limit, len(c.ids))
	out := make([]*Category, 0, end-i)
	for _, id := range c.ids[i:end] {
		out = append(out, c.byID[id])
	}
	if end < len(c.ids) {
		return out, c.ids[end-1]
	}
	return out, ""
}

// PurposeError is the field error of a purpose the catalogue does not
// declare, or nil: a caller's purpose is checked before anything about it
// is written to a holder's access log.
func (c *Catalogue) PurposeError(purpose string) []httpapi.FieldError {
	if _, ok := c.purposes[purpose]; ok {
		return nil
	}
	return []httpapi.FieldError{{Field: "purpose", Code: "invalid", Detail: "must be a purpose of GET /v1/certificate-categories"}}
}

// MayUse reports whether an organisation of kind may use purpose.
func (c *Catalogue) MayUse(orgKind, purpose string) bool {
	p, ok := c.purposes[purpose]
	return ok && orgKind != "" && slices.Contains(p.OrgKinds, orgKind)
}

// Released answers the fields the category releases to purpose (none for
// a purpose it does not list).
func (cat *Category) Released(purpose string) []string { return cat.Purposes[purpose] }

// ValidateFields checks raw, the certificate's fields, against the
// category's schema; each problem is a field error on fields.<name>
// whose code is the schema keyword that failed.
func (cat *Category) ValidateFields(raw json.RawMessage) []httpapi.FieldError {
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return []httpapi.FieldError{{Field: "fields", Code: "invalid", Detail: "must be a JSON object"}}
	}
	err = cat.schema.Validate(v)
	var ve *jsonschema.ValidationError
	if err == nil {
		return nil
	}
	if !errors.As(err, &ve) {
		return []httpapi.FieldError{{Field: "fields", Code: "invalid", Detail: "does not match the category's schema"}}
	}
	var out []httpapi.FieldError
	collectErrors(ve, &out)
	if len(out) == 0 {
		out = append(out, httpapi.FieldError{Field: "fields", Code: "invalid", Detail: "does not match the category's schema"})
	}
	return out
}

// collectErrors flattens a validation error's leaves into field errors.
func collectErrors(ve *jsonschema.ValidationError, out *[]httpapi.FieldError) {
	if len(ve.Causes) > 0 {
		for _, c := range ve.Causes {
			collectErrors(c, out)
		}
		return
	}
	field := strings.Join(append([]string{"fields"}, ve.InstanceLocation...), ".")
	switch k := ve.ErrorKind.(type) {
	case *kind.Required:
		for _, m := range k.Missing {
			*out = append(*out, httpapi.FieldError{Field: field + "." + m, Code: "required", Detail: "is required"})
		}
		return
	case *kind.AdditionalProperties:
		for _, p := range k.Properties {
			*out = append(*out, httpapi.FieldError{Field: field + "." + p, Code: "additionalProperties", Detail: "is not a field of this category"})
		}
		return
	}
	code := "invalid"
	if kp := ve.ErrorKind.KeywordPath(); len(kp) > 0 {
		code = kp[len(kp)-1]
	}
	*out = append(*out, httpapi.FieldError{Field: field, Code: code, Detail: "fails the category's " + code + " rule"})
}
