package medpolicy_test

import (
	"errors"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/citycode/citycode/shared/medpolicy"
)

// sampleCaps are the sample policy's annual fund caps.
var sampleCaps = map[medpolicy.Scheme]int64{medpolicy.Employee: 60000000, medpolicy.Resident: 30000000}

// checkInvariants asserts what every split of the sample policy must satisfy:
// amounts add up exactly per line and in total, nothing is negative, the cap
// is never exceeded, the personal account never goes below zero, and the
// running totals move by exactly the split's amounts.
func checkInvariants(t *testing.T, b medpolicy.Bill, m medpolicy.Member, s medpolicy.Split) {
	t.Helper()
	if len(s.Lines) != len(b.Lines) {
		t.Fatalf("%d line splits for %d lines", len(s.Lines), len(b.Lines))
	}
	var total medpolicy.Amounts
	for i, ls := range s.Lines {
		a, l := ls.Amounts, b.Lines[i]
		if ls.Index != i || ls.ItemCode != l.ItemCode {
			t.Errorf("line %d: index %d, item %q, want %q", i, ls.Index, ls.ItemCode, l.ItemCode)
		}
		for _, v := range []int64{a.Submitted, a.SelfPay, a.Eligible, a.Deductible, a.Copay, a.Benefit, a.PersonalAccount, a.Cash} {
			if v < 0 {
				t.Errorf("line %d: negative amount in %+v", i, a)
			}
		}
		switch {
		case a.Submitted != l.AmountFen:
			t.Errorf("line %d: submitted %d, billed %d", i, a.Submitted, l.AmountFen)
		case a.Benefit+a.PersonalAccount+a.Cash != a.Submitted:
			t.Errorf("line %d: benefit+account+cash ≠ submitted: %+v", i, a)
		case a.Submitted-a.SelfPay != a.Eligible:
			t.Errorf("line %d: submitted−self-pay ≠ eligible: %+v", i, a)
		case a.Deductible+a.Copay+a.Benefit != a.Eligible:
			t.Errorf("line %d: deductible+copay+benefit ≠ eligible: %+v", i, a)
		case l.Category == medpolicy.CategoryA && a.SelfPay != 0:
			t.Errorf("line %d: self-pay on an A line: %+v", i, a)
		case l.Category == medpolicy.CategoryC && (a.SelfPay != a.Submitted || a.PersonalAccount != 0):
			t.Errorf("line %d: a C line not all self-paid in cash: %+v", i, a)
		}
		total = medpolicy.Amounts{
			Submitted: total.Submitted + a.Submitted, SelfPay: total.SelfPay + a.SelfPay,
			Eligible: total.Eligible + a.Eligible, Deductible: total.Deductible + a.Deductible,
			Copay: total.Copay + a.Copay, Benefit: total.Benefit + a.Benefit,
			PersonalAccount: total.PersonalAccount + a.PersonalAccount, Cash: total.Cash + a.Cash,
		}
	}
	if diff := cmp.Diff(total, s.Total); diff != "" {
		t.Errorf("total is not the sum of the lines (-sum +total):\n%s", diff)
	}

	year := medpolicy.YearOf(b.Date)
	before := m.Totals
	if before.Year != year {
		before = medpolicy.Totals{Year: year}
	}
	wantAfter := before
	if b.VisitType == medpolicy.Inpatient {
		wantAfter.InpatientDeductibleMetFen += s.Total.Deductible
	} else {
		wantAfter.OutpatientDeductibleMetFen += s.Total.Deductible
	}
	wantAfter.FundPaidFen += s.Total.Benefit
	if diff := cmp.Diff(wantAfter, s.After); diff != "" {
		t.Errorf("running totals (-want +got):\n%s", diff)
	}
	if c := sampleCaps[m.Scheme]; before.FundPaidFen <= c && s.After.FundPaidFen > c {
		t.Errorf("fund paid %d, above the cap %d", s.After.FundPaidFen, c)
	}
	switch {
	case s.PersonalAccountAfterFen < 0 || s.PersonalAccountAfterFen != m.PersonalAccountFen-s.Total.PersonalAccount:
		t.Errorf("personal account %d − %d → %d", m.PersonalAccountFen, s.Total.PersonalAccount, s.PersonalAccountAfterFen)
	case m.Scheme == medpolicy.Resident && s.Total.PersonalAccount != 0:
		t.Errorf("resident scheme paid %d from a personal account", s.Total.PersonalAccount)
	case b.VisitType == medpolicy.Pharmacy && (s.Total.Benefit != 0 || s.Total.Deductible != 0):
		t.Errorf("pharmacy sale with fund benefit or deductible: %+v", s.Total)
	}
}

