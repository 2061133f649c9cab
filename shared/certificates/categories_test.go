package certificates

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const shippedCategories = "../../infra/certificates/categories.json"

func TestShippedCategoriesLoad(t *testing.T) {
	t.Parallel()
	c, err := LoadCatalogue(shippedCategories)
	if err != nil {
		t.Fatal(err)
	}
	dl, ok := c.Category("driving_licence")
	if !ok || !dl.OnePerHolder || dl.IssuerOrg != "police-demo" {
		t.Fatalf("driving_licence: %+v", dl)
	}
	// Every example of every category validates through ValidateFields.
	for _, id := range c.ids {
		var h struct {
			Examples []json.RawMessage `json:"examples"`
		}
		cat, _ := c.Category(id)
		_ = json.Unmarshal(cat.Fields, &h)
		for _, ex := range h.Examples {
			if errs := cat.ValidateFields(ex); len(errs) > 0 {
				t.Errorf("%s example: %+v", id, errs)
			}
		}
	}
	// Pages walk every category once, in id order.
	var seen []string
	for after := ""; ; {
		page, next := c.Page(7, after)
		for _, cat := range page {
			seen = append(seen, cat.ID)
		}
		if next == "" {
			break
		}
		after = next
	}
	if !slices.IsSorted(seen) || len(seen) != len(c.ids) {
		t.Errorf("pages: %v", seen)
	}
}

func TestFieldErrorsNameTheFieldAndTheKeyword(t *testing.T) {
	t.Parallel()
	c, err := LoadCatalogue(shippedCategories)
	if err != nil {
		t.Fatal(err)
	}
	dl, _ := c.Category("driving_licence")
	got := dl.ValidateFields(json.RawMessage(`{"name":"x","id_number":"123","sex":"other","date_of_birth":"1990-02-30",` +
		`"nationality":"CHN","licence_number":"110105194912310020","first_issued":"2010-05-01","colour":"red"}`))
	var pairs []string
	for _, e := range got {
		pairs = append(pairs, e.Field+" "+e.Code)
	}
	slices.Sort(pairs)
	want := []string{"fields.colour additionalProperties", "fields.date_of_birth format", "fields.id_number pattern",
		"fields.licence_class required", "fields.sex enum"}
	if diff := cmp.Diff(want, pairs); diff != "" {
		t.Errorf("field errors (-want +got):\n%s", diff)
	}
	if errs := dl.ValidateFields(json.RawMessage(`[1]`)); len(errs) != 1 || errs[0].Field != "fields" {
		t.Errorf("not an object: %+v", errs)
	}
}

func TestBrokenCategoriesFailTheLoad(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile(shippedCategories)
	if err != nil {
		t.Fatal(err)
	}
	for name, edit := range map[string][2]string{
		"duplicate id":         {`"id": "driving_licence"`, `"id": "resident_id_card"`},
		"bad validity":         {`"validity": "P6Y"`, `"validity": "six years"`},
		"undeclared purpose":   {`"car_rental": [`, `"car_hire": [`},
		"purpose of no field":  {`"employer": [` + "\n" + `          "name",`, `"employer": [` + "\n" + `          "surname",`},
		"schema not compiling": {`"type": "integer",`, `"type": "integr",`},
		"open schema":          {`"additionalProperties": false`, `"additionalProperties": true`},
	} {
		broken := strings.Replace(string(raw), edit[0], edit[1], 1)
		if broken == string(raw) {
			t.Errorf("%s: the edit %q matches nothing", name, edit[0])
			continue
		}
		if _, err := ParseCatalogue([]byte(broken)); err == nil {
			t.Errorf("%s: loaded", name)
		}
	}
}

