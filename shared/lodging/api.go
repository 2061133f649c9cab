package lodging

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/citycode/citycode/shared/holders"
	"github.com/citycode/citycode/shared/httpapi"
	"github.com/citycode/citycode/shared/idempotency"
	"github.com/citycode/citycode/shared/qrverify"
	"github.com/citycode/citycode/shared/scan"
)

// errorAnswers maps the capability's sentinels to their answers, in one place.
var errorAnswers = httpapi.ErrorMap{
	ErrStayNotFound:                  httpapi.NewError(http.StatusNotFound, "stay_not_found", "no such stay at this hotel"),
	ErrStayClosed:                    httpapi.NewError(http.StatusConflict, "stay_closed", "the stay is checked out"),
	ErrGuestAlreadyRegistered:        httpapi.NewError(http.StatusConflict, "guest_already_registered", "this holder is already a guest of the stay"),
	ErrMinorUnaccompanied:            httpapi.NewError(http.StatusUnprocessableEntity, "minor_unaccompanied", "a minor checks in with their guardian (or, with none on record, an adult) in the same stay"),
	ErrTooManyGuests:                 httpapi.NewError(http.StatusUnprocessableEntity, "too_many_guests", "a stay holds at most the policy's number of guests"),
	ErrStayBusy:                      httpapi.NewError(http.StatusConflict, "stay_busy", "the stay changed meanwhile; retry with the same Idempotency-Key"),
	errCorruptCursor:                 httpapi.NewError(http.StatusBadRequest, "invalid_query", "the cursor is not one this API gave out"),
	qrverify.ErrTrustListUnavailable: httpapi.NewError(http.StatusServiceUnavailable, "trust_list_unavailable", "the trust list is not available; try again shortly"),
}

// Scanner verifies codes in-process: *scan.Scanner.
type Scanner interface {
	Scan(ctx context.Context, code, purpose string, by qrverify.Scanner) (scan.Scan, error)
}

// Holders is what check-in needs of the holders store: a minor's guardian.
type Holders interface {
	Get(ctx context.Context, id string) (holders.Holder, error)
}

// Scope is the scope of every lodging route; purpose the scan's purpose.
const (
	Scope   = "scan:hotel"
	purpose = "hotel"
)

// API serves the lodging routes.
type API struct {
	store   *Store
	scanner Scanner
	holders Holders
	idem    *idempotency.Store
	policy  Policy
	now     func() time.Time
}

// NewAPI returns the routes over store, scanning with scanner.
func NewAPI(store *Store, scanner Scanner, h Holders, idem *idempotency.Store, p Policy) *API {
	return &API{store: store, scanner: scanner, holders: h, idem: idem, policy: p, now: func() time.Time { return time.Now().UTC() }}
}

// Routes registers the routes of infra/lodging.md on mux.
func (a *API) Routes(mux *http.ServeMux) {
	hotel := func(h http.Handler) http.Handler { return httpapi.RequireScope(Scope, requireOrg(h)) }
	mux.Handle("POST /v1/hotel/stays", hotel(a.idem.Require(a.checkIn())))
	mux.Handle("GET /v1/hotel/stays", hotel(a.list()))
	mux.Handle("GET /v1/hotel/stays/{stay_id}", hotel(a.get()))
	mux.Handle("POST /v1/hotel/stays/{stay_id}/guests", hotel(a.idem.Require(a.addGuests())))
	mux.Handle("POST /v1/hotel/stays/{stay_id}/check-out", hotel(a.idem.Require(a.checkOut())))
	mux.Handle("GET /v1/hotel/reports/overdue", hotel(a.overdue()))
}

// requireOrg refuses a token without the hotel's organisation.
func requireOrg(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p, _ := httpapi.PrincipalFrom(r); p.Org == "" {
			httpapi.WriteProblem(w, r, httpapi.NewError(http.StatusForbidden, "org_required", "the token names no organisation (org claim)"))
			return
		}
		h.ServeHTTP(w, r)
	})
}

