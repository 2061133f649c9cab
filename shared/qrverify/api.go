package qrverify

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/citycode/citycode/shared/httpapi"
	"github.com/citycode/citycode/shared/trust"
)

var errorAnswers = httpapi.ErrorMap{
	ErrTrustListUnavailable: httpapi.NewError(http.StatusServiceUnavailable, "trust_list_unavailable", "the trust list is not available; try again shortly"),
}

// API serves POST /v1/verify and GET /v1/trust-list.
type API struct {
	verifier *Verifier
	list     trust.ListSource
	// consents, when set, grants window consents for consentTTL.
	consents   ConsentStore
	consentTTL time.Duration
}

// NewAPI returns the routes over v and the list source.
func NewAPI(v *Verifier, list trust.ListSource) *API { return &API{verifier: v, list: list} }

// ConsentStore accepts a code together with the consent its scan grants.
type ConsentStore interface {
	// AcceptWithConsent is Store.Accept that also writes consent (when not
	// nil) and its access-log entry, in the same write.
	AcceptWithConsent(ctx context.Context, use *Use, holderID string, entry *AccessEntry, consent *Consent) error
}

// WithConsents answers a copy of a that grants window consents (purpose
// government with certificate_categories) lasting ttl, written by store.
func (a *API) WithConsents(store ConsentStore, ttl time.Duration) *API {
	c := *a
	c.consents, c.consentTTL = store, ttl
	return &c
}

// Window consents: 1 to 10 category ids of certificates.
const maxConsentCategories = 10

// categoryID reports whether id has the shape of a certificate category
// id: snake_case, 2 to 64 characters (no regexp: its compilation would
// join qr-verify's cold start).
func categoryID(id string) bool {
	if len(id) < 2 || len(id) > 64 || id[0] < 'a' || id[0] > 'z' {
		return false
	}
	for _, c := range []byte(id) {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' {
			return false
		}
	}
	return true
}

// Routes registers the routes on mux.
func (a *API) Routes(mux *http.ServeMux) {
	mux.Handle("POST /v1/verify", a.verify())
	mux.Handle("GET /v1/trust-list", a.trustList())
}

type verifyRequest struct {
	Code    string `json:"code"`
	Purpose string `json:"purpose"`
	// CertificateCategories (purpose government only) asks the holder's
	// consent for the scanner's organisation to look up their certificates
	// of these categories (infra/certificates.md). Only the syntax of the
	// ids is checked here, to keep qr-verify's cold start free of the
	// categories file; an unknown id never matches at lookup.
	CertificateCategories []string `json:"certificate_categories"`
}

// consentJSON is the consent a window scan granted.
type consentJSON struct {
	ConsentID  string    `json:"consent_id"`
	Categories []string  `json:"categories"`
	ExpiresAt  time.Time `json:"expires_at"`
}

type verifyResponse struct {
	Valid     bool           `json:"valid"`
	Reason    string         `json:"reason,omitempty"`
	Purpose   string         `json:"purpose"`
	Issuer    string         `json:"issuer,omitempty"`
	CodeID    string         `json:"code_id,omitempty"`
	ExpiresAt *time.Time     `json:"expires_at,omitempty"`
	Claims    map[string]any `json:"claims"`
	Consent   *consentJSON   `json:"consent,omitempty"`
}