// randomCase is a valid random bill and member for the sample policy, with
// amounts from 1 fen to the line maximum and totals near the deductibles
// and caps.
func randomCase(r *rand.Rand) (medpolicy.Bill, medpolicy.Member) {
	vt := []medpolicy.VisitType{medpolicy.Outpatient, medpolicy.Inpatient, medpolicy.Pharmacy}[r.IntN(3)]
	b := medpolicy.Bill{VisitType: vt, Date: time.Date(2026, time.Month(1+r.IntN(12)), 1+r.IntN(28), r.IntN(24), 0, 0, 0, cst)}
	if vt != medpolicy.Pharmacy {
		b.Tier = 1 + r.IntN(3)
	}
	n := 1 + r.IntN(12)
	if r.IntN(50) == 0 {
		n = medpolicy.MaxLines
	}
	for i := range n {
		limit := []int64{100, 1_000_000, medpolicy.MaxLineFen}[r.IntN(3)]
		b.Lines = append(b.Lines, medpolicy.Line{
			ItemCode:  string(rune('A' + i%26)),
			Category:  []medpolicy.Category{medpolicy.CategoryA, medpolicy.CategoryB, medpolicy.CategoryC}[r.IntN(3)],
			Quantity:  1 + r.Int64N(10),
			AmountFen: 1 + r.Int64N(limit),
		})
	}
	m := medpolicy.Member{Scheme: []medpolicy.Scheme{medpolicy.Employee, medpolicy.Resident}[r.IntN(2)], Retired: r.IntN(2) == 0}
	if r.IntN(4) > 0 {
		m.PersonalAccountFen = r.Int64N([]int64{100, 10_000_000, medpolicy.MaxMemberFen}[r.IntN(3)])
	}
	c := sampleCaps[m.Scheme]
	m.Totals = medpolicy.Totals{
		Year:                       2025 + r.IntN(2),
		OutpatientDeductibleMetFen: r.Int64N(200000),
		InpatientDeductibleMetFen:  r.Int64N(200000),
		FundPaidFen:                []int64{0, r.Int64N(c), max(0, c-r.Int64N(100000)), c + r.Int64N(1000)}[r.IntN(4)],
	}
	return b, m
}

func TestSplitProperties(t *testing.T) {
	t.Parallel()
	p := load(t)
	r := rand.New(rand.NewPCG(7, 2026))
	for range 3000 {
		b, m := randomCase(r)
		lines := slices.Clone(b.Lines)
		s, err := p.Split(b, m)
		if err != nil {
			t.Fatalf("%+v %+v: %v", b, m, err)
		}
		checkInvariants(t, b, m, s)
		if !slices.Equal(lines, b.Lines) {
			t.Fatal("Split changed the bill's lines")
		}
		if t.Failed() {
			t.Fatalf("bill %+v member %+v", b, m)
		}
	}
}