func TestValidity(t *testing.T) {
	t.Parallel()
	c, _ := LoadCatalogue(shippedCategories)
	dl, _ := c.Category("driving_licence")              // P6Y
	id, _ := c.Category("resident_id_card")             // no fixed term
	now := time.Date(2026, 3, 1, 20, 0, 0, 0, time.UTC) // 2026-03-02 in Shanghai
	for _, tc := range []struct {
		cat                 *Category
		from, until         string
		wantFrom, wantUntil string
		wantField, wantCode string
	}{
		{cat: dl, wantFrom: "2026-03-02", wantUntil: "2032-03-02"},
		{cat: dl, from: "2020-01-01", wantFrom: "2020-01-01", wantUntil: "2026-01-01"},
		{cat: dl, from: "2020-01-01", until: "2024-01-01", wantFrom: "2020-01-01", wantUntil: "2024-01-01"},
		{cat: dl, from: "2020-01-01", until: "2026-01-02", wantField: "valid_until", wantCode: "out_of_range"},
		{cat: dl, from: "2020-01-01", until: "2020-01-01", wantField: "valid_until", wantCode: "out_of_range"},
		{cat: dl, from: "2020-13-01", wantField: "valid_from", wantCode: "format"},
		{cat: id, wantFrom: "2026-03-02", wantUntil: ""},
		{cat: id, from: "2020-01-01", until: "2040-01-01", wantFrom: "2020-01-01", wantUntil: "2040-01-01"},
	} {
		from, until, errs := tc.cat.Term(tc.from, tc.until, now)
		if tc.wantField != "" {
			if len(errs) != 1 || errs[0].Field != tc.wantField || errs[0].Code != tc.wantCode {
				t.Errorf("%s %q..%q: %+v, want %s %s", tc.cat.ID, tc.from, tc.until, errs, tc.wantField, tc.wantCode)
			}
			continue
		}
		if len(errs) > 0 || from != tc.wantFrom || until != tc.wantUntil {
			t.Errorf("%s %q..%q: %s..%s %+v, want %s..%s", tc.cat.ID, tc.from, tc.until, from, until, errs, tc.wantFrom, tc.wantUntil)
		}
	}
}

func TestStatusAt(t *testing.T) {
	t.Parallel()
	// 2026-03-01 16:30 UTC is 2026-03-02 00:30 in Shanghai.
	now := time.Date(2026, 3, 1, 16, 30, 0, 0, time.UTC)
	for _, tc := range []struct {
		status, until, want string
	}{
		{StatusActive, "", StatusActive},
		{StatusActive, "2026-03-02", StatusActive},
		{StatusActive, "2026-03-01", StatusExpired},
		{StatusSuspended, "2026-03-01", StatusSuspended},
		{StatusRevoked, "2030-01-01", StatusRevoked},
	} {
		if got := (Certificate{Status: tc.status, ValidUntil: tc.until}).StatusAt(now); got != tc.want {
			t.Errorf("%s until %q: %s, want %s", tc.status, tc.until, got, tc.want)
		}
	}
}

// TestOrganisationsKeepStepWithTheSeed: every demo organisation has its
// seed kind, and every category's issuer is listed.
func TestOrganisationsKeepStepWithTheSeed(t *testing.T) {
	t.Parallel()
	orgs, err := LoadOrganisations("../../infra/certificates/organisations.json")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join("..", "..", "infra", "seed", "demo.json"))
	if err != nil {
		t.Fatal(err)
	}
	var seed struct {
		Organisations []struct{ Org, Kind string } `json:"organisations"`
	}
	if err := json.Unmarshal(raw, &seed); err != nil {
		t.Fatal(err)
	}
	for _, o := range seed.Organisations {
		if orgs[o.Org] != o.Kind {
			t.Errorf("%s: kind %q in organisations.json, %q in the seed", o.Org, orgs[o.Org], o.Kind)
		}
	}
	c, _ := LoadCatalogue(shippedCategories)
	for _, id := range c.ids {
		if cat, _ := c.Category(id); orgs[cat.IssuerOrg] == "" {
			t.Errorf("%s: issuer %s is not in organisations.json", id, cat.IssuerOrg)
		}
	}
}
