package medical

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/citycode/citycode/shared/medpolicy"
)

func fen(n int64) *int64 { return &n }

func TestLinesValidate(t *testing.T) {
	t.Parallel()
	ok := LineRequest{ItemCode: "XA01", Category: "A", Quantity: fen(1), AmountFen: fen(100)}
	tests := []struct {
		name  string
		lines Lines
		want  []string // fields named, in order
	}{
		{"valid", Lines{Lines: []LineRequest{ok, ok}, TotalFen: fen(200)}, nil},
		{"no total", Lines{Lines: []LineRequest{ok}}, []string{"total_fen"}},
		{"mismatch", Lines{Lines: []LineRequest{ok}, TotalFen: fen(99)}, []string{"total_fen"}},
		{"negative", Lines{Lines: []LineRequest{{ItemCode: "X", Category: "B", Quantity: fen(1), AmountFen: fen(-1)}}, TotalFen: fen(-1)}, []string{"lines[0].amount_fen"}},
		{"zero amount", Lines{Lines: []LineRequest{{ItemCode: "X", Category: "B", Quantity: fen(1), AmountFen: fen(0)}}, TotalFen: fen(0)}, []string{"lines[0].amount_fen"}},
		{"over the line maximum", Lines{Lines: []LineRequest{{ItemCode: "X", Category: "B", Quantity: fen(1), AmountFen: fen(medpolicy.MaxLineFen + 1)}}, TotalFen: fen(0)}, []string{"lines[0].amount_fen"}},
		{"missing fields", Lines{Lines: []LineRequest{{}}, TotalFen: fen(0)}, []string{"lines[0].item_code", "lines[0].category", "lines[0].quantity", "lines[0].amount_fen"}},
		{"unknown category", Lines{Lines: []LineRequest{ok, {ItemCode: "X", Category: "a", Quantity: fen(1), AmountFen: fen(1)}}, TotalFen: fen(101)}, []string{"lines[1].category"}},
		{"too many units", Lines{Lines: []LineRequest{{ItemCode: "X", Category: "C", Quantity: fen(MaxQuantity + 1), AmountFen: fen(1)}}, TotalFen: fen(1)}, []string{"lines[0].quantity"}},
		{"item code too long", Lines{Lines: []LineRequest{{ItemCode: strings.Repeat("X", 65), Category: "C", Quantity: fen(1), AmountFen: fen(1)}}, TotalFen: fen(1)}, []string{"lines[0].item_code"}},
		{"no lines", Lines{TotalFen: fen(0)}, []string{"lines"}},
		{"too many lines", Lines{Lines: make([]LineRequest, medpolicy.MaxLines+1), TotalFen: fen(0)}, nil}, // checked below: "lines" first
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			lines, errs := tc.lines.validate()
			var got []string
			for _, e := range errs {
				got = append(got, e.Field)
			}
			if tc.name == "too many lines" {
				if len(got) == 0 || got[0] != "lines" || lines != nil {
					t.Errorf("fields %v", got)
				}
				return
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("fields (-want +got):\n%s", diff)
			}
			if (errs != nil && lines != nil) || (errs == nil && len(lines) != len(tc.lines.Lines)) {
				t.Errorf("%d lines for the engine with %d errors", len(lines), len(errs))
			}
		})
	}
}

// FuzzBillBody: whatever a hospital sends, decoding and validation answer
// field errors or lines the engine accepts, which add up to the total.
func FuzzBillBody(f *testing.F) {
	f.Add(`{"lines":[{"item_code":"XA01","category":"A","quantity":1,"amount_fen":100}],"total_fen":100}`)
	f.Add(`{"lines":[{"item_code":"X","category":"C","quantity":-1,"amount_fen":9223372036854775807}],"total_fen":-9223372036854775808}`)
	f.Add(`{"lines":[],"total_fen":0}`)
	policies, err := medpolicy.Load(filepath.Join("..", "..", "infra", "medical", "policies"))
	if err != nil {
		f.Fatal(err)
	}
	policy, err := policies.For("sh", policyDay)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body string) {
		var b Lines
		if json.Unmarshal([]byte(body), &b) != nil {
			return
		}
		lines, errs := b.validate()
		if len(errs) > 0 {
			return
		}
		var sum int64
		for _, l := range lines {
			sum += l.AmountFen
		}
		if sum != *b.TotalFen {
			t.Fatalf("accepted lines add up to %d, not %d", sum, *b.TotalFen)
		}
		sp, err := policy.Split(medpolicy.Bill{VisitType: medpolicy.Outpatient, Tier: 3, Lines: lines, Date: policyDay},
			medpolicy.Member{Scheme: medpolicy.Employee, PersonalAccountFen: 1_000})
		if err != nil {
			t.Fatalf("the engine refuses a bill validation accepted: %v", err)
		}
		if Amounts(sp.Total).Submitted != sum {
			t.Fatalf("split of %d fen submits %d", sum, sp.Total.Submitted)
		}
	})
}

func TestLineErrorsNameTheLine(t *testing.T) {
	t.Parallel()
	got := lineErrors(fmt.Errorf("split: %w", &medpolicy.LineError{Index: 3, Err: medpolicy.ErrUnknownCategory}))
	if len(got) != 1 || got[0].Field != "lines[3].category" || got[0].Code != "unknown" {
		t.Errorf("lineErrors = %+v", got)
	}
	if got := lineErrors(errors.New("other")); got != nil {
		t.Errorf("lineErrors of a non-line error = %+v", got)
	}
}

func TestLoadProviders(t *testing.T) {
	t.Parallel()
	real, err := LoadProviders(filepath.Join("..", "..", "infra", "medical", "providers.json"))
	if err != nil {
		t.Fatal(err)
	}
	tiers := map[int]bool{}
	for _, org := range []string{"hospital-demo", "pharmacy-demo"} {
		if real[org].Org != org {
			t.Errorf("%s is not listed", org)
		}
	}
	for _, p := range real {
		if p.Kind == KindHospital {
			tiers[p.Tier] = true
		}
	}
	if len(tiers) < 2 {
		t.Errorf("hospitals of tiers %v: want at least two tiers", tiers)
	}
	for name, body := range map[string]string{
		"not json":          `{`,
		"none":              `{"providers":[]}`,
		"twice":             `{"providers":[{"org":"a","kind":"pharmacy","name":"A","city":"sh"},{"org":"a","kind":"pharmacy","name":"A","city":"sh"}]}`,
		"hospital tier 0":   `{"providers":[{"org":"a","kind":"hospital","tier":0,"name":"A","city":"sh"}]}`,
		"pharmacy tier 2":   `{"providers":[{"org":"a","kind":"pharmacy","tier":2,"name":"A","city":"sh"}]}`,
		"unknown kind":      `{"providers":[{"org":"a","kind":"clinic","tier":1,"name":"A","city":"sh"}]}`,
		"no city":           `{"providers":[{"org":"a","kind":"pharmacy","name":"A"}]}`,
		"upper-case org id": `{"providers":[{"org":"A","kind":"pharmacy","name":"A","city":"sh"}]}`,
	} {
		path := filepath.Join(t.TempDir(), "providers.json")
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadProviders(path); err == nil {
			t.Errorf("%s: loaded", name)
		}
	}
}