func org(r *http.Request) string { p, _ := httpapi.PrincipalFrom(r); return p.Org }

// guestRequest is one guest at the desk: their code and, for another
// city's holder, the registration typed from their document.
type guestRequest struct {
	Code         string              `json:"code"`
	Registration *holders.Enrollment `json:"registration"`
}

type checkInRequest struct {
	Room         string         `json:"room"`
	CheckOutDate string         `json:"check_out_date"`
	CheckedInAt  string         `json:"checked_in_at"`
	Guests       []guestRequest `json:"guests"`
}

type addGuestsRequest struct {
	Guests []guestRequest `json:"guests"`
}

func validRoom(s string) bool {
	if len(s) < 1 || len(s) > 16 {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9') && !(c >= 'A' && c <= 'Z') && !(c >= 'a' && c <= 'z') && c != '-' {
			return false
		}
	}
	return true
}

// validate checks the stay's fields and answers its check-in time.
func (a *API) validate(req checkInRequest) (time.Time, []httpapi.FieldError) {
	var errs []httpapi.FieldError
	now := a.now()
	at := now
	if req.CheckedInAt != "" {
		t, err := time.Parse(time.RFC3339, req.CheckedInAt)
		switch {
		case err != nil:
			errs = append(errs, httpapi.FieldError{Field: "checked_in_at", Code: "invalid", Detail: "must be an RFC 3339 time"})
		case t.After(now.Add(time.Minute)) || t.Before(now.Add(-a.policy.LateWindow)):
			errs = append(errs, httpapi.FieldError{Field: "checked_in_at", Code: "out_of_range",
				Detail: fmt.Sprintf("must be now or at most %s ago", a.policy.LateWindow)})
		default:
			at = t.UTC()
		}
	}
	if !validRoom(req.Room) {
		errs = append(errs, httpapi.FieldError{Field: "room", Code: "invalid", Detail: "must be 1 to 16 letters, digits or hyphens"})
	}
	day := localDay(at, a.policy.Location)
	out, err := time.Parse(time.DateOnly, req.CheckOutDate)
	switch {
	case err != nil:
		errs = append(errs, httpapi.FieldError{Field: "check_out_date", Code: "invalid", Detail: "must be a date, YYYY-MM-DD"})
	case out.Before(day) || out.After(day.AddDate(0, 0, a.policy.MaxNights)):
		errs = append(errs, httpapi.FieldError{Field: "check_out_date", Code: "out_of_range",
			Detail: fmt.Sprintf("must be from the check-in day to %d days after it", a.policy.MaxNights)})
	}
	return at, append(errs, a.validateGuests(req.Guests)...)
}

func (a *API) validateGuests(guests []guestRequest) []httpapi.FieldError {
	if len(guests) == 0 {
		return []httpapi.FieldError{{Field: "guests", Code: "required", Detail: "at least one guest"}}
	}
	var errs []httpapi.FieldError
	for i, g := range guests {
		if g.Code == "" || len(g.Code) > 1024 {
			errs = append(errs, httpapi.FieldError{Field: fmt.Sprintf("guests[%d].code", i), Code: "required", Detail: "must be the scanned code text"})
		}
	}
	return errs
}