// FuzzSplit adds one line of outside input (and an outside tier, visit type,
// balance and fund total) to a random valid bill: Split either refuses it
// with one of its errors, naming the line when the line is at fault, or
// gives a split that keeps every invariant. It never accepts a bad line.
func FuzzSplit(f *testing.F) {
	f.Add(uint64(1), int64(1000), int64(1), "A", 1, "outpatient", int64(0), int64(0))
	f.Add(uint64(2), int64(-5), int64(1), "B", 2, "inpatient", int64(100), int64(0))
	f.Add(uint64(3), int64(5), int64(0), "C", 3, "outpatient", int64(100), int64(59999999))
	f.Add(uint64(4), int64(5), int64(2), "D", 0, "pharmacy", int64(-1), int64(0))
	f.Add(uint64(5), int64(medpolicy.MaxLineFen+1), int64(1), "A", 4, "dental", int64(0), int64(-1))
	p := load(f)
	f.Fuzz(func(t *testing.T, seed uint64, amount, quantity int64, category string, tier int, visit string, pa, fundPaid int64) {
		b, m := randomCase(rand.New(rand.NewPCG(seed, 0)))
		b.Lines = append(b.Lines[:min(len(b.Lines), medpolicy.MaxLines-1)],
			medpolicy.Line{ItemCode: "FUZZ", Category: medpolicy.Category(category), Quantity: quantity, AmountFen: amount})
		b.VisitType, b.Tier = medpolicy.VisitType(visit), tier
		m.PersonalAccountFen, m.Totals.FundPaidFen = pa, fundPaid
		s, err := p.Split(b, m)
		badLine := amount <= 0 || amount > medpolicy.MaxLineFen || quantity <= 0 ||
			(category != "A" && category != "B" && category != "C")
		if err != nil {
			if !slices.ContainsFunc([]error{medpolicy.ErrBadBill, medpolicy.ErrUnknownCategory, medpolicy.ErrBadTier, medpolicy.ErrBadMember},
				func(e error) bool { return errors.Is(err, e) }) {
				t.Fatalf("unexpected error %v", err)
			}
			var le *medpolicy.LineError
			if errors.As(err, &le) && le.Index != len(b.Lines)-1 {
				t.Fatalf("error on line %d, only the last line is bad: %v", le.Index, err)
			}
			return
		}
		if badLine || pa < 0 || fundPaid < 0 {
			t.Fatalf("accepted a bad line or member: %+v %+v", b.Lines[len(b.Lines)-1], m)
		}
		checkInvariants(t, b, m, s)
	})
}

