package medical

import (
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/go-cmp/cmp"

	"github.com/citycode/citycode/shared/ddb"
	"github.com/citycode/citycode/shared/dynamotest"
	"github.com/citycode/citycode/shared/holders"
	"github.com/citycode/citycode/shared/medpolicy"
	"github.com/citycode/citycode/shared/outbox"
	"github.com/citycode/citycode/shared/outbox/outboxtest"
)

// world is a store on a test's own tables, with the real policies and
// providers, and a clock in the sample policy's year that moves on with
// real time (so settlement times order as their commits do).
type world struct {
	db        *dynamotest.Env
	store     *Store
	providers Providers
	policies  *medpolicy.Policies
}

var policyDay = time.Date(2026, 3, 14, 2, 30, 0, 0, time.UTC)

func newWorld(t *testing.T) world {
	t.Helper()
	db := dynamotest.New(t)
	env := db.FunctionEnv(t, "HospitalSettleFunction")
	policies, err := medpolicy.Load(env["MEDICAL_POLICIES_DIR"])
	if err != nil {
		t.Fatal(err)
	}
	providers, err := LoadProviders(env["MEDICAL_PROVIDERS_FILE"])
	if err != nil {
		t.Fatal(err)
	}
	store := NewStore(db.Client, db.Tables["MedicalTable"], db.Tables["HoldersTable"], outbox.New(db.Client, db.Tables["EventsTable"], time.Hour), policies)
	start := time.Now()
	store.now = func() time.Time { return policyDay.Add(time.Since(start)) }
	return world{db: db, store: store, providers: providers, policies: policies}
}

// holderID makes an id shaped like the holders capability's.
func holderID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return "hdr_" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]))
}

// holder puts an active holder's profile item in the holders table (the
// status is all the medical store reads of it) and returns its id.
func (w world) holder(t *testing.T) string {
	t.Helper()
	id := holderID()
	w.setStatus(t, id, holders.StatusActive)
	return id
}

// setStatus sets a holder's status, as the holders capability would.
func (w world) setStatus(t *testing.T, id, status string) {
	t.Helper()
	_, err := w.db.Client.PutItem(t.Context(), &dynamodb.PutItemInput{TableName: aws.String(w.db.Tables["HoldersTable"]),
		Item: map[string]types.AttributeValue{"pk": ddb.S(holderPK(id)), "sk": ddb.S(skHolder), "holder_id": ddb.S(id), "status": ddb.S(status)}})
	if err != nil {
		t.Fatal(err)
	}
}

