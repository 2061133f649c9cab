package medpolicy

import (
	"cmp"
	"fmt"
	"math/bits"
	"slices"
)

// Limits on a bill and a member, so that no sum or product overflows.
const (
	MaxLineFen     = 10_000_000_000 // one line: 100 million yuan
	MaxItemCodeLen = 64
	// MaxMemberFen bounds a member's personal account and running totals.
	MaxMemberFen = 1_000_000_000_000_000
)

// Split splits b for m under p (infra/medical-policy.md, "The split"):
//
//  1. per line, the self-paid part: all of a C line, the policy's share of a
//     B line (rounded half up to the fen), nothing of an A line; the rest is
//     eligible;
//  2. for the bill, the deductible still open (the year's, less what the
//     member has met this year; or the whole, per admission) takes the
//     eligible amount first;
//  3. the fund pays its share of the rest, rounded half up to the fen, but
//     no more than is left under the annual cap; the patient's share is the
//     copay;
//  4. the personal account pays what the rules let it (at most its balance);
//  5. the rest is cash.
//
// The bill-level deductible, benefit and personal account are shared out
// across the lines in proportion (largest remainder, ties to the earlier
// line), so the lines add up exactly to the total. Split changes nothing: the
// caller stores After and PersonalAccountAfterFen.
func (p *Policy) Split(b Bill, m Member) (Split, error) {
	if b.Date.IsZero() {
		return Split{}, fmt.Errorf("%w: no date", ErrBadBill)
	}
	year := YearOf(b.Date)
	if year != p.Year {
		return Split{}, fmt.Errorf("%w: bill of %d under policy %s", ErrNoPolicy, year, p.ID)
	}
	r, capFen, err := p.rule(b, m)
	if err != nil {
		return Split{}, err
	}
	if err := checkLines(b.Lines); err != nil {
		return Split{}, err
	}
	before := m.Totals
	if before.Year != year {
		before = Totals{Year: year}
	}

	n := len(b.Lines)
	lines := make([]Amounts, n)
	eligible := make([]int64, n)
	for i, l := range b.Lines {
		a := &lines[i]
		a.Submitted = l.AmountFen
		switch l.Category {
		case CategoryB:
			a.SelfPay = share(l.AmountFen, p.bSelfPayBP)
		case CategoryC:
			a.SelfPay = l.AmountFen
		}
		a.Eligible = a.Submitted - a.SelfPay
		eligible[i] = a.Eligible
	}

	// The bill's deductible, benefit and copay.
	open := r.deductible[b.Tier]
	if r.basis == perYear {
		open = max(0, open-*metOf(&before, b.VisitType))
	}
	total := sum(eligible)
	deductible := min(total, open)
	benefit := min(share(total-deductible, r.shareBP[b.Tier]), max(0, capFen-before.FundPaidFen))

	rest := make([]int64, n)
	for i, d := range allocate(deductible, eligible) {
		lines[i].Deductible = d
		rest[i] = eligible[i] - d
	}
	payable := make([]int64, n)
	for i, ben := range allocate(benefit, rest) {
		a := &lines[i]
		a.Benefit = ben
		a.Copay = rest[i] - ben
		payable[i] = r.payable(*a, b.Lines[i].Category)
	}
	for i, pa := range allocate(min(m.PersonalAccountFen, sum(payable)), payable) {
		lines[i].PersonalAccount = pa
		lines[i].Cash = lines[i].Submitted - lines[i].Benefit - pa
	}

	s := Split{Lines: make([]LineSplit, n), Policy: p.ID}
	for i, a := range lines {
		s.Lines[i] = LineSplit{Index: i, ItemCode: b.Lines[i].ItemCode, Amounts: a}
		s.Total = s.Total.add(a)
	}
	s.After = before
	*metOf(&s.After, b.VisitType) += s.Total.Deductible
	s.After.FundPaidFen += s.Total.Benefit
	s.PersonalAccountAfterFen = m.PersonalAccountFen - s.Total.PersonalAccount
	return s, nil
}

