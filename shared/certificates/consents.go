package certificates

import (
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/citycode/citycode/shared/holders"
	"github.com/citycode/citycode/shared/httpapi"
	"github.com/citycode/citycode/shared/idempotency"
)

// App consents (infra/certificates.md, "Consent"): a resident grants an
// organisation a consent in the app, lists their consents (window ones
// too) and withdraws any of them.

// Access-log outcomes of consents.
const (
	outcomeConsentGranted   = "consent_granted"
	outcomeConsentWithdrawn = "consent_withdrawn"
)

// Bounds of an app consent.
const (
	maxConsentCategories = 10
	minConsentTTL        = 60
	maxConsentTTL        = 30 * 24 * 60 * 60
	defaultConsentTTL    = 60 * 60
)

type consentRequest struct {
	Organisation string   `json:"organisation"`
	Purpose      string   `json:"purpose"`
	Categories   []string `json:"categories"`
	TTLSeconds   *int     `json:"ttl_seconds"`
	HolderID     string   `json:"holder_id"`
}

// consentJSON is a consent as answered to its holder.
type consentJSON struct {
	ConsentID    string     `json:"consent_id"`
	HolderID     string     `json:"holder_id"`
	Organisation string     `json:"organisation"`
	Purpose      string     `json:"purpose"`
	Categories   []string   `json:"categories"`
	Source       string     `json:"source"`
	Status       string     `json:"status"`
	CreatedAt    time.Time  `json:"created_at"`
	ExpiresAt    time.Time  `json:"expires_at"`
	WithdrawnAt  *time.Time `json:"withdrawn_at,omitempty"`
}

func (a *API) consentJSON(c Consent) consentJSON {
	return consentJSON{ConsentID: c.ID, HolderID: c.HolderID, Organisation: c.Organisation, Purpose: c.Purpose,
		Categories: c.Categories, Source: c.Source, Status: c.StatusAt(a.now()), CreatedAt: c.CreatedAt,
		ExpiresAt: c.ValidUntil, WithdrawnAt: c.WithdrawnAt}
}

// syntax checks the request's shape; what needs the data files is checked
// by policy.
func (req *consentRequest) syntax() []httpapi.FieldError {
	var errs []httpapi.FieldError
	if req.Organisation == "" {
		errs = append(errs, httpapi.FieldError{Field: "organisation", Code: "required", Detail: "the organisation to consent to (a token's org)"})
	}
	if req.Purpose == "" {
		errs = append(errs, httpapi.FieldError{Field: "purpose", Code: "required", Detail: "the purpose the organisation may read for"})
	}
	if n := len(req.Categories); n == 0 || n > maxConsentCategories {
		errs = append(errs, httpapi.FieldError{Field: "categories", Code: "out_of_range", Detail: fmt.Sprintf("1 to %d category ids", maxConsentCategories)})
	}
	for i, id := range req.Categories {
		if !categoryIDPattern.MatchString(id) || slices.Index(req.Categories, id) != i {
			errs = append(errs, httpapi.FieldError{Field: fmt.Sprintf("categories.%d", i), Code: "invalid", Detail: "must be a category id, once"})
		}
	}
	if t := req.TTLSeconds; t != nil && (*t < minConsentTTL || *t > maxConsentTTL) {
		errs = append(errs, httpapi.FieldError{Field: "ttl_seconds", Code: "out_of_range", Detail: fmt.Sprintf("from %d to %d", minConsentTTL, maxConsentTTL)})
	}
	if req.HolderID != "" && !holderIDPattern.MatchString(req.HolderID) {
		errs = append(errs, httpapi.FieldError{Field: "holder_id", Code: "invalid", Detail: "must be a holder id (hdr_…)"})
	}
	return errs
}

