package medical

import (
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/citycode/citycode/shared/holders"
	"github.com/citycode/citycode/shared/httpapi"
	"github.com/citycode/citycode/shared/idempotency"
	"github.com/citycode/citycode/shared/medpolicy"
)

// The social security bureau's routes (scope insurance:admin): it enrols a
// holder in a scheme, changes the scheme, and credits the personal account.

// AdminScope is the scope of the social security bureau's routes.
const AdminScope = "insurance:admin"

// MaxCreditFen bounds one credit to a personal account (1,000,000 yuan).
const MaxCreditFen = 100_000_000

// adminAnswers are the answers of the bureau's routes.
var adminAnswers = httpapi.ErrorMap{
	ErrNotInsured:     httpapi.NewError(http.StatusNotFound, "not_insured", "the holder has no insurance profile: enrol them first (PUT)"),
	ErrHolderNotFound: httpapi.NewError(http.StatusNotFound, "holder_not_found", "no such holder"),
	ErrCreditReused: httpapi.NewError(http.StatusUnprocessableEntity, "idempotency_key_reused",
		"this Idempotency-Key was used for another credit; use a new key for a new credit"),
	ErrBalanceLimit: httpapi.NewError(http.StatusUnprocessableEntity, "balance_limit", "the personal account would exceed its limit"),
	ErrBusy:         httpapi.NewError(http.StatusConflict, "profile_busy", "the profile is busy; retry (with the same Idempotency-Key for a credit)"),
}

// adminRoutes registers the bureau's routes on mux.
func (a *API) adminRoutes(mux *http.ServeMux) {
	const profile = "/v1/medical/insurance-profiles/{holder_id}"
	mux.Handle("GET "+profile, a.asBureau(http.HandlerFunc(a.getProfile)))
	mux.Handle("PUT "+profile, a.asBureau(a.idem.Honour(http.HandlerFunc(a.enrol))))
	mux.Handle("POST "+profile+"/credits", a.asBureau(a.idem.Require(http.HandlerFunc(a.credit))))
}

// asBureau lets through machine clients (a token with an org) holding the
// insurance:admin scope.
func (a *API) asBureau(h http.Handler) http.Handler {
	return httpapi.RequireScope(AdminScope, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p, _ := httpapi.PrincipalFrom(r); p.Org == "" {
			httpapi.WriteProblem(w, r, httpapi.NewError(http.StatusForbidden, "forbidden", "a social security bureau's client (a token with org) is required"))
			return
		}
		h.ServeHTTP(w, r)
	}))
}

// holderIDOf is the path's holder id; ErrHolderNotFound if it cannot be
// one.
func holderIDOf(r *http.Request) (string, error) {
	id := r.PathValue("holder_id")
	if _, err := holders.Ref(id); err != nil {
		return "", ErrHolderNotFound
	}
	return id, nil
}

// adminProfileJSON is a profile as the bureau sees it: the resident's view
// and its version.
type adminProfileJSON struct {
	insuranceJSON
	Version int64 `json:"version"`
}

func (a *API) adminJSON(p Profile) adminProfileJSON {
	return adminProfileJSON{insuranceJSON: a.insuranceOf(p), Version: p.Version}
}

