package medical

import (
	"context"
	"net/http"
	"regexp"
	"slices"
	"time"

	"github.com/citycode/citycode/shared/holders"
	"github.com/citycode/citycode/shared/httpapi"
	"github.com/citycode/citycode/shared/idempotency"
	"github.com/citycode/citycode/shared/medpolicy"
	"github.com/citycode/citycode/shared/qrverify"
	"github.com/citycode/citycode/shared/scan"
)

// errorAnswers maps the capability's sentinels to their answers, in one place.
var errorAnswers = httpapi.ErrorMap{
	ErrNotInsured:         httpapi.NewError(http.StatusUnprocessableEntity, "not_insured", "the patient has no medical insurance profile in this city"),
	ErrVisitNotFound:      httpapi.NewError(http.StatusNotFound, "visit_not_found", "no such visit at your organisation: scan the patient's code first"),
	ErrSettlementNotFound: httpapi.NewError(http.StatusNotFound, "settlement_not_found", "no such settlement of your organisation"),
	ErrBillReused:         httpapi.NewError(http.StatusConflict, "bill_id_reused", "this bill id was settled with a different bill"),
	ErrBusy:               httpapi.NewError(http.StatusConflict, "profile_busy", "the patient's insurance is busy; retry with the same Idempotency-Key"),
	ErrReplayed:           codeNotAccepted(qrverify.ReasonReplayed),
	medpolicy.ErrNoPolicy: httpapi.NewError(http.StatusUnprocessableEntity, "no_policy", "no insurance policy is in force for this city and date"),
	medpolicy.ErrBadBill:  httpapi.NewError(http.StatusUnprocessableEntity, "bill_refused", "the policy refuses this bill"),
	errCorruptCursor:      httpapi.NewError(http.StatusBadRequest, "invalid_query", "the cursor is not one this API gave out"),
	ErrVisitClosed:        httpapi.NewError(http.StatusConflict, "visit_closed", "the visit expired or its final bill closed it: scan the patient's code again"),
	ErrHolderNotActive:    httpapi.NewError(http.StatusConflict, "holder_suspended", "the patient's city code is suspended: the bill cannot be settled with it"),
	// The policy data cannot split the bill: the provider's tier or the
	// member's scheme is not in the year's policy. The operator's data is
	// at fault, not the request, so 500, logged at error with the engine's
	// reason (which names the tier or scheme and the policy).
	medpolicy.ErrBadTier:   policyDataFault,
	medpolicy.ErrBadMember: policyDataFault,
}

var policyDataFault = httpapi.NewError(http.StatusInternalServerError, "policy_data_fault",
	"the insurance policy data cannot settle this bill; the operator has been alerted")

// residentAnswers are the answers of the resident's own insurance route.
var residentAnswers = httpapi.ErrorMap{
	ErrNotInsured:                httpapi.NewError(http.StatusNotFound, "not_insured", "no medical insurance profile: the social security bureau enrolls you in a scheme"),
	holders.ErrNotEnrolled:       httpapi.NewError(http.StatusNotFound, "not_enrolled", "enroll first: POST /v1/holders"),
	holders.ErrDependantNotFound: httpapi.NewError(http.StatusNotFound, "dependant_not_found", "no such dependant of yours"),
}

// codeNotAccepted is the answer to a code that is not valid for the
// purpose, naming qr-verify's reason.
func codeNotAccepted(reason string) *httpapi.Error {
	return &httpapi.Error{Status: http.StatusUnprocessableEntity, Code: "code_not_accepted", Detail: "the code was not accepted: " + reason,
		Fields: []httpapi.FieldError{{Field: "code", Code: reason, Detail: "ask the patient to refresh the code and scan again"}}}
}

var notAProvider = httpapi.NewError(http.StatusForbidden, "not_a_provider", "your organisation is not a listed provider for this route")

// Scanner checks scanned codes in-process (shared/scan).
type Scanner interface {
	Scan(ctx context.Context, code, purpose string, by qrverify.Scanner) (scan.Scan, error)
}

// API serves the medical routes of infra/medical.md.
type API struct {
	store     *Store
	holders   *holders.Store
	scanner   Scanner
	providers Providers
	idem      *idempotency.Store
}

// NewAPI returns the API: settlements in store, logins and dependants in
// hs, codes checked by sc, providers as listed, idem guarding the POSTs.
func NewAPI(store *Store, hs *holders.Store, sc Scanner, providers Providers, idem *idempotency.Store) *API {
	return &API{store: store, holders: hs, scanner: sc, providers: providers, idem: idem}
}

