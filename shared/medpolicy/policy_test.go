package medpolicy_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/citycode/citycode/shared/medpolicy"
)

func TestFor(t *testing.T) {
	t.Parallel()
	ps, err := medpolicy.Load(policyDir)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		city string
		on   time.Time
		want string // policy id; "" for ErrNoPolicy
		year int
	}{
		{"sh", billDay, "sh-2026", 2026},
		{"sh", time.Date(2025, 12, 31, 16, 0, 0, 0, time.UTC), "sh-2026", 2026}, // 1 January 2026 in Shanghai
		{"sh", time.Date(2026, 12, 31, 15, 59, 59, 0, time.UTC), "sh-2026", 2026},
		{"sh", time.Date(2026, 12, 31, 16, 0, 0, 0, time.UTC), "sh-2027", 2027}, // 1 January 2027 in Shanghai
		{"sh", time.Date(2027, 12, 31, 16, 0, 0, 0, time.UTC), "", 0},           // 2028 in Shanghai: no file, no fallback
		{"sh", time.Date(2025, 6, 1, 0, 0, 0, 0, cst), "", 0},
		{"bj", billDay, "", 0},
	}
	for _, tt := range tests {
		p, err := ps.For(tt.city, tt.on)
		switch {
		case tt.want == "" && !errors.Is(err, medpolicy.ErrNoPolicy):
			t.Errorf("For(%s, %v) = %v, %v; want ErrNoPolicy", tt.city, tt.on, p, err)
		case tt.want != "" && (err != nil || p.ID != tt.want || p.City != tt.city || p.Year != tt.year):
			t.Errorf("For(%s, %v) = %+v, %v; want %s", tt.city, tt.on, p, err, tt.want)
		}
	}
}

