package holders

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/citycode/citycode/shared/httpapi"
	"github.com/citycode/citycode/shared/idempotency"
)

// errorAnswers maps the capability's sentinels to their answers, in one place.
var errorAnswers = httpapi.ErrorMap{
	ErrNotEnrolled:       httpapi.NewError(http.StatusNotFound, "not_enrolled", "enroll first: POST /v1/holders"),
	ErrAlreadyEnrolled:   httpapi.NewError(http.StatusConflict, "already_enrolled", "this login already has a holder"),
	ErrDocumentTaken:     httpapi.NewError(http.StatusConflict, "document_already_enrolled", "this document already belongs to a holder"),
	ErrDependantNotFound: httpapi.NewError(http.StatusNotFound, "dependant_not_found", "no such dependant of yours"),
	ErrNotActive:         httpapi.NewError(http.StatusConflict, "holder_not_active", "the holder is suspended"),
	ErrTooManyDependants: httpapi.NewError(http.StatusUnprocessableEntity, "too_many_dependants", "a guardian manages at most 10 dependants"),
	ErrConcurrentUpdate:  httpapi.NewError(http.StatusConflict, "account_busy", "the account is busy; retry with the same Idempotency-Key"),
	errCorruptCursor:     httpapi.NewError(http.StatusBadRequest, "invalid_query", "the cursor is not one this API gave out"),
}

// MaxTopUpFen is the largest single top-up (5,000 yuan).
const MaxTopUpFen = 500_000

// API serves the holders routes.
type API struct {
	store *Store
	idem  *idempotency.Store
	today func() time.Time
}

// NewAPI returns the API over store, with idem guarding the POSTs.
func NewAPI(store *Store, idem *idempotency.Store) *API {
	return &API{store: store, idem: idem, today: func() time.Time { return time.Now().UTC() }}
}

// Routes registers every route of infra/holders.md on mux.
func (a *API) Routes(mux *http.ServeMux) {
	resident := func(h http.Handler) http.Handler { return httpapi.RequireScope("resident", h) }
	mux.Handle("POST /v1/holders", resident(a.idem.Honour(a.enroll())))
	mux.Handle("GET /v1/holders/me", resident(a.profile()))
	mux.Handle("POST /v1/holders/me/dependants", resident(a.idem.Honour(a.addDependant())))
	mux.Handle("GET /v1/holders/me/dependants", resident(a.listDependants()))
	mux.Handle("GET /v1/holders/me/dependants/{holder_id}", resident(a.getDependant()))
	mux.Handle("PATCH /v1/holders/me/dependants/{holder_id}", resident(a.updateDependant()))
	mux.Handle("GET /v1/holders/me/account", resident(a.account()))
	mux.Handle("POST /v1/holders/me/account/top-ups", resident(a.idem.Require(a.topUp())))
	mux.Handle("GET /v1/holders/me/account/entries", resident(a.entries()))
	mux.Handle("GET /v1/holders/me/access-log", resident(a.accessLog()))
}

// holderJSON is a holder as answered: never the full document number.
type holderJSON struct {
	HolderID             string    `json:"holder_id"`
	Name                 string    `json:"name"`
	DocumentType         string    `json:"document_type"`
	DocumentNumberMasked string    `json:"document_number_masked"`
	DateOfBirth          string    `json:"date_of_birth"`
	Nationality          string    `json:"nationality"`
	Status               string    `json:"status"`
	GuardianID           string    `json:"guardian_id,omitempty"`
	Relationship         string    `json:"relationship,omitempty"`
	CreatedAt            time.Time `json:"created_at"`
}

func toJSON(h Holder) holderJSON {
	return holderJSON{HolderID: h.ID, Name: h.Name, DocumentType: h.DocumentType, DocumentNumberMasked: h.MaskedDocumentNumber(),
		DateOfBirth: h.DateOfBirth, Nationality: h.Nationality, Status: h.Status, GuardianID: h.GuardianID,
		Relationship: h.Relationship, CreatedAt: h.CreatedAt}
}

func (a *API) enroll() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var e Enrollment
		if err := httpapi.DecodeJSON(r, &e); err != nil {
			httpapi.WriteError(w, r, errorAnswers, err)
			return
		}
		if errs := e.Validate(a.today()); len(errs) > 0 {
			httpapi.WriteProblem(w, r, httpapi.Invalid(errs...))
			return
		}
		p, _ := httpapi.PrincipalFrom(r)
		h, err := a.store.Enroll(r.Context(), p.Subject, e)
		if err != nil {
			httpapi.WriteError(w, r, errorAnswers, err)
			return
		}
		w.Header().Set("Location", "/v1/holders/me")
		httpapi.WriteJSON(w, http.StatusCreated, toJSON(h))
	}
}