// rule finds the rule for the bill and member, and the member's annual cap.
func (p *Policy) rule(b Bill, m Member) (rule, int64, error) {
	sr, ok := p.schemes[m.Scheme]
	switch {
	case !ok:
		return rule{}, 0, fmt.Errorf("%w: scheme %q not in policy %s", ErrBadMember, m.Scheme, p.ID)
	case m.PersonalAccountFen < 0 || m.Totals.OutpatientDeductibleMetFen < 0 ||
		m.Totals.InpatientDeductibleMetFen < 0 || m.Totals.FundPaidFen < 0:
		return rule{}, 0, fmt.Errorf("%w: negative balance or total", ErrBadMember)
	case m.PersonalAccountFen > MaxMemberFen || m.Totals.OutpatientDeductibleMetFen > MaxMemberFen ||
		m.Totals.InpatientDeductibleMetFen > MaxMemberFen || m.Totals.FundPaidFen > MaxMemberFen:
		return rule{}, 0, fmt.Errorf("%w: balance or total above %d fen", ErrBadMember, MaxMemberFen)
	}
	group := sr.standard
	if m.Retired {
		group = sr.retired
	}
	r, ok := group[b.VisitType]
	if !ok {
		return rule{}, 0, fmt.Errorf("%w: visit type %q", ErrBadBill, b.VisitType)
	}
	if b.Tier < 0 || b.Tier > maxTier || !r.tiers[b.Tier] {
		return rule{}, 0, fmt.Errorf("%w: tier %d for a %s bill", ErrBadTier, b.Tier, b.VisitType)
	}
	return r, sr.capFen, nil
}

// checkLines refuses an empty or oversized bill and bad lines.
func checkLines(lines []Line) error {
	if len(lines) == 0 || len(lines) > MaxLines {
		return fmt.Errorf("%w: %d lines (1 to %d)", ErrBadBill, len(lines), MaxLines)
	}
	for i, l := range lines {
		var err error
		switch {
		case l.ItemCode == "" || len(l.ItemCode) > MaxItemCodeLen:
			err = fmt.Errorf("%w: item code must be 1 to %d bytes", ErrBadBill, MaxItemCodeLen)
		case l.Quantity <= 0:
			err = fmt.Errorf("%w: quantity must be positive", ErrBadBill)
		case l.AmountFen <= 0 || l.AmountFen > MaxLineFen:
			err = fmt.Errorf("%w: amount must be 1 to %d fen", ErrBadBill, MaxLineFen)
		case l.Category != CategoryA && l.Category != CategoryB && l.Category != CategoryC:
			err = fmt.Errorf("%w: %w %q", ErrBadBill, ErrUnknownCategory, l.Category)
		}
		if err != nil {
			return &LineError{Index: i, Err: err}
		}
	}
	return nil
}

// payable is what the personal account may pay of a line.
func (r rule) payable(a Amounts, c Category) int64 {
	var fen int64
	if r.pays[payDeductible] {
		fen += a.Deductible
	}
	if r.pays[payCopay] {
		fen += a.Copay
	}
	if (c == CategoryB && r.pays[payBSelfPay]) || (c == CategoryC && r.pays[payCSelfPay]) {
		fen += a.SelfPay
	}
	return fen
}

// metOf is the running total a visit type's deductible counts against:
// inpatient bills the inpatient one, outpatient and pharmacy bills the
// outpatient one.
func metOf(t *Totals, vt VisitType) *int64 {
	if vt == Inpatient {
		return &t.InpatientDeductibleMetFen
	}
	return &t.OutpatientDeductibleMetFen
}

// share is bp basis points of fen, rounded half up to the fen. fen is at most
// MaxLines·MaxLineFen, so the product fits.
func share(fen, bp int64) int64 { return (fen*bp + 5000) / 10000 }

func sum(xs []int64) int64 {
	var s int64
	for _, x := range xs {
		s += x
	}
	return s
}

// allocate shares total out across weights in proportion, by the largest
// remainder method: each gets the floor of its exact share, and the fen left
// over go one each to the largest remainders, ties to the earlier index. It
// needs 0 ≤ total ≤ sum(weights) and weights ≥ 0; then each part is at most
// its weight, and the parts add up to total exactly.
func allocate(total int64, weights []int64) []int64 {
	parts := make([]int64, len(weights))
	w := uint64(sum(weights))
	if total == 0 {
		return parts
	}
	type rem struct {
		i int
		r uint64
	}
	rems := make([]rem, len(weights))
	left := total
	for i, wi := range weights {
		// total·wi/w < 2^64 because total ≤ w, so Div64 cannot overflow.
		hi, lo := bits.Mul64(uint64(total), uint64(wi))
		q, r := bits.Div64(hi, lo, w)
		parts[i] = int64(q)
		left -= int64(q)
		rems[i] = rem{i, r}
	}
	slices.SortStableFunc(rems, func(a, b rem) int { return cmp.Compare(b.r, a.r) })
	for _, x := range rems[:left] {
		parts[x.i]++
	}
	return parts
}

func (a Amounts) add(b Amounts) Amounts {
	return Amounts{
		Submitted:       a.Submitted + b.Submitted,
		SelfPay:         a.SelfPay + b.SelfPay,
		Eligible:        a.Eligible + b.Eligible,
		Deductible:      a.Deductible + b.Deductible,
		Copay:           a.Copay + b.Copay,
		Benefit:         a.Benefit + b.Benefit,
		PersonalAccount: a.PersonalAccount + b.PersonalAccount,
		Cash:            a.Cash + b.Cash,
	}
}
