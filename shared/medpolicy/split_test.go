package medpolicy_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/citycode/citycode/shared/medpolicy"
)

// The sample policy (infra/medical/policies/sh-2026.json), in fen and basis
// points, that the hand-worked splits below follow:
//
//	B self-paid share 10%
//	employee, cap 600,000 yuan (60000000):
//	  standard: outpatient deductible 150000/year, fund 75/70/65% (tier 1/2/3)
//	            inpatient  deductible 150000/year, fund 90/85/80%
//	  retired:  outpatient deductible  70000/year, fund 90/85/80%
//	            inpatient  deductible  70000/year, fund 95/92/90%
//	  personal account pays deductible, copay and B self-pay (also at pharmacies)
//	resident, cap 300,000 yuan (30000000), no retired group, no personal account:
//	  outpatient deductible 50000/year, fund 70/60/50%
//	  inpatient  deductible per admission 5000/10000/30000, fund 90/80/70%
//	pharmacy: no deductible, no fund share
const policyDir = "../../infra/medical/policies"

var (
	cst     = time.FixedZone("CST", 8*60*60)
	billDay = time.Date(2026, 3, 14, 10, 30, 0, 0, cst)
)

func load(t testing.TB) *medpolicy.Policy {
	t.Helper()
	ps, err := medpolicy.Load(policyDir)
	if err != nil {
		t.Fatal(err)
	}
	p, err := ps.For("sh", billDay)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// amt is Amounts in the order submitted, self-pay, eligible, deductible,
// copay, benefit, personal account, cash.
func amt(sub, self, elig, ded, copay, ben, pa, cash int64) medpolicy.Amounts {
	return medpolicy.Amounts{Submitted: sub, SelfPay: self, Eligible: elig, Deductible: ded,
		Copay: copay, Benefit: ben, PersonalAccount: pa, Cash: cash}
}

func line(code string, c medpolicy.Category, fen int64) medpolicy.Line {
	return medpolicy.Line{ItemCode: code, Category: c, Quantity: 1, AmountFen: fen}
}

func bill(vt medpolicy.VisitType, tier int, lines ...medpolicy.Line) medpolicy.Bill {
	return medpolicy.Bill{VisitType: vt, Tier: tier, Date: billDay, Lines: lines}
}

func employee(pa int64, t medpolicy.Totals) medpolicy.Member {
	t.Year = 2026
	return medpolicy.Member{Scheme: medpolicy.Employee, PersonalAccountFen: pa, Totals: t}
}

func retired(pa int64, t medpolicy.Totals) medpolicy.Member {
	m := employee(pa, t)
	m.Retired = true
	return m
}

func resident(pa int64, t medpolicy.Totals) medpolicy.Member {
	m := employee(pa, t)
	m.Scheme = medpolicy.Resident
	return m
}

func opMet(fen int64) medpolicy.Totals { return medpolicy.Totals{OutpatientDeductibleMetFen: fen} }
func ipMet(fen int64) medpolicy.Totals { return medpolicy.Totals{InpatientDeductibleMetFen: fen} }

func after(op, ip, fund int64) medpolicy.Totals {
	return medpolicy.Totals{Year: 2026, OutpatientDeductibleMetFen: op, InpatientDeductibleMetFen: ip, FundPaidFen: fund}
}

// want builds the expected split; its Total is given by hand too (not summed).
func want(total medpolicy.Amounts, after medpolicy.Totals, paAfter int64, lines ...medpolicy.Amounts) medpolicy.Split {
	s := medpolicy.Split{Total: total, After: after, PersonalAccountAfterFen: paAfter, Policy: "sh-2026"}
	for i, a := range lines {
		s.Lines = append(s.Lines, medpolicy.LineSplit{Index: i, ItemCode: codes[i], Amounts: a})
	}
	return s
}

// codes are the item codes of the test bills' lines, in order.
var codes = []string{"XA01", "XB02", "XC03"}

func TestSplit(t *testing.T) {
	t.Parallel()
	p := load(t)
	A, B, C := medpolicy.CategoryA, medpolicy.CategoryB, medpolicy.CategoryC
	op, ip, ph := medpolicy.Outpatient, medpolicy.Inpatient, medpolicy.Pharmacy
	one := func(a medpolicy.Amounts, t medpolicy.Totals, paAfter int64) medpolicy.Split {
		return want(a, t, paAfter, a)
	}
	tests := []struct {
		name   string
		bill   medpolicy.Bill
		member medpolicy.Member
		want   medpolicy.Split
	}{
		{
			// eligible 200000; deductible 150000; fund 75% of 50000 = 37500;
			// copay 12500; no personal account: cash 162500.
			name:   "employee outpatient tier 1, empty personal account",
			bill:   bill(op, 1, line("XA01", A, 200000)),
			member: employee(0, opMet(0)),
			want:   one(amt(200000, 0, 200000, 150000, 12500, 37500, 0, 162500), after(150000, 0, 37500), 0),
		},
		{
			// as above at 70%: fund 35000, copay 15000, cash 165000.
			name:   "employee outpatient tier 2",
			bill:   bill(op, 2, line("XA01", A, 200000)),
			member: employee(0, opMet(0)),
			want:   one(amt(200000, 0, 200000, 150000, 15000, 35000, 0, 165000), after(150000, 0, 35000), 0),
		},
		{
			// at 65%: fund 32500, copay 17500, cash 167500.
			name:   "employee outpatient tier 3",
			bill:   bill(op, 3, line("XA01", A, 200000)),
			member: employee(0, opMet(0)),
			want:   one(amt(200000, 0, 200000, 150000, 17500, 32500, 0, 167500), after(150000, 0, 32500), 0),
		},
		{
			// 100000 of 150000 met: 50000 open; 80000 − 50000 = 30000 at 65% =
			// 19500, copay 10500; the account pays deductible + copay 60500.
			name:   "deductible partly met, personal account pays the patient share",
			bill:   bill(op, 3, line("XA01", A, 80000)),
			member: employee(1000000, opMet(100000)),
			want:   one(amt(80000, 0, 80000, 50000, 10500, 19500, 60500, 0), after(150000, 0, 19500), 939500),
		},
		{
			// deductible met: 10000 at 75% = 7500; copay 2500 from the account.
			name:   "deductible already met",
			bill:   bill(op, 1, line("XA01", A, 10000)),
			member: employee(5000, opMet(150000)),
			want:   one(amt(10000, 0, 10000, 0, 2500, 7500, 2500, 0), after(150000, 0, 7500), 2500),
		},
		{
			// all 30000 under the deductible; the account has 10000 of it; cash 20000.
			name:   "bill under the deductible, personal account runs dry",
			bill:   bill(op, 2, line("XA01", A, 30000)),
			member: employee(10000, opMet(0)),
			want:   one(amt(30000, 0, 30000, 30000, 0, 0, 10000, 20000), after(30000, 0, 0), 0),
		},
		{
			// C is outside the catalogue: all self-paid, and not from the
			// account; nothing counts towards the deductible.
			name:   "only category C",
			bill:   bill(op, 1, line("XA01", C, 50000)),
			member: employee(100000, opMet(0)),
			want:   one(amt(50000, 50000, 0, 0, 0, 0, 0, 50000), after(0, 0, 0), 100000),
		},
		{
			// B 10000: 10% = 1000 self-paid first, 9000 eligible; deductible met:
			// fund 75% = 6750, copay 2250; account pays copay + B self-pay 3250.
			name:   "category B self-paid share",
			bill:   bill(op, 1, line("XA01", B, 10000)),
			member: employee(100000, opMet(150000)),
			want:   one(amt(10000, 1000, 9000, 0, 2250, 6750, 3250, 0), after(150000, 0, 6750), 96750),
		},
		{
			// B 12345: 10% = 1234.5, half up 1235; eligible 11110 at 70% = 7777;
			// copay 3333; cash 1235 + 3333 = 4568.
			name:   "category B share rounds half up",
			bill:   bill(op, 2, line("XA01", B, 12345)),
			member: employee(0, opMet(150000)),
			want:   one(amt(12345, 1235, 11110, 0, 3333, 7777, 0, 4568), after(150000, 0, 7777), 0),
		},
		{
			// 10 fen at 65% = 6.5, half up 7 to the fund; the patient 3.
			name:   "fund share rounds half up",
			bill:   bill(op, 3, line("XA01", A, 10)),
			member: employee(0, opMet(150000)),
			want:   one(amt(10, 0, 10, 0, 3, 7, 0, 3), after(150000, 0, 7), 0),
		},
		{
			// Lines A 40000, B 30000 (3000 self-paid, 27000 eligible), C 5000.
			// Eligible 67000; 50000 of the deductible open, all taken:
			//   A 50000·40000/67000 = 29850.75, B 20149.25 → floors 29850 + 20149,
			//   the spare fen to the larger remainder (A): 29851, 20149.
			// Rest 10149 + 6851 = 17000 at 75% = 12750:
			//   A 7611.75, B 5138.25 → 7612, 5138; copay 2537, 1713.
			// Account may pay A 29851+2537 = 32388, B 20149+1713+3000 = 24862,
			// not C; it has 20000: A 11314.59, B 8685.41 → 11315, 8685.
			// Cash: A 40000−7612−11315 = 21073, B 30000−5138−8685 = 16177, C 5000.
			name:   "mixed A, B and C lines share out the deductible and account",
			bill:   bill(op, 1, line("XA01", A, 40000), line("XB02", B, 30000), line("XC03", C, 5000)),
			member: employee(20000, medpolicy.Totals{OutpatientDeductibleMetFen: 100000, FundPaidFen: 1000}),
			want: want(amt(75000, 8000, 67000, 50000, 4250, 12750, 20000, 42250), after(150000, 0, 13750), 0,
				amt(40000, 0, 40000, 29851, 2537, 7612, 11315, 21073),
				amt(30000, 3000, 27000, 20149, 1713, 5138, 8685, 16177),
				amt(5000, 5000, 0, 0, 0, 0, 0, 5000)),
		},
		{
			// Two equal lines, 1 fen of deductible open: equal remainders, the
			// earlier line takes it. Rest 99 + 100 = 199 at 75% = 149.25 → 149:
			// 149·99/199 = 74.12, 149·100/199 = 74.87 → 74, 75 (larger remainder).
			name:   "ties and remainders share out deterministically",
			bill:   bill(op, 1, line("XA01", A, 100), line("XB02", A, 100)),
			member: employee(0, opMet(149999)),
			want: want(amt(200, 0, 200, 1, 50, 149, 0, 51), after(150000, 0, 149), 0,
				amt(100, 0, 100, 1, 25, 74, 0, 26),
				amt(100, 0, 100, 0, 25, 75, 0, 25)),
		},
		{
			// 10000 left under the cap; 90% of 100000 = 90000 capped to 10000;
			// the rest is copay, in cash.
			name:   "crossing the annual cap",
			bill:   bill(ip, 1, line("XA01", A, 100000)),
			member: employee(0, medpolicy.Totals{InpatientDeductibleMetFen: 150000, FundPaidFen: 59990000}),
			want:   one(amt(100000, 0, 100000, 0, 90000, 10000, 0, 90000), after(0, 150000, 60000000), 0),
		},
		{
			// the cap is reached: the fund pays nothing.
			name:   "annual cap already reached",
			bill:   bill(ip, 2, line("XA01", A, 50000)),
			member: employee(0, medpolicy.Totals{InpatientDeductibleMetFen: 150000, FundPaidFen: 60000000}),
			want:   one(amt(50000, 0, 50000, 0, 50000, 0, 0, 50000), after(0, 150000, 60000000), 0),
		},
		{
			// deductible 150000; 850000 at 90% = 765000; copay 85000; the
			// account has 50000 of the 235000 it may pay; cash 185000.
			name:   "employee inpatient tier 1",
			bill:   bill(ip, 1, line("XA01", A, 1000000)),
			member: employee(50000, ipMet(0)),
			want:   one(amt(1000000, 0, 1000000, 150000, 85000, 765000, 50000, 185000), after(0, 150000, 765000), 0),
		},
		{
			// 850000 at 85% = 722500; copay 127500; cash 277500.
			name:   "employee inpatient tier 2",
			bill:   bill(ip, 2, line("XA01", A, 1000000)),
			member: employee(0, ipMet(0)),
			want:   one(amt(1000000, 0, 1000000, 150000, 127500, 722500, 0, 277500), after(0, 150000, 722500), 0),
		},
		{
			// 850000 at 80% = 680000; copay 170000; cash 320000. The outpatient
			// deductible met does not count for an admission.
			name:   "employee inpatient tier 3, outpatient deductible apart",
			bill:   bill(ip, 3, line("XA01", A, 1000000)),
			member: employee(0, opMet(150000)),
			want:   one(amt(1000000, 0, 1000000, 150000, 170000, 680000, 0, 320000), after(150000, 150000, 680000), 0),
		},
		{
			// retired: deductible 70000; 930000 at 90% = 837000; copay 93000.
			name:   "retired inpatient tier 3",
			bill:   bill(ip, 3, line("XA01", A, 1000000)),
			member: retired(0, ipMet(0)),
			want:   one(amt(1000000, 0, 1000000, 70000, 93000, 837000, 0, 163000), after(0, 70000, 837000), 0),
		},
		{
			// retired: deductible 70000; 30000 at 90% = 27000; copay 3000.
			name:   "retired outpatient tier 1",
			bill:   bill(op, 1, line("XA01", A, 100000)),
			member: retired(0, opMet(0)),
			want:   one(amt(100000, 0, 100000, 70000, 3000, 27000, 0, 73000), after(70000, 0, 27000), 0),
		},
		{
			// 60000 of 70000 met: 10000 open; 10000 at 85% = 8500, copay 1500;
			// the account pays 11500.
			name:   "retired outpatient tier 2, deductible partly met",
			bill:   bill(op, 2, line("XA01", A, 20000)),
			member: retired(100000, opMet(60000)),
			want:   one(amt(20000, 0, 20000, 10000, 1500, 8500, 11500, 0), after(70000, 0, 8500), 88500),
		},
		{
			// deductible met: 100000 at 80% = 80000; copay 20000.
			name:   "retired outpatient tier 3",
			bill:   bill(op, 3, line("XA01", A, 100000)),
			member: retired(0, opMet(70000)),
			want:   one(amt(100000, 0, 100000, 0, 20000, 80000, 0, 20000), after(70000, 0, 80000), 0),
		},
		{
			// resident: deductible 50000; 10000 at 70% = 7000; no personal
			// account in this scheme, so the balance is untouched.
			name:   "resident outpatient tier 1, no personal account use",
			bill:   bill(op, 1, line("XA01", A, 60000)),
			member: resident(100000, opMet(0)),
			want:   one(amt(60000, 0, 60000, 50000, 3000, 7000, 0, 53000), after(50000, 0, 7000), 100000),
		},
		{
			// deductible met; 10000 at 50% = 5000.
			name:   "resident outpatient tier 3",
			bill:   bill(op, 3, line("XA01", A, 10000)),
			member: resident(0, opMet(50000)),
			want:   one(amt(10000, 0, 10000, 0, 5000, 5000, 0, 5000), after(50000, 0, 5000), 0),
		},
		{
			// retired residents follow the standard rules (no retired group):
			// deductible 50000; 10000 at 60% = 6000.
			name: "resident outpatient tier 2, retired flag has no effect",
			bill: bill(op, 2, line("XA01", A, 60000)),
			member: func() medpolicy.Member {
				m := resident(0, opMet(0))
				m.Retired = true
				return m
			}(),
			want: one(amt(60000, 0, 60000, 50000, 4000, 6000, 0, 54000), after(50000, 0, 6000), 0),
		},
		{
			// per admission: 5000 again although an earlier admission paid
			// 5000; 95000 at 90% = 85500; the running total records 10000.
			name:   "resident inpatient tier 1, deductible per admission",
			bill:   bill(ip, 1, line("XA01", A, 100000)),
			member: resident(0, ipMet(5000)),
			want:   one(amt(100000, 0, 100000, 5000, 9500, 85500, 0, 14500), after(0, 10000, 85500), 0),
		},
		{
			// tier 3 deductible 30000; 970000 at 70% = 679000.
			name:   "resident inpatient tier 3",
			bill:   bill(ip, 3, line("XA01", A, 1000000)),
			member: resident(0, ipMet(0)),
			want:   one(amt(1000000, 0, 1000000, 30000, 291000, 679000, 0, 321000), after(0, 30000, 679000), 0),
		},
		{
			// tier 2 deductible 10000; 190000 at 80% = 152000, but only 50000
			// is left under the 30000000 cap.
			name:   "resident inpatient tier 2 crossing the cap",
			bill:   bill(ip, 2, line("XA01", A, 200000)),
			member: resident(0, medpolicy.Totals{FundPaidFen: 29950000}),
			want:   one(amt(200000, 0, 200000, 10000, 140000, 50000, 0, 150000), after(0, 10000, 30000000), 0),
		},
		{
			// pharmacy: no fund; A 5000 and B 3000 (300 self-paid) from the
			// account, C 2000 cash; the deductible is untouched.
			name:   "employee pharmacy sale",
			bill:   bill(ph, 0, line("XA01", A, 5000), line("XB02", B, 3000), line("XC03", C, 2000)),
			member: employee(100000, opMet(1000)),
			want: want(amt(10000, 2300, 7700, 0, 7700, 0, 8000, 2000), after(1000, 0, 0), 92000,
				amt(5000, 0, 5000, 0, 5000, 0, 5000, 0),
				amt(3000, 300, 2700, 0, 2700, 0, 3000, 0),
				amt(2000, 2000, 0, 0, 0, 0, 0, 2000)),
		},
		{
			// the account has 1234 of 5000; the rest cash.
			name:   "pharmacy sale, personal account short",
			bill:   bill(ph, 0, line("XA01", A, 5000)),
			member: employee(1234, opMet(0)),
			want:   one(amt(5000, 0, 5000, 0, 5000, 0, 1234, 3766), after(0, 0, 0), 0),
		},
		{
			// resident: no account, all cash.
			name:   "resident pharmacy sale",
			bill:   bill(ph, 0, line("XA01", A, 5000)),
			member: resident(0, opMet(0)),
			want:   one(amt(5000, 0, 5000, 0, 5000, 0, 0, 5000), after(0, 0, 0), 0),
		},
		{
			// last year's totals count as zero: as the first case.
			name: "totals of another year start afresh",
			bill: bill(op, 1, line("XA01", A, 200000)),
			member: medpolicy.Member{Scheme: medpolicy.Employee, Totals: medpolicy.Totals{
				Year: 2025, OutpatientDeductibleMetFen: 150000, FundPaidFen: 59999999}},
			want: one(amt(200000, 0, 200000, 150000, 12500, 37500, 0, 162500), after(150000, 0, 37500), 0),
		},
		{
			// 00:30 on 1 January 2026 in Shanghai is still 2025 in UTC: the
			// 2026 policy and 2026 totals apply. 2000 at 75% = 1500.
			name: "the year is Shanghai's",
			bill: medpolicy.Bill{VisitType: op, Tier: 1, Date: time.Date(2025, 12, 31, 16, 30, 0, 0, time.UTC),
				Lines: []medpolicy.Line{line("XA01", A, 2000)}},
			member: employee(0, opMet(150000)),
			want:   one(amt(2000, 0, 2000, 0, 500, 1500, 0, 500), after(150000, 0, 1500), 0),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := p.Split(tt.bill, tt.member)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("split (-want +got):\n%s", diff)
			}
			checkInvariants(t, tt.bill, tt.member, got)
		})
	}
}