// localDay is t's date in loc, as midnight UTC of that date.
func localDay(t time.Time, loc *time.Location) time.Time {
	y, m, d := t.In(loc).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// arrivals scans every guest's code and builds their registrations, as of
// the check-in time at: the verified claims for this city's holders, the
// typed registration for another city's. Refused codes are 422
// code_not_accepted, naming each guest.
func (a *API) arrivals(r *http.Request, guests []guestRequest, at time.Time) ([]Arrival, error) {
	if len(guests) > a.policy.MaxGuests {
		return nil, ErrTooManyGuests
	}
	p, _ := httpapi.PrincipalFrom(r)
	by := qrverify.Scanner{Subject: p.Subject, Org: p.Org}
	day := localDay(at, a.policy.Location)
	out := make([]Arrival, len(guests))
	rejected := map[int]string{}
	var errs []httpapi.FieldError
	seen := map[string]bool{}
	for i, g := range guests {
		sc, err := a.scanner.Scan(r.Context(), g.Code, purpose, by)
		if err != nil {
			return nil, err
		}
		if !sc.Valid {
			rejected[i] = sc.Reason
			continue
		}
		field := fmt.Sprintf("guests[%d]", i)
		person := sc.Issuer + "#" + hex.EncodeToString(sc.CodeID[:])
		if sc.Home() {
			person = sc.HolderID
		}
		if seen[person] {
			errs = append(errs, httpapi.FieldError{Field: field + ".code", Code: "duplicate", Detail: "this guest is already in the request"})
			continue
		}
		seen[person] = true
		reg, fieldErrs := registrationOf(sc, g.Registration, field, a.now())
		errs = append(errs, fieldErrs...)
		reg.Minor = minorOn(reg.DateOfBirth, day)
		out[i] = Arrival{Scan: sc, Registration: reg}
		if reg.Minor && sc.Home() {
			h, err := a.holders.Get(r.Context(), sc.HolderID)
			if err != nil {
				return nil, fmt.Errorf("lodging: read minor's holder: %w", err)
			}
			out[i].GuardianHolderID = h.GuardianID
		}
	}
	if len(rejected) > 0 {
		return nil, &CodesRejected{Guests: rejected}
	}
	if len(errs) > 0 {
		return nil, httpapi.Invalid(errs...)
	}
	return out, nil
}

// registrationOf is the identity a guest registers with: the verified
// claims of this city's holder, or what the desk typed for another city's.
func registrationOf(sc scan.Scan, typed *holders.Enrollment, field string, today time.Time) (Registration, []httpapi.FieldError) {
	if sc.Home() {
		if typed != nil {
			return Registration{}, []httpapi.FieldError{{Field: field + ".registration", Code: "not_allowed",
				Detail: "this city's holders register with their verified data; send only the code"}}
		}
		claim := func(c string) string { s, _ := sc.Claims[c].(string); return s }
		return Registration{Issuer: sc.Issuer, HolderID: sc.HolderID, Name: claim(qrverify.ClaimName), DocumentType: claim(qrverify.ClaimDocumentType),
			DocumentNumber: claim(qrverify.ClaimDocumentNumber), Nationality: claim(qrverify.ClaimNationality), DateOfBirth: claim(qrverify.ClaimDateOfBirth)}, nil
	}
	if typed == nil {
		return Registration{}, []httpapi.FieldError{{Field: field + ".registration", Code: "required",
			Detail: "a code of another city carries no identity here: type the guest's document"}}
	}
	e := *typed
	var errs []httpapi.FieldError
	for _, fe := range e.Validate(today) {
		fe.Field = field + ".registration." + fe.Field
		errs = append(errs, fe)
	}
	return Registration{Issuer: sc.Issuer, Name: e.Name, DocumentType: e.DocumentType, DocumentNumber: e.DocumentNumber,
		Nationality: e.Nationality, DateOfBirth: e.DateOfBirth}, errs
}

// writeError answers err, turning refused codes into 422 code_not_accepted.
func writeError(w http.ResponseWriter, r *http.Request, err error) {
	var rej *CodesRejected
	if errors.As(err, &rej) {
		e := &httpapi.Error{Status: http.StatusUnprocessableEntity, Code: "code_not_accepted",
			Detail: "some guests' codes were not accepted; each must show a fresh code of their own"}
		for _, i := range slices.Sorted(maps.Keys(rej.Guests)) {
			reason := rej.Guests[i]
			e.Fields = append(e.Fields, httpapi.FieldError{Field: fmt.Sprintf("guests[%d].code", i), Code: reason, Detail: "the code is " + strings.ReplaceAll(reason, "_", " ")})
		}
		httpapi.WriteProblem(w, r, e)
		return
	}
	httpapi.WriteError(w, r, errorAnswers, err)
}

func (a *API) checkIn() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req checkInRequest
		if err := httpapi.DecodeJSON(r, &req); err != nil {
			writeError(w, r, err)
			return
		}
		at, errs := a.validate(req)
		if len(errs) > 0 {
			httpapi.WriteProblem(w, r, httpapi.Invalid(errs...))
			return
		}
		arrivals, err := a.arrivals(r, req.Guests, at)
		if err != nil {
			writeError(w, r, err)
			return
		}
		st, err := a.store.CheckIn(r.Context(), Stay{Hotel: org(r), Room: req.Room, CheckOutDate: req.CheckOutDate, CheckedInAt: at}, arrivals)
		if err != nil {
			writeError(w, r, err)
			return
		}
		w.Header().Set("Location", "/v1/hotel/stays/"+st.ID)
		a.writeStay(w, r, http.StatusCreated, st)
	}
}