// policy checks the request against the data files: the organisation's
// kind may use the purpose, and each category exists and releases
// something to it.
func (a *API) policy(req consentRequest) error {
	kind, ok := a.orgs[req.Organisation]
	if !ok {
		return ErrOrganisationUnknown
	}
	var errs []httpapi.FieldError
	if !a.cats.MayUse(kind, req.Purpose) {
		errs = append(errs, httpapi.FieldError{Field: "purpose", Code: "not_allowed", Detail: "the organisation's kind (" + kind + ") may not use this purpose"})
	}
	for i, id := range req.Categories {
		cat, ok := a.cats.Category(id)
		switch {
		case !ok:
			errs = append(errs, httpapi.FieldError{Field: fmt.Sprintf("categories.%d", i), Code: "unknown", Detail: "no such category"})
		case len(cat.Released(req.Purpose)) == 0:
			errs = append(errs, httpapi.FieldError{Field: fmt.Sprintf("categories.%d", i), Code: "not_allowed", Detail: "the category releases nothing to this purpose"})
		}
	}
	if len(errs) > 0 {
		return httpapi.Invalid(errs...)
	}
	return nil
}

func (a *API) grantConsent() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req consentRequest
		if err := httpapi.DecodeJSON(r, &req); err != nil {
			httpapi.WriteError(w, r, errorAnswers, err)
			return
		}
		if errs := req.syntax(); len(errs) > 0 {
			httpapi.WriteProblem(w, r, httpapi.Invalid(errs...))
			return
		}
		if err := a.policy(req); err != nil {
			httpapi.WriteError(w, r, errorAnswers, err)
			return
		}
		holderID, err := a.target(r.Context(), r, req.HolderID)
		if err != nil {
			httpapi.WriteError(w, r, errorAnswers, err)
			return
		}
		ttl := defaultConsentTTL
		if req.TTLSeconds != nil {
			ttl = *req.TTLSeconds
		}
		p, _ := httpapi.PrincipalFrom(r)
		now := a.now().UTC()
		c, err := a.store.GrantConsent(r.Context(), Consent{ID: derivedID("cns", p, idempotency.KeyFrom(r.Context())), HolderID: holderID,
			Organisation: req.Organisation, Purpose: req.Purpose, Categories: req.Categories, Source: SourceApp,
			CreatedAt: now, ValidUntil: now.Add(time.Duration(ttl) * time.Second)}, p.Subject)
		if err != nil {
			httpapi.WriteError(w, r, errorAnswers, err)
			return
		}
		w.Header().Set("Location", "/v1/consents/"+c.ID)
		httpapi.WriteJSON(w, http.StatusCreated, a.consentJSON(c))
	}
}

func (a *API) listConsents() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		pg, err := httpapi.ParsePage(r)
		if err != nil {
			httpapi.WriteError(w, r, errorAnswers, err)
			return
		}
		id, err := a.target(r.Context(), r, r.URL.Query().Get("holder_id"))
		if err != nil {
			httpapi.WriteError(w, r, errorAnswers, err)
			return
		}
		items, next, err := a.store.Consents(r.Context(), id, pg.Limit, pg.Cursor)
		if err != nil {
			httpapi.WriteError(w, r, errorAnswers, err)
			return
		}
		httpapi.WriteList(w, items, next, a.consentJSON)
	}
}

// withdrawConsent withdraws one of the resident's (or a dependant's)
// consents, window consents too; withdrawing again answers 204 as well.
func (a *API) withdrawConsent() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, err := a.ownConsent(r)
		if err == nil && c.WithdrawnAt == nil {
			p, _ := httpapi.PrincipalFrom(r)
			err = a.store.WithdrawConsent(r.Context(), c, holders.AccessEntry{At: a.now().UTC(), Organisation: c.Organisation,
				Actor: p.Subject, Purpose: c.Purpose, What: c.Categories, Outcome: outcomeConsentWithdrawn})
		}
		if err != nil {
			httpapi.WriteError(w, r, errorAnswers, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}
}

// ownConsent reads the consent in the path if it is the signed-in
// resident's or a dependant's, else ErrConsentNotFound.
func (a *API) ownConsent(r *http.Request) (Consent, error) {
	p, _ := httpapi.PrincipalFrom(r)
	me, err := a.holders.HolderIDForLogin(r.Context(), p.Subject)
	if err != nil {
		return Consent{}, err
	}
	c, found, err := a.store.Consent(r.Context(), r.PathValue("consent_id"))
	switch {
	case err != nil:
		return Consent{}, err
	case !found:
		return Consent{}, ErrConsentNotFound
	case c.HolderID == me:
		return c, nil
	}
	if _, err := a.holders.Dependant(r.Context(), me, c.HolderID); err != nil {
		return Consent{}, ErrConsentNotFound
	}
	return c, nil
}