func (w world) insured(t *testing.T, p Profile) Profile {
	t.Helper()
	p.HolderID, p.City = w.holder(t), "sh"
	if err := w.store.PutProfile(t.Context(), p); err != nil {
		t.Fatal(err)
	}
	got, err := w.store.Profile(t.Context(), p.HolderID)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func (w world) provider(t *testing.T, org string) Provider {
	t.Helper()
	p, ok := w.providers[org]
	if !ok {
		t.Fatalf("no provider %s in providers.json", org)
	}
	return p
}

// charge is a bill at org for holder on a visit (a sale for a pharmacy).
func (w world) charge(t *testing.T, org, holder, billID string, vt medpolicy.VisitType, lines ...medpolicy.Line) Charge {
	t.Helper()
	c := Charge{Provider: w.provider(t, org), BillID: billID, VisitType: vt, HolderID: holder, Lines: lines}
	if vt != medpolicy.Pharmacy {
		v, err := w.store.OpenVisit(t.Context(), Visit{Org: org, HolderID: holder, Type: string(vt), OpenedBy: "test"}, noScan)
		if err != nil {
			t.Fatal(err)
		}
		c.VisitID = v.ID
	}
	return c
}

// noScan stands for a scan's writes where a test opens visits directly.
func noScan() ([]types.TransactWriteItem, error) { return nil, nil }

func line(code string, c medpolicy.Category, fen int64) medpolicy.Line {
	return medpolicy.Line{ItemCode: code, Category: c, Quantity: 1, AmountFen: fen}
}

// replay splits settlements one after the other, in the order they were
// settled, from the profile p, checking that each was split exactly as the
// policy says for the profile it followed; it returns the profile after all
// of them.
func (w world) replay(t *testing.T, p Profile, sts []Settlement) Profile {
	t.Helper()
	slices.SortFunc(sts, func(a, b Settlement) int { return a.SettledAt.Compare(b.SettledAt) })
	for i, st := range sts {
		pol, err := w.policies.For(p.City, st.SettledAt)
		if err != nil {
			t.Fatal(err)
		}
		var lines []medpolicy.Line
		for _, l := range st.Lines {
			lines = append(lines, medpolicy.Line{ItemCode: l.ItemCode, Category: medpolicy.Category(l.Category), Quantity: l.Quantity, AmountFen: l.AmountFen})
		}
		sp, err := pol.Split(medpolicy.Bill{VisitType: medpolicy.VisitType(st.VisitType), Tier: st.Tier, Lines: lines, Date: st.SettledAt}, p.member())
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(Amounts(sp.Total), st.Total); diff != "" {
			t.Errorf("settlement %d (%s) is not the split of the profile it followed (-want +got):\n%s", i, st.BillID, diff)
		}
		p.Totals, p.PersonalAccountFen = Totals(sp.After), sp.PersonalAccountAfterFen
	}
	return p
}

// money is what a test compares of a profile.
func money(p Profile) Profile {
	return Profile{PersonalAccountFen: p.PersonalAccountFen, Totals: p.Totals}
}

func TestConcurrentSettlementsAtTwoHospitalsLeaveTheProfileExact(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	w := newWorld(t)
	// The deductible (150000) is crossed and the personal account (300000)
	// runs dry part-way through: every settlement depends on the ones
	// before it.
	p0 := w.insured(t, Profile{Scheme: "employee", PersonalAccountFen: 300_000})
	const perHospital = 8
	var charges []Charge
	for _, org := range []string{"hospital-demo", "hospital-district-demo"} {
		for i := range perHospital {
			charges = append(charges, w.charge(t, org, p0.HolderID, fmt.Sprintf("%s-%02d", org, i), medpolicy.Outpatient,
				line("XA01", medpolicy.CategoryA, 40_000), line("XB07", medpolicy.CategoryB, 9_000), line("XC03", medpolicy.CategoryC, 1_500)))
		}
	}
	var (
		mu   sync.Mutex
		sts  []Settlement
		wg   sync.WaitGroup
		errs = make(chan error, len(charges))
	)
	for _, c := range charges {
		wg.Go(func() {
			st, created, err := w.store.Settle(ctx, c)
			if err != nil || !created {
				errs <- fmt.Errorf("%s: created %v, %w", c.BillID, created, err)
				return
			}
			mu.Lock()
			sts = append(sts, st)
			mu.Unlock()
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if len(sts) != len(charges) {
		t.Fatalf("%d settlements of %d bills", len(sts), len(charges))
	}
	want := w.replay(t, p0, sts)
	got, err := w.store.Profile(ctx, p0.HolderID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(money(want), money(got)); diff != "" {
		t.Errorf("profile after %d concurrent settlements (-sequential +got):\n%s", len(sts), diff)
	}
	if got.Version != int64(len(sts)) {
		t.Errorf("profile version %d, want one write per settlement (%d)", got.Version, len(sts))
	}
	if got.Totals.OutpatientDeductibleMetFen != 150_000 || got.PersonalAccountFen != 0 {
		t.Errorf("totals %+v, account %d: the bills were meant to meet the deductible and empty the account", got.Totals, got.PersonalAccountFen)
	}
	events := outboxtest.Recorded(t, w.db.Client, w.db.Tables["EventsTable"])
	if len(events) != len(sts) {
		t.Errorf("%d events for %d settlements", len(events), len(sts))
	}
	for _, e := range events {
		outboxtest.CheckSchema(t, e)
		if e.Type != typeCompleted || e.Subject != p0.HolderID {
			t.Errorf("event %s about %s", e.Type, e.Subject)
		}
	}
}

func TestABillSettlesOnce(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	w := newWorld(t)
	p0 := w.insured(t, Profile{Scheme: "employee", Retired: true, PersonalAccountFen: 50_000})
	c := w.charge(t, "hospital-demo", p0.HolderID, "INV-1", medpolicy.Outpatient, line("XA01", medpolicy.CategoryA, 90_000))

	// The same bill posted four times at once, then once more.
	var wg sync.WaitGroup
	results := make(chan Settlement, 4)
	var createdCount sync.Map
	for i := range 4 {
		wg.Go(func() {
			st, created, err := w.store.Settle(ctx, c)
			if err != nil {
				t.Error(err)
				return
			}
			createdCount.Store(i, created)
			results <- st
		})
	}
	wg.Wait()
	close(results)
	var ids []string
	for st := range results {
		ids = append(ids, st.ID)
	}
	created := 0
	createdCount.Range(func(_, v any) bool {
		if v.(bool) {
			created++
		}
		return true
	})
	again, createdAgain, err := w.store.Settle(ctx, c)
	if err != nil || createdAgain {
		t.Fatalf("retry: created %v, %v", createdAgain, err)
	}
	ids = append(ids, again.ID)
	if created != 1 || len(slices.Compact(ids)) != 1 {
		t.Errorf("%d created, ids %v: want one settlement answered to every retry", created, ids)
	}
	got, err := w.store.Profile(ctx, p0.HolderID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(money(w.replay(t, p0, []Settlement{again})), money(got)); diff != "" {
		t.Errorf("profile (-settled once +got):\n%s", diff)
	}

	// Another bill under the same id is refused and changes nothing.
	other := c
	other.Lines = []medpolicy.Line{line("XA01", medpolicy.CategoryA, 90_001)}
	if _, _, err := w.store.Settle(ctx, other); !errors.Is(err, ErrBillReused) {
		t.Errorf("another bill with the same id: %v, want ErrBillReused", err)
	}
	if after, _ := w.store.Profile(ctx, p0.HolderID); after.Version != got.Version {
		t.Errorf("a refused bill wrote the profile: version %d -> %d", got.Version, after.Version)
	}
	// A bill id is per provider: another hospital may use the same one.
	elsewhere := w.charge(t, "hospital-district-demo", p0.HolderID, "INV-1", medpolicy.Outpatient, line("XA01", medpolicy.CategoryA, 1_000))
	if _, created, err := w.store.Settle(ctx, elsewhere); err != nil || !created {
		t.Errorf("the same bill id at another hospital: created %v, %v", created, err)
	}
}

func TestAReversalRestoresExactlyOnce(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	w := newWorld(t)
	p0 := w.insured(t, Profile{Scheme: "employee", PersonalAccountFen: 200_000})
	first, _, err := w.store.Settle(ctx, w.charge(t, "hospital-demo", p0.HolderID, "A", medpolicy.Inpatient,
		line("XA01", medpolicy.CategoryA, 180_000), line("XB02", medpolicy.CategoryB, 20_000)))
	if err != nil {
		t.Fatal(err)
	}
	second, _, err := w.store.Settle(ctx, w.charge(t, "hospital-demo", p0.HolderID, "B", medpolicy.Outpatient, line("XA01", medpolicy.CategoryA, 30_000)))
	if err != nil {
		t.Fatal(err)
	}
	// The first is reversed four times at once and once more.
	var wg sync.WaitGroup
	var mu sync.Mutex
	created := 0
	for range 4 {
		wg.Go(func() {
			st, c, err := w.store.Reverse(ctx, "hospital-demo", first.ID, "billing_error")
			if err != nil || st.Status != StatusReversed || st.Reversal == nil {
				t.Errorf("reverse: %+v, %v", st.Reversal, err)
			}
			mu.Lock()
			if c {
				created++
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	again, c, err := w.store.Reverse(ctx, "hospital-demo", first.ID, "other")
	if err != nil || c || again.Reversal == nil || again.Reversal.Reason != "billing_error" {
		t.Fatalf("reversing again: created %v, %+v, %v; want the first reversal", c, again.Reversal, err)
	}
	if created != 1 {
		t.Errorf("%d reversals applied, want 1", created)
	}
	// Exactly what the first changed is given back; the second stays.
	want := p0
	want.Totals.Year = first.Changes.Year
	want.Totals.OutpatientDeductibleMetFen += second.Changes.OutpatientDeductibleFen
	want.Totals.InpatientDeductibleMetFen += second.Changes.InpatientDeductibleFen
	want.Totals.FundPaidFen += second.Changes.FundPaidFen
	want.PersonalAccountFen -= second.Changes.PersonalAccountFen
	got, err := w.store.Profile(ctx, p0.HolderID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(money(want), money(got)); diff != "" {
		t.Errorf("profile after the reversal (-want +got):\n%s", diff)
	}
	if first.Changes.InpatientDeductibleFen == 0 || first.Changes.FundPaidFen == 0 || first.Changes.PersonalAccountFen == 0 {
		t.Errorf("changes %+v: the first bill was meant to touch the deductible, the fund and the account", first.Changes)
	}
	var kinds []string
	for _, e := range outboxtest.Recorded(t, w.db.Client, w.db.Tables["EventsTable"]) {
		outboxtest.CheckSchema(t, e)
		kinds = append(kinds, e.Type)
	}
	if diff := cmp.Diff([]string{typeCompleted, typeCompleted, typeReversed}, kinds); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	// Another organisation cannot reverse it, or see it.
	if _, _, err := w.store.Reverse(ctx, "hospital-district-demo", second.ID, "other"); !errors.Is(err, ErrSettlementNotFound) {
		t.Errorf("another hospital reversing: %v", err)
	}
}

func TestRestored(t *testing.T) {
	t.Parallel()
	changes := Changes{Year: 2026, OutpatientDeductibleFen: 100, InpatientDeductibleFen: 200, FundPaidFen: 300, PersonalAccountFen: 400}
	tests := []struct {
		name string
		p    Profile
		want Profile
	}{
		{"same year", Profile{PersonalAccountFen: 10, Totals: Totals{Year: 2026, OutpatientDeductibleMetFen: 150, InpatientDeductibleMetFen: 250, FundPaidFen: 900}},
			Profile{PersonalAccountFen: 410, Totals: Totals{Year: 2026, OutpatientDeductibleMetFen: 50, InpatientDeductibleMetFen: 50, FundPaidFen: 600}}},
		{"next year: only the account", Profile{PersonalAccountFen: 10, Totals: Totals{Year: 2027, FundPaidFen: 5}},
			Profile{PersonalAccountFen: 410, Totals: Totals{Year: 2027, FundPaidFen: 5}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if diff := cmp.Diff(tc.want, restored(tc.p, changes)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestASuspendedHolderIsNotSettled(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	w := newWorld(t)
	p0 := w.insured(t, Profile{Scheme: "employee", PersonalAccountFen: 80_000})
	settled, _, err := w.store.Settle(ctx, w.charge(t, "hospital-demo", p0.HolderID, "BEFORE", medpolicy.Outpatient, line("XA01", medpolicy.CategoryA, 10_000)))
	if err != nil {
		t.Fatal(err)
	}
	visit := w.charge(t, "hospital-demo", p0.HolderID, "AFTER", medpolicy.Outpatient, line("XA01", medpolicy.CategoryA, 10_000))
	sale := w.charge(t, "pharmacy-demo", p0.HolderID, "SALE", medpolicy.Pharmacy, line("YA01", medpolicy.CategoryA, 1_000))
	// Suspended after registration: neither the visit's bill nor a sale is
	// settled, and nothing changes.
	w.setStatus(t, p0.HolderID, holders.StatusSuspended)
	before, err := w.store.Profile(ctx, p0.HolderID)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []Charge{visit, sale} {
		if _, _, err := w.store.Settle(ctx, c); !errors.Is(err, ErrHolderNotActive) {
			t.Errorf("%s for a suspended holder: %v, want ErrHolderNotActive", c.BillID, err)
		}
		if prev, err := w.store.Settled(ctx, c); err != nil || prev != nil {
			t.Errorf("%s was recorded: %v, %v", c.BillID, prev, err)
		}
	}
	if after, _ := w.store.Profile(ctx, p0.HolderID); after.Version != before.Version {
		t.Errorf("refused bills wrote the profile: version %d -> %d", before.Version, after.Version)
	}
	// A refund of what was settled before still gives the money back.
	if _, created, err := w.store.Reverse(ctx, "hospital-demo", settled.ID, "patient_request"); err != nil || !created {
		t.Errorf("reversal for a suspended holder: created %v, %v", created, err)
	}
	// Active again, the bill settles.
	w.setStatus(t, p0.HolderID, holders.StatusActive)
	if _, created, err := w.store.Settle(ctx, visit); err != nil || !created {
		t.Errorf("active again: created %v, %v", created, err)
	}
}

func TestVisitsExpireOrCloseAtTheFinalBill(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	tests := []struct {
		name      string
		vt        medpolicy.VisitType
		after     time.Duration // from the scan to the bill
		final     bool          // the first bill is the visit's final one
		wantFirst error
	}{
		{"outpatient, the same day", medpolicy.Outpatient, 23 * time.Hour, false, nil},
		{"outpatient, the next day", medpolicy.Outpatient, 24 * time.Hour, false, ErrVisitClosed},
		{"inpatient, a month in", medpolicy.Inpatient, 30 * 24 * time.Hour, false, nil},
		{"inpatient, discharged", medpolicy.Inpatient, 10 * 24 * time.Hour, true, nil},
		{"inpatient, never discharged", medpolicy.Inpatient, InpatientVisitFor, false, ErrVisitClosed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			p0 := w.insured(t, Profile{Scheme: "employee", PersonalAccountFen: 80_000})
			opened := policyDay
			w.store.now = func() time.Time { return opened }
			c := w.charge(t, "hospital-demo", p0.HolderID, "FIRST", tc.vt, line("XA01", medpolicy.CategoryA, 10_000))
			c.Final = tc.final
			w.store.now = func() time.Time { return opened.Add(tc.after) }
			_, activeErr := w.store.ActiveVisit(ctx, c.Provider.Org, c.VisitID)
			st, created, err := w.store.Settle(ctx, c)
			if !errors.Is(err, tc.wantFirst) || !errors.Is(activeErr, tc.wantFirst) || (err == nil) != created {
				t.Fatalf("first bill: created %v, %v; visit %v; want %v", created, err, activeErr, tc.wantFirst)
			}
			if err != nil {
				if prev, _ := w.store.Settled(ctx, c); prev != nil {
					t.Errorf("a bill on a closed visit was recorded")
				}
				return
			}
			// A second bill: on an open visit it settles; after the final
			// bill it is refused, while the final bill's retry answers it.
			second := c
			second.BillID, second.Final = "SECOND", false
			_, _, err = w.store.Settle(ctx, second)
			if tc.final != errors.Is(err, ErrVisitClosed) || !tc.final && err != nil {
				t.Errorf("second bill: %v (final first bill %v)", err, tc.final)
			}
			if again, created, err := w.store.Settle(ctx, c); err != nil || created || again.ID != st.ID {
				t.Errorf("retry of the first bill: %s created %v, %v; want %s", again.ID, created, err, st.ID)
			}
		})
	}
}

func TestEnrolAndCredit(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	w := newWorld(t)
	id := w.holder(t)

	p, created, err := w.store.Enrol(ctx, id, Identity{Scheme: "resident", City: "sh"})
	if err != nil || !created || p.Scheme != "resident" || p.PersonalAccountFen != 0 || p.Version != 0 {
		t.Fatalf("enrol: %+v created %v, %v", p, created, err)
	}
	credit := Credit{ID: "crd_1", HolderID: id, AmountFen: 120_000, Reference: "SSB-2026", By: "social-security-demo"}
	c, created, err := w.store.CreditAccount(ctx, credit)
	if err != nil || !created || c.BalanceAfterFen != 120_000 {
		t.Fatalf("credit: %+v created %v, %v", c, created, err)
	}
	// The same credit again answers the first; another under its id is
	// refused; neither changes the balance.
	if again, created, err := w.store.CreditAccount(ctx, credit); err != nil || created || !cmp.Equal(again, c) {
		t.Errorf("the same credit again: %+v created %v, %v", again, created, err)
	}
	other := credit
	other.AmountFen++
	if _, _, err := w.store.CreditAccount(ctx, other); !errors.Is(err, ErrCreditReused) {
		t.Errorf("another credit under the same id: %v, want ErrCreditReused", err)
	}
	// A settlement, then a change of scheme: money and totals are kept.
	st, _, err := w.store.Settle(ctx, w.charge(t, "hospital-demo", id, "INV-1", medpolicy.Inpatient, line("XA01", medpolicy.CategoryA, 100_000)))
	if err != nil {
		t.Fatal(err)
	}
	before, err := w.store.Profile(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	changed, created, err := w.store.Enrol(ctx, id, Identity{Scheme: "employee", Retired: true, City: "sh"})
	if err != nil || created || changed.Version != before.Version+1 || changed.Scheme != "employee" || !changed.Retired ||
		!cmp.Equal(money(changed), money(before)) || st.Total.Benefit == 0 {
		t.Errorf("change of scheme: %+v created %v, %v (before %+v)", changed, created, err, before)
	}
	if same, _, err := w.store.Enrol(ctx, id, Identity{Scheme: "employee", Retired: true, City: "sh"}); err != nil || same.Version != changed.Version {
		t.Errorf("the same identity again: version %d, %v; want unchanged %d", same.Version, err, changed.Version)
	}
	// Refusals.
	if _, _, err := w.store.Enrol(ctx, holderID(), Identity{Scheme: "employee", City: "sh"}); !errors.Is(err, ErrHolderNotFound) {
		t.Errorf("enrol an unknown holder: %v", err)
	}
	if _, _, err := w.store.CreditAccount(ctx, Credit{ID: "crd_2", HolderID: w.holder(t), AmountFen: 1}); !errors.Is(err, ErrNotInsured) {
		t.Errorf("credit an uninsured holder: %v", err)
	}
	if _, _, err := w.store.CreditAccount(ctx, Credit{ID: "crd_3", HolderID: id, AmountFen: medpolicy.MaxMemberFen}); !errors.Is(err, ErrBalanceLimit) {
		t.Errorf("credit above the limit: %v", err)
	}
}

// TestCreditsAndSettlementsRace credits an account while pharmacy sales
// take from it and the bureau changes the scheme: every credit counts once
// and the balance is exact.
func TestCreditsAndSettlementsRace(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	w := newWorld(t)
	p0 := w.insured(t, Profile{Scheme: "employee", PersonalAccountFen: 5_000})
	const n = 6
	var (
		wg                sync.WaitGroup
		mu                sync.Mutex
		paid, credited    int64
		creditsApplied    int
		settlementsByBill = map[string]Settlement{}
	)
	var sales []Charge
	for i := range n {
		sales = append(sales, w.charge(t, "pharmacy-demo", p0.HolderID, fmt.Sprint("SALE-", i), medpolicy.Pharmacy, line("YA01", medpolicy.CategoryA, 7_000)))
	}
	for i, sale := range sales {
		wg.Go(func() {
			c, created, err := w.store.CreditAccount(ctx, Credit{ID: fmt.Sprint("crd_", i), HolderID: p0.HolderID, AmountFen: 10_000})
			if err != nil || !created {
				t.Errorf("credit %d: created %v, %v", i, created, err)
				return
			}
			mu.Lock()
			credited += c.AmountFen
			creditsApplied++
			mu.Unlock()
		})
		wg.Go(func() {
			st, _, err := w.store.Settle(ctx, sale)
			if err != nil {
				t.Errorf("sale %d: %v", i, err)
				return
			}
			mu.Lock()
			paid += st.Total.PersonalAccount
			settlementsByBill[st.BillID] = st
			mu.Unlock()
		})
		wg.Go(func() {
			if _, _, err := w.store.Enrol(ctx, p0.HolderID, Identity{Scheme: "employee", Retired: i%2 == 0, City: "sh"}); err != nil {
				t.Errorf("enrol %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	// Each credit retried once more: applied once.
	for i := range n {
		if _, created, err := w.store.CreditAccount(ctx, Credit{ID: fmt.Sprint("crd_", i), HolderID: p0.HolderID, AmountFen: 10_000}); err != nil || created {
			t.Errorf("credit %d retried: created %v, %v", i, created, err)
		}
	}
	got, err := w.store.Profile(ctx, p0.HolderID)
	if err != nil {
		t.Fatal(err)
	}
	if want := p0.PersonalAccountFen + credited - paid; got.PersonalAccountFen != want || creditsApplied != n || len(settlementsByBill) != n {
		t.Errorf("account %d, want %d (5000 + %d credited - %d paid by %d sales)", got.PersonalAccountFen, want, credited, paid, len(settlementsByBill))
	}
	if paid == 0 || credited != n*10_000 {
		t.Errorf("paid %d, credited %d: the sales were meant to take from the account", paid, credited)
	}
}