func (a *API) addGuests() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req addGuestsRequest
		if err := httpapi.DecodeJSON(r, &req); err != nil {
			writeError(w, r, err)
			return
		}
		if errs := a.validateGuests(req.Guests); len(errs) > 0 {
			httpapi.WriteProblem(w, r, httpapi.Invalid(errs...))
			return
		}
		// The stay is checked before any code is scanned, so that codes
		// shown at the wrong stay are not spent on a refusal.
		if _, err := a.store.Get(r.Context(), org(r), r.PathValue("stay_id")); err != nil {
			writeError(w, r, err)
			return
		}
		arrivals, err := a.arrivals(r, req.Guests, a.now())
		if err != nil {
			writeError(w, r, err)
			return
		}
		st, err := a.store.AddGuests(r.Context(), org(r), r.PathValue("stay_id"), arrivals)
		if err != nil {
			writeError(w, r, err)
			return
		}
		a.writeStay(w, r, http.StatusCreated, st)
	}
}

func (a *API) checkOut() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		// No body, or an empty object: anything in it is refused.
		body, err := httpapi.ReadBody(r)
		if err == nil && len(strings.TrimSpace(string(body))) > 0 {
			err = httpapi.DecodeJSON(r, &struct{}{})
		}
		if err != nil {
			writeError(w, r, err)
			return
		}
		st, err := a.store.CheckOut(r.Context(), org(r), r.PathValue("stay_id"))
		if err != nil {
			writeError(w, r, err)
			return
		}
		a.writeStay(w, r, http.StatusOK, st)
	}
}

func (a *API) get() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		st, err := a.store.Get(r.Context(), org(r), r.PathValue("stay_id"))
		if err != nil {
			writeError(w, r, err)
			return
		}
		a.writeStay(w, r, http.StatusOK, st)
	}
}

func (a *API) list() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		pg, err := httpapi.ParsePage(r)
		if err != nil {
			writeError(w, r, err)
			return
		}
		p, err := a.store.List(r.Context(), org(r), pg.Limit, pg.Cursor)
		if err != nil {
			writeError(w, r, err)
			return
		}
		httpapi.WriteList(w, p.Items, p.NextCursor, summaryJSON)
	}
}

func (a *API) overdue() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		pg, err := httpapi.ParsePage(r)
		if err != nil {
			writeError(w, r, err)
			return
		}
		p, err := a.store.Overdue(r.Context(), org(r), pg.Limit, pg.Cursor)
		if err != nil {
			writeError(w, r, err)
			return
		}
		now := a.now()
		httpapi.WriteList(w, p.Items, p.NextCursor, func(rep Report) overdueJSON {
			return overdueJSON{StayID: rep.StayID, Room: rep.Room, RegistrationID: rep.RegistrationID, Kind: rep.Kind, EventType: reportType(rep.Kind),
				DueAt: rep.Due, OverdueSeconds: int64(now.Sub(rep.Due) / time.Second), Name: rep.Name, Nationality: rep.Nationality}
		})
	}
}