func (a *API) getProfile(w http.ResponseWriter, r *http.Request) {
	id, err := holderIDOf(r)
	var p Profile
	if err == nil {
		p, err = a.store.Profile(r.Context(), id)
	}
	if err != nil {
		httpapi.WriteError(w, r, adminAnswers, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, a.adminJSON(p))
}

type identityRequest struct {
	Scheme      string `json:"scheme"`
	Retired     bool   `json:"retired"`
	InsuredCity string `json:"insured_city"`
}

var cityPattern = regexp.MustCompile(`^[a-z]{2,8}$`)

func (a *API) enrol(w http.ResponseWriter, r *http.Request) {
	var req identityRequest
	if err := httpapi.DecodeJSON(r, &req); err != nil {
		httpapi.WriteError(w, r, adminAnswers, err)
		return
	}
	var errs []httpapi.FieldError
	if req.Scheme != string(medpolicy.Employee) && req.Scheme != string(medpolicy.Resident) {
		errs = append(errs, httpapi.FieldError{Field: "scheme", Code: "invalid", Detail: "employee or resident"})
	}
	if !cityPattern.MatchString(req.InsuredCity) {
		errs = append(errs, httpapi.FieldError{Field: "insured_city", Code: "invalid", Detail: "the insured city's code, e.g. sh"})
	}
	if len(errs) > 0 {
		httpapi.WriteProblem(w, r, httpapi.Invalid(errs...))
		return
	}
	id, err := holderIDOf(r)
	if err != nil {
		httpapi.WriteError(w, r, adminAnswers, err)
		return
	}
	p, created, err := a.store.Enrol(r.Context(), id, Identity{Scheme: req.Scheme, Retired: req.Retired, City: req.InsuredCity})
	if err != nil {
		httpapi.WriteError(w, r, adminAnswers, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	httpapi.WriteJSON(w, status, a.adminJSON(p))
}

type creditRequest struct {
	AmountFen int64  `json:"amount_fen"`
	Reference string `json:"reference"`
}

type creditJSON struct {
	CreditID           string    `json:"credit_id"`
	HolderID           string    `json:"holder_id"`
	AmountFen          int64     `json:"amount_fen"`
	Reference          string    `json:"reference,omitempty"`
	PersonalAccountFen int64     `json:"personal_account_fen"`
	Currency           string    `json:"currency"`
	CreditedBy         string    `json:"credited_by"`
	CreditedAt         time.Time `json:"credited_at"`
}

var referencePattern = regexp.MustCompile(`^[A-Za-z0-9._/-]{1,64}$`)

// credit adds to the personal account, once per Idempotency-Key: the
// credit's id is the key's (caller-scoped) identifier, and the store writes
// the credit conditional on it being new.
func (a *API) credit(w http.ResponseWriter, r *http.Request) {
	var req creditRequest
	if err := httpapi.DecodeJSON(r, &req); err != nil {
		httpapi.WriteError(w, r, adminAnswers, err)
		return
	}
	var errs []httpapi.FieldError
	if req.AmountFen < 1 || req.AmountFen > MaxCreditFen {
		errs = append(errs, httpapi.FieldError{Field: "amount_fen", Code: "out_of_range", Detail: "1 to 100000000 fen"})
	}
	if req.Reference != "" && !referencePattern.MatchString(req.Reference) {
		errs = append(errs, httpapi.FieldError{Field: "reference", Code: "invalid", Detail: "1 to 64 letters, digits, '.', '_', '-' or '/'"})
	}
	if len(errs) > 0 {
		httpapi.WriteProblem(w, r, httpapi.Invalid(errs...))
		return
	}
	id, err := holderIDOf(r)
	if err != nil {
		httpapi.WriteError(w, r, adminAnswers, err)
		return
	}
	p, _ := httpapi.PrincipalFrom(r)
	c, created, err := a.store.CreditAccount(r.Context(), Credit{ID: creditID(idempotency.KeyFrom(r.Context())), HolderID: id,
		AmountFen: req.AmountFen, Reference: req.Reference, By: p.Org})
	if err != nil {
		httpapi.WriteError(w, r, adminAnswers, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	httpapi.WriteJSON(w, status, creditJSON{CreditID: c.ID, HolderID: c.HolderID, AmountFen: c.AmountFen, Reference: c.Reference,
		PersonalAccountFen: c.BalanceAfterFen, Currency: "CNY", CreditedBy: c.By, CreditedAt: c.At})
}

// creditID is the credit's id from the request's caller-scoped key
// identifier ("idem_" and 64 hex digits): "crd_" and the first 32.
func creditID(key string) string {
	hex := strings.TrimPrefix(key, "idem_")
	return "crd_" + hex[:min(32, len(hex))]
}
