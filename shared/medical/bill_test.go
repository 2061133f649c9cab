package medical

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

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

// TestCheckTiers: a provider whose tier the policy in force has no rules
// for fails the cold start; a city or year without a policy is not checked.
func TestCheckTiers(t *testing.T) {
	t.Parallel()
	providers, err := LoadProviders(filepath.Join("..", "..", "infra", "medical", "providers.json"))
	if err != nil {
		t.Fatal(err)
	}
	real, err := medpolicy.Load(filepath.Join("..", "..", "infra", "medical", "policies"))
	if err != nil {
		t.Fatal(err)
	}
	// The sample without tier 1 (community hospitals) anywhere.
	data, err := os.ReadFile(filepath.Join("..", "..", "infra", "medical", "policies", "sh-2026.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	var dropTier1 func(v any)
	dropTier1 = func(v any) {
		if m, ok := v.(map[string]any); ok {
			for k, sub := range m {
				if k == "fund_share_bp" || k == "fen_by_tier" {
					delete(sub.(map[string]any), "1")
				}
				dropTier1(sub)
			}
		}
	}
	dropTier1(doc)
	dir := t.TempDir()
	out, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "sh-2026.json"), out, 0o600); err != nil {
		t.Fatal(err)
	}
	noTier1, err := medpolicy.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	community := Providers{"clinic-community-demo": providers["clinic-community-demo"]}
	tests := []struct {
		name      string
		providers Providers
		policies  *medpolicy.Policies
		at        time.Time
		wantErr   bool
	}{
		{"the demo providers and policies", providers, real, policyDay, false},
		{"a tier-1 clinic, a policy without tier 1", community, noTier1, policyDay, true},
		{"the same policy the year before: next year's is checked too", community, noTier1, policyDay.AddDate(-1, 0, 0), true},
		{"no policy in force", community, noTier1, policyDay.AddDate(2, 0, 0), false},
		{"tiers 2 and 3 and the pharmacy", Providers{"hospital-demo": providers["hospital-demo"], "pharmacy-demo": providers["pharmacy-demo"]}, noTier1, policyDay, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := tc.providers.CheckTiers(tc.policies, tc.at)
			if (err != nil) != tc.wantErr || err != nil && (!errors.Is(err, medpolicy.ErrBadTier) || !strings.Contains(err.Error(), "clinic-community-demo")) {
				t.Errorf("CheckTiers: %v, want an error %v", err, tc.wantErr)
			}
		})
	}
}

// TestSplitErrorAnswers: how a failed split is answered — a line's fault
// names the line, the policy data's faults are 500 policy_data_fault (not
// the generic internal error), a missing policy is no_policy.
func TestSplitErrorAnswers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err    error
		status int
		code   string
	}{
		{fmt.Errorf("split: %w", fmt.Errorf("%w: tier 2 for a pharmacy bill", medpolicy.ErrBadTier)), 500, "policy_data_fault"},
		{fmt.Errorf("split: %w", fmt.Errorf("%w: scheme \"resident\" not in policy sh-2026", medpolicy.ErrBadMember)), 500, "policy_data_fault"},
		{fmt.Errorf("split: %w", medpolicy.ErrNoPolicy), 422, "no_policy"},
		{fmt.Errorf("split: %w", &medpolicy.LineError{Index: 2, Err: medpolicy.ErrUnknownCategory}), 422, "validation_failed"},
		{ErrVisitClosed, 409, "visit_closed"},
		{ErrHolderNotActive, 409, "holder_suspended"},
	}
	for _, tc := range tests {
		rec := httptest.NewRecorder()
		writeSplitError(rec, httptest.NewRequest("POST", "/v1/medical/settlements", nil), tc.err)
		var body struct {
			Code string `json:"code"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || rec.Code != tc.status || body.Code != tc.code {
			t.Errorf("%v: %d %s, want %d %s", tc.err, rec.Code, rec.Body, tc.status, tc.code)
		}
	}
}