// Answers.

type summary struct {
	StayID       string     `json:"stay_id"`
	Room         string     `json:"room"`
	Status       string     `json:"status"`
	CheckedInAt  time.Time  `json:"checked_in_at"`
	CheckOutDate string     `json:"check_out_date"`
	CheckedOutAt *time.Time `json:"checked_out_at,omitempty"`
	GuestCount   int        `json:"guest_count"`
}

func summaryJSON(st Stay) summary {
	return summary{StayID: st.ID, Room: st.Room, Status: st.Status, CheckedInAt: st.CheckedInAt, CheckOutDate: st.CheckOutDate,
		CheckedOutAt: st.CheckedOutAt, GuestCount: st.Guests}
}

type stayJSON struct {
	summary
	Guests []guestJSON `json:"guests"`
}

type guestJSON struct {
	RegistrationID         string       `json:"registration_id"`
	Name                   string       `json:"name"`
	DocumentType           string       `json:"document_type"`
	DocumentNumberMasked   string       `json:"document_number_masked"`
	Nationality            string       `json:"nationality"`
	DateOfBirth            string       `json:"date_of_birth"`
	Issuer                 string       `json:"issuer"`
	Home                   bool         `json:"home"`
	HolderID               string       `json:"holder_id,omitempty"`
	Minor                  bool         `json:"minor"`
	GuardianRegistrationID string       `json:"guardian_registration_id,omitempty"`
	CheckedInAt            time.Time    `json:"checked_in_at"`
	DepartedAt             *time.Time   `json:"departed_at,omitempty"`
	Reports                []reportJSON `json:"reports"`
}

type reportJSON struct {
	Kind        string     `json:"kind"`
	EventType   string     `json:"event_type"`
	Status      string     `json:"status"`
	DueAt       time.Time  `json:"due_at"`
	DeliveredAt *time.Time `json:"delivered_at,omitempty"`
	OnTime      *bool      `json:"on_time,omitempty"`
}

type overdueJSON struct {
	StayID         string    `json:"stay_id"`
	Room           string    `json:"room"`
	RegistrationID string    `json:"registration_id"`
	Kind           string    `json:"kind"`
	EventType      string    `json:"event_type"`
	DueAt          time.Time `json:"due_at"`
	OverdueSeconds int64     `json:"overdue_seconds"`
	Name           string    `json:"name"`
	Nationality    string    `json:"nationality"`
}

// writeStay answers st with its guests and the state of their reports.
func (a *API) writeStay(w http.ResponseWriter, r *http.Request, status int, st Stay) {
	states, err := a.store.ReportStates(r.Context(), st.Registrations)
	if err != nil {
		writeError(w, r, err)
		return
	}
	out := stayJSON{summary: summaryJSON(st), Guests: make([]guestJSON, 0, len(st.Registrations))}
	for _, g := range st.Registrations {
		masked := holders.Holder{DocumentType: g.DocumentType, DocumentNumber: g.DocumentNumber}.MaskedDocumentNumber()
		gj := guestJSON{RegistrationID: g.ID, Name: g.Name, DocumentType: g.DocumentType, DocumentNumberMasked: masked,
			Nationality: g.Nationality, DateOfBirth: g.DateOfBirth, Issuer: g.Issuer, Home: g.Home(), HolderID: g.HolderID,
			Minor: g.Minor, GuardianRegistrationID: g.GuardianRegistrationID, CheckedInAt: g.RegisteredAt, DepartedAt: g.DepartedAt,
			Reports: []reportJSON{}}
		for _, s := range states[g.ID] {
			rj := reportJSON{Kind: s.Kind, EventType: reportType(s.Kind), Status: s.Status, DueAt: s.Due, DeliveredAt: s.DeliveredAt, OnTime: s.OnTime}
			gj.Reports = append(gj.Reports, rj)
		}
		out.Guests = append(out.Guests, gj)
	}
	httpapi.WriteJSON(w, status, out)
}