// samplePolicy is the sample file decoded, for tests to change.
func samplePolicy(t *testing.T) map[string]any {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(policyDir, "sh-2026.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

// at walks doc along the path of object keys.
func at(doc map[string]any, keys ...string) map[string]any {
	for _, k := range keys {
		doc = doc[k].(map[string]any)
	}
	return doc
}

func writeJSON(t *testing.T, dir, name string, v any) {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestLoadRefuses(t *testing.T) {
	t.Parallel()
	const employeeOP = "schemes.employee.standard.outpatient"
	path := func(p string) []string { return strings.Split(p, ".") }
	tests := []struct {
		name   string
		file   string // "" for sh-2026.json
		change func(doc map[string]any)
	}{
		{"share above 100%", "", func(d map[string]any) { at(d, path(employeeOP+".fund_share_bp")...)["1"] = 10001 }},
		{"negative share", "", func(d map[string]any) { at(d, path(employeeOP+".fund_share_bp")...)["2"] = -1 }},
		{"fractional fen", "", func(d map[string]any) { at(d, "schemes", "employee")["annual_fund_cap_fen"] = 1.5 }},
		{"negative cap", "", func(d map[string]any) { at(d, "schemes", "resident")["annual_fund_cap_fen"] = -1 }},
		{"unknown field", "", func(d map[string]any) { d["deductible"] = 1 }},
		{"id not city-year", "", func(d map[string]any) { d["year"] = 2027 }},
		{"file not named after the id", "shanghai.json", func(map[string]any) {}},
		{"missing B share", "", func(d map[string]any) { delete(d, "b_self_pay_share_bp") }},
		{"unknown scheme", "", func(d map[string]any) { at(d, "schemes")["commercial"] = at(d, "schemes", "resident") }},
		{"missing pharmacy rules", "", func(d map[string]any) { delete(at(d, "schemes", "employee", "retired"), "pharmacy") }},
		{"tier 4", "", func(d map[string]any) { at(d, path(employeeOP+".fund_share_bp")...)["4"] = 5000 }},
		{"hospital tier at a pharmacy", "", func(d map[string]any) {
			at(d, "schemes", "employee", "standard", "pharmacy")["fund_share_bp"] = map[string]any{"1": 0}
		}},
		{"no fund share", "", func(d map[string]any) { delete(at(d, path(employeeOP)...), "fund_share_bp") }},
		{"deductible without an amount", "", func(d map[string]any) { at(d, path(employeeOP)...)["deductible"] = map[string]any{"basis": "year"} }},
		{"deductible with both amounts", "", func(d map[string]any) {
			at(d, path(employeeOP+".deductible")...)["fen_by_tier"] = map[string]any{"1": 1, "2": 2, "3": 3}
		}},
		{"unknown deductible basis", "", func(d map[string]any) { at(d, path(employeeOP+".deductible")...)["basis"] = "month" }},
		{"deductible by tier misses a tier", "", func(d map[string]any) {
			delete(at(d, "schemes", "resident", "standard", "inpatient", "deductible", "fen_by_tier"), "3")
		}},
		{"deductible by tier names a tier without a share", "", func(d map[string]any) {
			delete(at(d, "schemes", "resident", "standard", "inpatient", "fund_share_bp"), "3")
		}},
		{"unknown personal account use", "", func(d map[string]any) { at(d, path(employeeOP)...)["personal_account_pays"] = []any{"dental"} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			doc := samplePolicy(t)
			tt.change(doc)
			name := tt.file
			if name == "" {
				name = "sh-2026.json"
			}
			dir := t.TempDir()
			writeJSON(t, dir, name, doc)
			ps, err := medpolicy.Load(dir)
			if err == nil || !strings.Contains(err.Error(), name) {
				t.Fatalf("Load = %v, %v; want an error naming %s", ps, err, name)
			}
			t.Log(err)
		})
	}
	t.Run("not JSON", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "sh-2026.json"), []byte(`{"id": `), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := medpolicy.Load(dir); err == nil {
			t.Fatal("Load accepted a truncated file")
		}
	})
	t.Run("no files", func(t *testing.T) {
		t.Parallel()
		if _, err := medpolicy.Load(t.TempDir()); err == nil {
			t.Fatal("Load accepted an empty directory")
		}
	})
	t.Run("no directory", func(t *testing.T) {
		t.Parallel()
		if _, err := medpolicy.Load(filepath.Join(t.TempDir(), "missing")); err == nil {
			t.Fatal("Load accepted a missing directory")
		}
	})
}

// TestNewYearPolicy: a new year's rules are a new file, no code change. The
// 2027 file lowers the employee outpatient deductible to 120000 and raises
// the tier-1 share to 80%.
func TestNewYearPolicy(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	doc := samplePolicy(t)
	writeJSON(t, dir, "sh-2026.json", doc)
	doc["id"], doc["year"] = "sh-2027", 2027
	op := at(doc, "schemes", "employee", "standard", "outpatient")
	at(op, "deductible")["fen"] = 120000
	at(op, "fund_share_bp")["1"] = 8000
	writeJSON(t, dir, "sh-2027.json", doc)
	ps, err := medpolicy.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	m := employee(0, opMet(150000)) // 2026's deductible met
	tests := []struct {
		on   time.Time
		want medpolicy.Split
	}{
		// 2026: deductible met; 200000 at 75% = 150000, copay 50000.
		{time.Date(2026, 6, 1, 9, 0, 0, 0, cst), medpolicy.Split{
			Lines: []medpolicy.LineSplit{{ItemCode: "XA01", Amounts: amt(200000, 0, 200000, 0, 50000, 150000, 0, 50000)}},
			Total: amt(200000, 0, 200000, 0, 50000, 150000, 0, 50000),
			After: after(150000, 0, 150000), Policy: "sh-2026",
		}},
		// 2027: 2026's totals count as zero; deductible 120000; 80000 at
		// 80% = 64000, copay 16000.
		{time.Date(2027, 6, 1, 9, 0, 0, 0, cst), medpolicy.Split{
			Lines: []medpolicy.LineSplit{{ItemCode: "XA01", Amounts: amt(200000, 0, 200000, 120000, 16000, 64000, 0, 136000)}},
			Total: amt(200000, 0, 200000, 120000, 16000, 64000, 0, 136000),
			After: medpolicy.Totals{Year: 2027, OutpatientDeductibleMetFen: 120000, FundPaidFen: 64000}, Policy: "sh-2027",
		}},
	}
	for _, tt := range tests {
		p, err := ps.For("sh", tt.on)
		if err != nil {
			t.Fatal(err)
		}
		b := bill(medpolicy.Outpatient, 1, line("XA01", medpolicy.CategoryA, 200000))
		b.Date = tt.on
		got, err := p.Split(b, m)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("%d split (-want +got):\n%s", tt.on.Year(), diff)
		}
	}
}