// Routes registers every route on mux.
func (a *API) Routes(mux *http.ServeMux) {
	hospital, either := []string{KindHospital}, []string{KindHospital, KindPharmacy}
	mux.Handle("POST /v1/medical/visits", a.as(hospital, a.idem.Require(http.HandlerFunc(a.openVisit))))
	mux.Handle("POST /v1/medical/settlements/estimates", a.as(hospital, http.HandlerFunc(a.estimate)))
	mux.Handle("POST /v1/medical/settlements", a.as(hospital, a.idem.Require(http.HandlerFunc(a.settle))))
	mux.Handle("GET /v1/medical/settlements", a.as(either, http.HandlerFunc(a.list)))
	mux.Handle("GET /v1/medical/settlements/{settlement_id}", a.as(either, http.HandlerFunc(a.get)))
	mux.Handle("POST /v1/medical/settlements/{settlement_id}/reversals", a.as(either, a.idem.Require(http.HandlerFunc(a.reverse))))
	mux.Handle("POST /v1/pharmacy/sales", a.as([]string{KindPharmacy}, a.idem.Require(http.HandlerFunc(a.sell))))
	mux.Handle("GET /v1/holders/me/insurance", httpapi.RequireScope("resident", http.HandlerFunc(a.insurance)))
	a.adminRoutes(mux)
}

type providerKey struct{}

// as lets through callers whose organisation is a listed provider of one
// of kinds and whose token holds that kind's scan scope (scan:hospital,
// scan:pharmacy); the provider is in the request's context.
func (a *API) as(kinds []string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := httpapi.PrincipalFrom(r)
		if !ok {
			httpapi.WriteProblem(w, r, httpapi.NewError(http.StatusUnauthorized, "unauthorized", "a valid bearer token is required"))
			return
		}
		if !slices.ContainsFunc(kinds, func(k string) bool { return p.HasScope("scan:" + k) }) {
			httpapi.WriteProblem(w, r, httpapi.NewError(http.StatusForbidden, "forbidden", "the token lacks the scope scan:"+kinds[0]))
			return
		}
		prov, listed := a.providers[p.Org]
		if !listed || !slices.Contains(kinds, prov.Kind) || !p.HasScope("scan:"+prov.Kind) {
			httpapi.WriteProblem(w, r, notAProvider)
			return
		}
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), providerKey{}, prov)))
	})
}

func providerOf(r *http.Request) Provider {
	p, _ := r.Context().Value(providerKey{}).(Provider)
	return p
}

// scanCode checks code for purpose on behalf of the caller: a valid code of
// this city's holder, or the answer to give.
func (a *API) scanCode(r *http.Request, code, purpose string) (scan.Scan, error) {
	p, _ := httpapi.PrincipalFrom(r)
	sc, err := a.scanner.Scan(r.Context(), code, purpose, qrverify.Scanner{Subject: p.Subject, Org: p.Org})
	switch {
	case err != nil:
		return scan.Scan{}, err
	case !sc.Valid:
		return scan.Scan{}, codeNotAccepted(sc.Reason)
	case !sc.Home():
		return scan.Scan{}, ErrNotInsured // another city's code: cross-city settlement is not supported
	}
	return sc, nil
}

var (
	visitIDPattern      = regexp.MustCompile(`^vst_[0-9a-f]{32}$`)
	settlementIDPattern = regexp.MustCompile(`^stl_[0-9a-f]{32}$`)
	reasons             = []string{"billing_error", "patient_request", "duplicate", "other"}
)

// MaxCodeLength bounds a scanned code's text; real codes are about 213
// characters.
const MaxCodeLength = 1024

func checkCode(code string) []httpapi.FieldError {
	if code == "" || len(code) > MaxCodeLength {
		return []httpapi.FieldError{{Field: "code", Code: "required", Detail: "the text of the scanned code"}}
	}
	return nil
}

type visitRequest struct {
	Code      string `json:"code"`
	VisitType string `json:"visit_type"`
}

type insuranceIdentity struct {
	Scheme      string `json:"scheme"`
	Retired     bool   `json:"retired"`
	InsuredCity string `json:"insured_city"`
}