func TestSplitRefuses(t *testing.T) {
	t.Parallel()
	p := load(t)
	good := func() (medpolicy.Bill, medpolicy.Member) {
		return bill(medpolicy.Outpatient, 1, line("XA01", medpolicy.CategoryA, 1000), line("XB02", medpolicy.CategoryB, 2000)),
			employee(5000, opMet(0))
	}
	tests := []struct {
		name   string
		change func(*medpolicy.Bill, *medpolicy.Member)
		want   error
		line   int // the line the error names; -1 for none
	}{
		{"negative amount", func(b *medpolicy.Bill, _ *medpolicy.Member) { b.Lines[1].AmountFen = -2000 }, medpolicy.ErrBadBill, 1},
		{"zero amount", func(b *medpolicy.Bill, _ *medpolicy.Member) { b.Lines[0].AmountFen = 0 }, medpolicy.ErrBadBill, 0},
		{"amount above the line maximum", func(b *medpolicy.Bill, _ *medpolicy.Member) { b.Lines[1].AmountFen = medpolicy.MaxLineFen + 1 }, medpolicy.ErrBadBill, 1},
		{"zero quantity", func(b *medpolicy.Bill, _ *medpolicy.Member) { b.Lines[1].Quantity = 0 }, medpolicy.ErrBadBill, 1},
		{"negative quantity", func(b *medpolicy.Bill, _ *medpolicy.Member) { b.Lines[0].Quantity = -1 }, medpolicy.ErrBadBill, 0},
		{"no item code", func(b *medpolicy.Bill, _ *medpolicy.Member) { b.Lines[1].ItemCode = "" }, medpolicy.ErrBadBill, 1},
		{"unknown category", func(b *medpolicy.Bill, _ *medpolicy.Member) { b.Lines[1].Category = "D" }, medpolicy.ErrUnknownCategory, 1},
		{"lower-case category", func(b *medpolicy.Bill, _ *medpolicy.Member) { b.Lines[0].Category = "a" }, medpolicy.ErrUnknownCategory, 0},
		{"empty bill", func(b *medpolicy.Bill, _ *medpolicy.Member) { b.Lines = nil }, medpolicy.ErrBadBill, -1},
		{"too many lines", func(b *medpolicy.Bill, _ *medpolicy.Member) {
			b.Lines = slices.Repeat(b.Lines[:1], medpolicy.MaxLines+1)
		}, medpolicy.ErrBadBill, -1},
		{"no date", func(b *medpolicy.Bill, _ *medpolicy.Member) { b.Date = time.Time{} }, medpolicy.ErrBadBill, -1},
		{"unknown visit type", func(b *medpolicy.Bill, _ *medpolicy.Member) { b.VisitType = "dental" }, medpolicy.ErrBadBill, -1},
		{"tier 0 in a hospital", func(b *medpolicy.Bill, _ *medpolicy.Member) { b.Tier = 0 }, medpolicy.ErrBadTier, -1},
		{"tier 4", func(b *medpolicy.Bill, _ *medpolicy.Member) { b.Tier = 4 }, medpolicy.ErrBadTier, -1},
		{"negative tier", func(b *medpolicy.Bill, _ *medpolicy.Member) { b.Tier = -1 }, medpolicy.ErrBadTier, -1},
		{"a hospital tier at a pharmacy", func(b *medpolicy.Bill, _ *medpolicy.Member) { b.VisitType = medpolicy.Pharmacy }, medpolicy.ErrBadTier, -1},
		{"another year's policy", func(b *medpolicy.Bill, _ *medpolicy.Member) { b.Date = b.Date.AddDate(1, 0, 0) }, medpolicy.ErrNoPolicy, -1},
		{"unknown scheme", func(_ *medpolicy.Bill, m *medpolicy.Member) { m.Scheme = "commercial" }, medpolicy.ErrBadMember, -1},
		{"negative personal account", func(_ *medpolicy.Bill, m *medpolicy.Member) { m.PersonalAccountFen = -1 }, medpolicy.ErrBadMember, -1},
		{"negative fund total", func(_ *medpolicy.Bill, m *medpolicy.Member) { m.Totals.FundPaidFen = -1 }, medpolicy.ErrBadMember, -1},
		{"absurd deductible total", func(_ *medpolicy.Bill, m *medpolicy.Member) {
			m.Totals.InpatientDeductibleMetFen = medpolicy.MaxMemberFen + 1
		}, medpolicy.ErrBadMember, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b, m := good()
			tt.change(&b, &m)
			_, err := p.Split(b, m)
			if !errors.Is(err, tt.want) {
				t.Fatalf("error %v, want %v", err, tt.want)
			}
			var le *medpolicy.LineError
			got := -1
			if errors.As(err, &le) {
				got = le.Index
			}
			if got != tt.line {
				t.Errorf("error names line %d, want %d: %v", got, tt.line, err)
			}
			if got >= 0 && !errors.Is(err, medpolicy.ErrBadBill) {
				t.Errorf("a line's error is not ErrBadBill: %v", err)
			}
		})
	}
}

func BenchmarkSplit(b *testing.B) {
	p := load(b)
	r := rand.New(rand.NewPCG(1, 1))
	var lines []medpolicy.Line
	for i := range 20 {
		c := []medpolicy.Category{medpolicy.CategoryA, medpolicy.CategoryB, medpolicy.CategoryC}[i%3]
		lines = append(lines, line("X"+string(rune('A'+i)), c, 1+r.Int64N(100000)))
	}
	bl := bill(medpolicy.Inpatient, 3, lines...)
	m := employee(30000, medpolicy.Totals{InpatientDeductibleMetFen: 100000, FundPaidFen: 59950000})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.Split(bl, m); err != nil {
			b.Fatal(err)
		}
	}
}