// me resolves the caller's holder id.
func (a *API) me(r *http.Request) (string, error) {
	p, _ := httpapi.PrincipalFrom(r)
	return a.store.HolderIDForLogin(r.Context(), p.Subject)
}

// target is the caller, or with holderID one of the caller's dependants.
func (a *API) target(ctx context.Context, me, holderID string) (string, error) {
	if holderID == "" || holderID == me {
		return me, nil
	}
	if _, err := a.store.Dependant(ctx, me, holderID); err != nil {
		return "", err
	}
	return holderID, nil
}

func (a *API) profile() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		me, err := a.me(r)
		if err != nil {
			httpapi.WriteError(w, r, errorAnswers, err)
			return
		}
		h, err := a.store.Get(r.Context(), me)
		if err != nil {
			httpapi.WriteError(w, r, errorAnswers, err)
			return
		}
		httpapi.WriteJSON(w, http.StatusOK, toJSON(h))
	}
}

func (a *API) addDependant() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var d DependantEnrollment
		if err := httpapi.DecodeJSON(r, &d); err != nil {
			httpapi.WriteError(w, r, errorAnswers, err)
			return
		}
		if errs := d.Validate(a.today()); len(errs) > 0 {
			httpapi.WriteProblem(w, r, httpapi.Invalid(errs...))
			return
		}
		me, err := a.me(r)
		if err != nil {
			httpapi.WriteError(w, r, errorAnswers, err)
			return
		}
		h, err := a.store.AddDependant(r.Context(), me, d)
		if err != nil {
			httpapi.WriteError(w, r, errorAnswers, err)
			return
		}
		w.Header().Set("Location", "/v1/holders/me/dependants/"+h.ID)
		httpapi.WriteJSON(w, http.StatusCreated, toJSON(h))
	}
}

func (a *API) listDependants() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		me, err := a.me(r)
		if err != nil {
			httpapi.WriteError(w, r, errorAnswers, err)
			return
		}
		deps, err := a.store.Dependants(r.Context(), me)
		if err != nil {
			httpapi.WriteError(w, r, errorAnswers, err)
			return
		}
		httpapi.WriteList(w, deps, "", toJSON)
	}
}

func (a *API) getDependant() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		me, err := a.me(r)
		if err != nil {
			httpapi.WriteError(w, r, errorAnswers, err)
			return
		}
		d, err := a.store.Dependant(r.Context(), me, r.PathValue("holder_id"))
		if err != nil {
			httpapi.WriteError(w, r, errorAnswers, err)
			return
		}
		httpapi.WriteJSON(w, http.StatusOK, toJSON(d))
	}
}

func (a *API) updateDependant() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var u DependantUpdate
		if err := httpapi.DecodeJSON(r, &u); err != nil {
			httpapi.WriteError(w, r, errorAnswers, err)
			return
		}
		if errs := u.validate(); len(errs) > 0 {
			httpapi.WriteProblem(w, r, httpapi.Invalid(errs...))
			return
		}
		me, err := a.me(r)
		if err != nil {
			httpapi.WriteError(w, r, errorAnswers, err)
			return
		}
		d, err := a.store.UpdateDependant(r.Context(), me, r.PathValue("holder_id"), u)
		if err != nil {
			httpapi.WriteError(w, r, errorAnswers, err)
			return
		}
		httpapi.WriteJSON(w, http.StatusOK, toJSON(d))
	}
}

func (u *DependantUpdate) validate() []httpapi.FieldError {
	var errs []httpapi.FieldError
	if u.Name == nil && u.Relationship == nil {
		errs = append(errs, httpapi.FieldError{Field: "name", Code: "required", Detail: "send name, relationship or both"})
	}
	if u.Name != nil {
		e := Enrollment{Name: *u.Name}
		for _, fe := range e.Validate(time.Now()) {
			if fe.Field == "name" {
				errs = append(errs, fe)
			}
		}
		*u.Name = e.Name
	}
	if u.Relationship != nil && !relationships[*u.Relationship] {
		errs = append(errs, httpapi.FieldError{Field: "relationship", Code: "invalid", Detail: "must be child, parent or other"})
	}
	return errs
}

type accountJSON struct {
	HolderID         string    `json:"holder_id"`
	BalanceFen       int64     `json:"balance_fen"`
	PostpaidLimitFen int64     `json:"postpaid_limit_fen"`
	DebtFen          int64     `json:"debt_fen"`
	Currency         string    `json:"currency"`
	UpdatedAt        time.Time `json:"updated_at"`
}