type visitJSON struct {
	VisitID      string            `json:"visit_id"`
	VisitType    string            `json:"visit_type"`
	Organisation string            `json:"organisation"`
	OpenedAt     time.Time         `json:"opened_at"`
	ExpiresAt    time.Time         `json:"expires_at"`
	Patient      map[string]any    `json:"patient"`
	Insurance    insuranceIdentity `json:"insurance"`
}

func (a *API) openVisit(w http.ResponseWriter, r *http.Request) {
	var req visitRequest
	if err := httpapi.DecodeJSON(r, &req); err != nil {
		httpapi.WriteError(w, r, errorAnswers, err)
		return
	}
	errs := checkCode(req.Code)
	if req.VisitType != string(medpolicy.Outpatient) && req.VisitType != string(medpolicy.Inpatient) {
		errs = append(errs, httpapi.FieldError{Field: "visit_type", Code: "invalid", Detail: "outpatient or inpatient"})
	}
	if len(errs) > 0 {
		httpapi.WriteProblem(w, r, httpapi.Invalid(errs...))
		return
	}
	sc, err := a.scanCode(r, req.Code, "hospital")
	if err != nil {
		httpapi.WriteError(w, r, errorAnswers, err)
		return
	}
	prov := providerOf(r)
	ins, err := a.store.Profile(r.Context(), sc.HolderID)
	if err == nil && ins.City != prov.City {
		err = ErrNotInsured
	}
	if err != nil {
		httpapi.WriteError(w, r, errorAnswers, err)
		return
	}
	p, _ := httpapi.PrincipalFrom(r)
	v, err := a.store.OpenVisit(r.Context(), Visit{Org: prov.Org, HolderID: sc.HolderID, Type: req.VisitType, OpenedBy: p.Subject}, sc.Writes)
	if err != nil {
		httpapi.WriteError(w, r, errorAnswers, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusCreated, visitJSON{VisitID: v.ID, VisitType: v.Type, Organisation: v.Org, OpenedAt: v.OpenedAt,
		ExpiresAt: v.ExpiresAt, Patient: sc.Claims, Insurance: insuranceIdentity{Scheme: ins.Scheme, Retired: ins.Retired, InsuredCity: ins.City}})
}

type billRequest struct {
	VisitID string `json:"visit_id"`
	BillID  string `json:"bill_id"`
	// Final closes the visit with this bill (an inpatient's discharge).
	Final bool `json:"final"`
	Lines
}

// charge validates a bill on one of the caller's visits; settling is false
// for an estimate, which needs no bill id and an open visit (a settlement
// checks that the visit is open in its own transaction, and a retried
// final bill answers its settlement after the visit closed).
func (a *API) charge(r *http.Request, settling bool) (Charge, error) {
	var req billRequest
	if err := httpapi.DecodeJSON(r, &req); err != nil {
		return Charge{}, err
	}
	var errs []httpapi.FieldError
	if !visitIDPattern.MatchString(req.VisitID) {
		errs = append(errs, httpapi.FieldError{Field: "visit_id", Code: "invalid", Detail: "the visit_id registration answered"})
	}
	if (settling || req.BillID != "") && !billIDPattern.MatchString(req.BillID) {
		errs = append(errs, httpapi.FieldError{Field: "bill_id", Code: "invalid", Detail: "your bill number: 1 to 64 letters, digits, '.', '_', '-' or '/'"})
	}
	lines, lineErrs := req.Lines.validate()
	if errs = append(errs, lineErrs...); len(errs) > 0 {
		return Charge{}, httpapi.Invalid(errs...)
	}
	prov := providerOf(r)
	read := a.store.ActiveVisit
	if settling {
		read = a.store.Visit
	}
	v, err := read(r.Context(), prov.Org, req.VisitID)
	if err != nil {
		return Charge{}, err
	}
	return Charge{Provider: prov, BillID: req.BillID, VisitID: v.ID, VisitType: medpolicy.VisitType(v.Type), HolderID: v.HolderID,
		Lines: lines, Final: req.Final}, nil
}

// writeSplitError answers a failed split: the engine's complaint about a
// line names the line, the rest goes through the error map.
func writeSplitError(w http.ResponseWriter, r *http.Request, err error) {
	if fields := lineErrors(err); fields != nil {
		httpapi.WriteProblem(w, r, httpapi.Invalid(fields...))
		return
	}
	httpapi.WriteError(w, r, errorAnswers, err)
}

func (a *API) estimate(w http.ResponseWriter, r *http.Request) {
	c, err := a.charge(r, false)
	if err != nil {
		httpapi.WriteError(w, r, errorAnswers, err)
		return
	}
	st, err := a.store.Estimate(r.Context(), c)
	if err != nil {
		writeSplitError(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, toJSON(st))
}

func (a *API) settle(w http.ResponseWriter, r *http.Request) {
	c, err := a.charge(r, true)
	if err != nil {
		httpapi.WriteError(w, r, errorAnswers, err)
		return
	}
	a.writeSettled(w, r, c)
}

// writeSettled settles c and answers 201, or 200 with the first settlement
// of the same bill.
func (a *API) writeSettled(w http.ResponseWriter, r *http.Request, c Charge) {
	st, created, err := a.store.Settle(r.Context(), c)
	if err != nil {
		writeSplitError(w, r, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	w.Header().Set("Location", "/v1/medical/settlements/"+st.ID)
	httpapi.WriteJSON(w, status, toJSON(st))
}

type saleRequest struct {
	Code   string `json:"code"`
	SaleID string `json:"sale_id"`
	Lines
}

func (a *API) sell(w http.ResponseWriter, r *http.Request) {
	var req saleRequest
	if err := httpapi.DecodeJSON(r, &req); err != nil {
		httpapi.WriteError(w, r, errorAnswers, err)
		return
	}
	errs := checkCode(req.Code)
	if !billIDPattern.MatchString(req.SaleID) {
		errs = append(errs, httpapi.FieldError{Field: "sale_id", Code: "invalid", Detail: "your sale number: 1 to 64 letters, digits, '.', '_', '-' or '/'"})
	}
	lines, lineErrs := req.Lines.validate()
	if errs = append(errs, lineErrs...); len(errs) > 0 {
		httpapi.WriteProblem(w, r, httpapi.Invalid(errs...))
		return
	}
	sc, err := a.scanCode(r, req.Code, "pharmacy")
	if err != nil {
		httpapi.WriteError(w, r, errorAnswers, err)
		return
	}
	c := Charge{Provider: providerOf(r), BillID: req.SaleID, VisitType: medpolicy.Pharmacy, Lines: lines, HolderID: sc.HolderID}
	// The same sale again (same patient, same lines) answers as it was,
	// without using up the code again; the sale id with another patient or
	// other lines is bill_id_reused.
	if prev, err := a.store.Settled(r.Context(), c); err != nil || prev != nil {
		if err != nil {
			httpapi.WriteError(w, r, errorAnswers, err)
			return
		}
		httpapi.WriteJSON(w, http.StatusOK, toJSON(*prev))
		return
	}
	c.Accept = sc.Writes
	a.writeSettled(w, r, c)
}

func (a *API) get(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("settlement_id")
	if !settlementIDPattern.MatchString(id) {
		httpapi.WriteError(w, r, errorAnswers, ErrSettlementNotFound)
		return
	}
	st, err := a.store.Settlement(r.Context(), providerOf(r).Org, id)
	if err != nil {
		httpapi.WriteError(w, r, errorAnswers, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, toJSON(st))
}

func (a *API) list(w http.ResponseWriter, r *http.Request) {
	pg, err := httpapi.ParsePage(r)
	if err != nil {
		httpapi.WriteError(w, r, errorAnswers, err)
		return
	}
	page, err := a.store.Settlements(r.Context(), providerOf(r).Org, pg.Limit, pg.Cursor)
	if err != nil {
		httpapi.WriteError(w, r, errorAnswers, err)
		return
	}
	httpapi.WriteList(w, page.Items, page.NextCursor, toJSON)
}

type reversalRequest struct {
	Reason string `json:"reason"`
}

func (a *API) reverse(w http.ResponseWriter, r *http.Request) {
	var req reversalRequest
	if err := httpapi.DecodeJSON(r, &req); err != nil {
		httpapi.WriteError(w, r, errorAnswers, err)
		return
	}
	if !slices.Contains(reasons, req.Reason) {
		httpapi.WriteProblem(w, r, httpapi.Invalid(httpapi.FieldError{Field: "reason", Code: "invalid",
			Detail: "billing_error, patient_request, duplicate or other"}))
		return
	}
	id := r.PathValue("settlement_id")
	if !settlementIDPattern.MatchString(id) {
		httpapi.WriteError(w, r, errorAnswers, ErrSettlementNotFound)
		return
	}
	st, created, err := a.store.Reverse(r.Context(), providerOf(r).Org, id, req.Reason)
	if err != nil {
		httpapi.WriteError(w, r, errorAnswers, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	httpapi.WriteJSON(w, status, toJSON(st))
}

type lineJSON struct {
	Sequence     int     `json:"sequence"`
	ItemCode     string  `json:"item_code"`
	Category     string  `json:"category"`
	Quantity     int64   `json:"quantity"`
	AmountFen    int64   `json:"amount_fen"`
	Adjudication Amounts `json:"adjudication"`
}

type reversalJSON struct {
	ReversalID string    `json:"reversal_id"`
	Reason     string    `json:"reason"`
	ReversedAt time.Time `json:"reversed_at"`
}

// settlementJSON is a settlement as answered; an estimate has no id, bill
// id, status or time.
type settlementJSON struct {
	SettlementID string        `json:"settlement_id,omitempty"`
	BillID       string        `json:"bill_id,omitempty"`
	VisitID      string        `json:"visit_id,omitempty"`
	Organisation string        `json:"organisation"`
	ProviderKind string        `json:"provider_kind"`
	Tier         int           `json:"tier"`
	VisitType    string        `json:"visit_type"`
	Policy       string        `json:"policy"`
	Status       string        `json:"status,omitempty"`
	Total        Amounts       `json:"total"`
	Lines        []lineJSON    `json:"lines"`
	SettledAt    *time.Time    `json:"settled_at,omitempty"`
	Reversal     *reversalJSON `json:"reversal,omitempty"`
}

func toJSON(st Settlement) settlementJSON {
	out := settlementJSON{SettlementID: st.ID, BillID: st.BillID, VisitID: st.VisitID, Organisation: st.Org, ProviderKind: st.ProviderKind,
		Tier: st.Tier, VisitType: st.VisitType, Policy: st.Policy, Total: st.Total, Lines: make([]lineJSON, 0, len(st.Lines))}
	for _, l := range st.Lines {
		out.Lines = append(out.Lines, lineJSON(l))
	}
	if st.ID != "" {
		out.Status, out.SettledAt = st.Status, &st.SettledAt
	}
	if rv := st.Reversal; rv != nil {
		out.Reversal = &reversalJSON{ReversalID: rv.ID, Reason: rv.Reason, ReversedAt: rv.At}
	}
	return out
}

type insuranceJSON struct {
	HolderID                   string    `json:"holder_id"`
	Scheme                     string    `json:"scheme"`
	Retired                    bool      `json:"retired"`
	InsuredCity                string    `json:"insured_city"`
	PersonalAccountFen         int64     `json:"personal_account_fen"`
	Currency                   string    `json:"currency"`
	Year                       int       `json:"year"`
	OutpatientDeductibleMetFen int64     `json:"outpatient_deductible_met_fen"`
	InpatientDeductibleMetFen  int64     `json:"inpatient_deductible_met_fen"`
	FundPaidFen                int64     `json:"fund_paid_fen"`
	UpdatedAt                  time.Time `json:"updated_at"`
}

// insurance answers the caller's (or, with ?holder_id=, a dependant's)
// insurance profile. Totals of a past year read as this year's zeros.
func (a *API) insurance(w http.ResponseWriter, r *http.Request) {
	p, _ := httpapi.PrincipalFrom(r)
	id, err := a.holders.OwnOrDependant(r.Context(), p.Subject, r.URL.Query().Get("holder_id"))
	var ins Profile
	if err == nil {
		ins, err = a.store.Profile(r.Context(), id)
	}
	if err != nil {
		httpapi.WriteError(w, r, residentAnswers, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, a.insuranceOf(ins))
}

// insuranceOf is p as answered. Totals of a past year read as this year's
// zeros.
func (a *API) insuranceOf(p Profile) insuranceJSON {
	if year := medpolicy.YearOf(a.store.now()); p.Totals.Year != year {
		p.Totals = Totals{Year: year}
	}
	return insuranceJSON{HolderID: p.HolderID, Scheme: p.Scheme, Retired: p.Retired, InsuredCity: p.City,
		PersonalAccountFen: p.PersonalAccountFen, Currency: "CNY", Year: p.Totals.Year,
		OutpatientDeductibleMetFen: p.Totals.OutpatientDeductibleMetFen, InpatientDeductibleMetFen: p.Totals.InpatientDeductibleMetFen,
		FundPaidFen: p.Totals.FundPaidFen, UpdatedAt: p.UpdatedAt}
}