func (a *API) verify() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req verifyRequest
		if err := httpapi.DecodeJSON(r, &req); err != nil {
			httpapi.WriteError(w, r, errorAnswers, err)
			return
		}
		p, ok := purposes[req.Purpose]
		var fields []httpapi.FieldError
		if !ok {
			fields = append(fields, httpapi.FieldError{Field: "purpose", Code: "invalid", Detail: "must be one of transit, hospital, pharmacy, hotel, venue, government"})
		}
		if req.Code == "" || len(req.Code) > 1024 {
			fields = append(fields, httpapi.FieldError{Field: "code", Code: "required", Detail: "must be the scanned code text"})
		}
		principal, _ := httpapi.PrincipalFrom(r)
		if req.CertificateCategories != nil {
			fields = append(fields, a.checkConsentRequest(req, principal)...)
		}
		if len(fields) > 0 {
			httpapi.WriteProblem(w, r, httpapi.Invalid(fields...))
			return
		}
		if !principal.HasScope(p.Scope) {
			httpapi.WriteProblem(w, r, httpapi.NewError(http.StatusForbidden, "purpose_not_allowed", "this client may not scan for "+p.Name+" (needs "+p.Scope+")"))
			return
		}
		scanner := Scanner{Subject: principal.Subject, Org: principal.Org}
		var res Result
		var consent *Consent
		var err error
		if req.CertificateCategories != nil {
			res, consent, err = a.verifyGrantingConsent(r.Context(), req, p, scanner)
		} else {
			res, err = a.verifier.Verify(r.Context(), req.Code, p, scanner)
		}
		if err != nil {
			httpapi.WriteError(w, r, errorAnswers, err)
			return
		}
		out := verifyResponse{Valid: res.Valid, Reason: res.Reason, Purpose: p.Name, Issuer: res.Issuer, Claims: res.Claims}
		if consent != nil {
			out.Consent = &consentJSON{ConsentID: consent.ID, Categories: consent.Categories, ExpiresAt: consent.ValidUntil}
		}
		if res.Valid {
			out.CodeID = hex.EncodeToString(res.CodeID[:])
			out.ExpiresAt = &res.ExpiresAt
		} else {
			out.Claims = map[string]any{}
		}
		httpapi.WriteJSON(w, http.StatusOK, out)
	}
}

// checkConsentRequest checks certificate_categories: purpose government,
// a scanner of an organisation, a function that grants consents, and 1 to
// 10 distinct category ids.
func (a *API) checkConsentRequest(req verifyRequest, principal httpapi.Principal) []httpapi.FieldError {
	bad := func(code, detail string) []httpapi.FieldError {
		return []httpapi.FieldError{{Field: "certificate_categories", Code: code, Detail: detail}}
	}
	ids := req.CertificateCategories
	switch {
	case a.consents == nil:
		return bad("not_supported", "this deployment grants no certificate consents")
	case req.Purpose != "government":
		return bad("purpose", "only a scan for purpose government grants a certificate consent")
	case principal.Org == "":
		return bad("organisation_required", "the token names no organisation (org) to consent to")
	case len(ids) == 0 || len(ids) > maxConsentCategories:
		return bad("out_of_range", "from 1 to 10 certificate category ids")
	}
	for i, id := range ids {
		if !categoryID(id) || slices.Contains(ids[:i], id) {
			return bad("invalid", "distinct certificate category ids (GET /v1/certificate-categories)")
		}
	}
	return nil
}

// verifyGrantingConsent is Verify that, for a valid code of this city's
// holder, also grants the scanner's organisation the consent asked for, in
// the same write as the code's acceptance.
func (a *API) verifyGrantingConsent(ctx context.Context, req verifyRequest, p Purpose, scanner Scanner) (Result, *Consent, error) {
	res, acc, err := a.verifier.Check(ctx, req.Code, p, scanner)
	if err != nil || !res.Valid {
		return res, nil, err
	}
	var consent *Consent
	if res.HolderID != "" { // another city's holder has no certificates here
		now := time.Now().UTC()
		consent = &Consent{ID: newID("cns"), HolderID: res.HolderID, Organisation: scanner.Org, Actor: scanner.Subject,
			Purpose: p.Name, Categories: req.CertificateCategories, CreatedAt: now, ValidUntil: now.Add(a.consentTTL)}
	}
	err = a.consents.AcceptWithConsent(ctx, acc.Use, acc.HolderID, acc.Entry, consent)
	if errors.Is(err, ErrReplayed) {
		return Result{Reason: ReasonReplayed}, nil, nil
	}
	if err != nil {
		return Result{}, nil, err
	}
	return res, consent, nil
}

func (a *API) trustList() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		l, err := a.list.Current(r.Context())
		if err != nil {
			httpapi.WriteError(w, r, errorAnswers, fmt.Errorf("%w: %w", ErrTrustListUnavailable, err))
			return
		}
		// Public and the same for everyone: gates and CDNs may cache it.
		w.Header().Set("Cache-Control", "public, max-age=300")
		httpapi.WriteJSON(w, http.StatusOK, l)
	}
}
