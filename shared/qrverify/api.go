package qrverify

import (
	"encoding/hex"
	"fmt"
	"net/http"
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
}

// NewAPI returns the routes over v and the list source.
func NewAPI(v *Verifier, list trust.ListSource) *API { return &API{verifier: v, list: list} }

// Routes registers the routes on mux.
func (a *API) Routes(mux *http.ServeMux) {
	mux.Handle("POST /v1/verify", a.verify())
	mux.Handle("GET /v1/trust-list", a.trustList())
}

type verifyRequest struct {
	Code    string `json:"code"`
	Purpose string `json:"purpose"`
}

type verifyResponse struct {
	Valid     bool           `json:"valid"`
	Reason    string         `json:"reason,omitempty"`
	Purpose   string         `json:"purpose"`
	Issuer    string         `json:"issuer,omitempty"`
	CodeID    string         `json:"code_id,omitempty"`
	ExpiresAt *time.Time     `json:"expires_at,omitempty"`
	Claims    map[string]any `json:"claims"`
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
		if len(fields) > 0 {
			httpapi.WriteProblem(w, r, httpapi.Invalid(fields...))
			return
		}
		principal, _ := httpapi.PrincipalFrom(r)
		if !principal.HasScope(p.Scope) {
			httpapi.WriteProblem(w, r, httpapi.NewError(http.StatusForbidden, "purpose_not_allowed", "this client may not scan for "+p.Name+" (needs "+p.Scope+")"))
			return
		}
		res, err := a.verifier.Verify(r.Context(), req.Code, p, Scanner{Subject: principal.Subject, Org: principal.Org})
		if err != nil {
			httpapi.WriteError(w, r, errorAnswers, err)
			return
		}
		out := verifyResponse{Valid: res.Valid, Reason: res.Reason, Purpose: p.Name, Issuer: res.Issuer, Claims: res.Claims}
		if res.Valid {
			out.CodeID = hex.EncodeToString(res.CodeID[:])
			out.ExpiresAt = &res.ExpiresAt
		} else {
			out.Claims = map[string]any{}
		}
		httpapi.WriteJSON(w, http.StatusOK, out)
	}
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