func (a *API) account() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, err := a.queryTarget(r)
		if err != nil {
			httpapi.WriteError(w, r, errorAnswers, err)
			return
		}
		acct, err := a.store.Account(r.Context(), id)
		if err != nil {
			httpapi.WriteError(w, r, errorAnswers, err)
			return
		}
		httpapi.WriteJSON(w, http.StatusOK, accountJSON{HolderID: acct.HolderID, BalanceFen: acct.BalanceFen,
			PostpaidLimitFen: acct.PostpaidLimitFen, DebtFen: acct.DebtFen, Currency: "CNY", UpdatedAt: acct.UpdatedAt})
	}
}

// queryTarget resolves ?holder_id= to the caller or a dependant.
func (a *API) queryTarget(r *http.Request) (string, error) {
	me, err := a.me(r)
	if err != nil {
		return "", err
	}
	return a.target(r.Context(), me, r.URL.Query().Get("holder_id"))
}

type topUpRequest struct {
	AmountFen *int64 `json:"amount_fen"`
	HolderID  string `json:"holder_id"`
}

type entryJSON struct {
	EntryID         string `json:"entry_id"`
	HolderID        string `json:"holder_id,omitempty"`
	Kind            string `json:"kind"`
	AmountFen       int64  `json:"amount_fen"`
	BalanceAfterFen int64  `json:"balance_after_fen"`
	// UnpaidFen is the part of a charge the account could not pay (a
	// ride already taken): recorded as debt.
	UnpaidFen int64     `json:"unpaid_fen,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

func (a *API) topUp() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req topUpRequest
		if err := httpapi.DecodeJSON(r, &req); err != nil {
			httpapi.WriteError(w, r, errorAnswers, err)
			return
		}
		if req.AmountFen == nil || *req.AmountFen < 1 || *req.AmountFen > MaxTopUpFen {
			httpapi.WriteProblem(w, r, httpapi.Invalid(httpapi.FieldError{Field: "amount_fen", Code: "out_of_range",
				Detail: "must be an integer number of fen from 1 to " + strconv.Itoa(MaxTopUpFen)}))
			return
		}
		me, err := a.me(r)
		if err != nil {
			httpapi.WriteError(w, r, errorAnswers, err)
			return
		}
		id, err := a.target(r.Context(), me, req.HolderID)
		if err != nil {
			httpapi.WriteError(w, r, errorAnswers, err)
			return
		}
		entryID := "top_" + strings.TrimPrefix(idempotency.KeyFrom(r.Context()), "idem_")[:32]
		e, err := a.store.TopUp(r.Context(), id, entryID, *req.AmountFen)
		if err != nil {
			httpapi.WriteError(w, r, errorAnswers, err)
			return
		}
		httpapi.WriteJSON(w, http.StatusCreated, entryJSON{EntryID: e.EntryID, HolderID: id, Kind: e.Kind, AmountFen: e.AmountFen,
			BalanceAfterFen: e.BalanceAfterFen, CreatedAt: e.CreatedAt})
	}
}

// listOf serves a paginated, newest-first list of the caller's (or their
// dependant's, with ?holder_id=) items, converted by toJSON.
func listOf[T, J any](a *API, fetch func(ctx context.Context, id string, limit int, cursor string) (Page[T], error), toJSON func(T) J) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		pg, err := httpapi.ParsePage(r)
		if err != nil {
			httpapi.WriteError(w, r, errorAnswers, err)
			return
		}
		id, err := a.queryTarget(r)
		if err != nil {
			httpapi.WriteError(w, r, errorAnswers, err)
			return
		}
		p, err := fetch(r.Context(), id, pg.Limit, pg.Cursor)
		if err != nil {
			httpapi.WriteError(w, r, errorAnswers, err)
			return
		}
		httpapi.WriteList(w, p.Items, p.NextCursor, toJSON)
	}
}

func (a *API) entries() http.HandlerFunc {
	return listOf(a, a.store.Entries, func(e Entry) entryJSON {
		return entryJSON{EntryID: e.EntryID, Kind: e.Kind, AmountFen: e.AmountFen, BalanceAfterFen: e.BalanceAfterFen, UnpaidFen: e.UnpaidFen, CreatedAt: e.CreatedAt}
	})
}

type accessJSON struct {
	EntryID      string    `json:"entry_id"`
	At           time.Time `json:"at"`
	Organisation string    `json:"organisation"`
	Actor        string    `json:"actor"`
	Purpose      string    `json:"purpose"`
	What         []string  `json:"what"`
	Outcome      string    `json:"outcome"`
	Reason       string    `json:"reason,omitempty"`
}

func (a *API) accessLog() http.HandlerFunc {
	return listOf(a, a.store.AccessLog, func(e AccessEntry) accessJSON {
		if e.What == nil {
			e.What = []string{}
		}
		return accessJSON(e)
	})
}
