package certificates

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/citycode/citycode/shared/holders"
	"github.com/citycode/citycode/shared/httpapi"
	"github.com/citycode/citycode/shared/logging"
)

// Lookup refusals (403), checked in this order; each is written to the
// access log of the holder whose data was asked for.
const (
	RefusedNoConsent          = "consent_required"
	RefusedConsentExpired     = "consent_expired"
	RefusedPurposeMismatch    = "purpose_mismatch"
	RefusedPurposeNotAllowed  = "purpose_not_allowed"
	RefusedCategory           = "category_not_consented"
	RefusedHolderMismatch     = "consent_holder_mismatch"
	RefusedNothingForPurpose  = "purpose_not_allowed_for_category"
	outcomeReleased           = "released"
	outcomeStatusOnly         = "status_only"
	outcomeRefused            = "refused"
	maxLookupPage, lookupPage = 25, 10
)

var refusalDetails = map[string]string{
	RefusedNoConsent:         "no live consent of the holder for your organisation has this id",
	RefusedConsentExpired:    "the consent has expired; ask the holder to show their code again",
	RefusedPurposeMismatch:   "the purpose is not the consent's",
	RefusedPurposeNotAllowed: "your organisation's kind may not use this purpose",
	RefusedCategory:          "the consent does not cover this category",
	RefusedHolderMismatch:    "the certificate is not the consenting holder's",
	RefusedNothingForPurpose: "this category releases nothing to this purpose",
}

type lookupRequest struct {
	ConsentID     string `json:"consent_id"`
	Purpose       string `json:"purpose"`
	Category      string `json:"category"`
	CertificateID string `json:"certificate_id"`
	Limit         int    `json:"limit"`
	Cursor        string `json:"cursor"`
}

func (req *lookupRequest) validate() []httpapi.FieldError {
	var errs []httpapi.FieldError
	if req.ConsentID == "" || len(req.ConsentID) > 64 {
		errs = append(errs, httpapi.FieldError{Field: "consent_id", Code: "required", Detail: "the consent's id (cns_…)"})
	}
	if req.Purpose == "" {
		errs = append(errs, httpapi.FieldError{Field: "purpose", Code: "required", Detail: "why the certificate is read"})
	}
	if (req.Category == "") == (req.CertificateID == "") {
		errs = append(errs, httpapi.FieldError{Field: "category", Code: "one_of", Detail: "give exactly one of category and certificate_id"})
	}
	if req.Category != "" && !categoryIDPattern.MatchString(req.Category) {
		errs = append(errs, httpapi.FieldError{Field: "category", Code: "invalid", Detail: "must be a category id"})
	}
	if req.Limit < 0 || req.Limit > maxLookupPage {
		errs = append(errs, httpapi.FieldError{Field: "limit", Code: "out_of_range", Detail: "from 1 to 25"})
	}
	if req.CertificateID != "" && (req.Limit != 0 || req.Cursor != "") {
		errs = append(errs, httpapi.FieldError{Field: "limit", Code: "unknown_field", Detail: "limit and cursor page a category lookup only"})
	}
	return errs
}

type consentRef struct {
	ConsentID string    `json:"consent_id"`
	ExpiresAt time.Time `json:"expires_at"`
}

// lookupItem is a certificate as a lookup answers it: no holder, and only
// the fields the purpose may see (none unless it is active).
type lookupItem struct {
	CertificateID string                     `json:"certificate_id"`
	Category      string                     `json:"category"`
	IssuerOrg     string                     `json:"issuer_org"`
	Status        string                     `json:"status"`
	ValidFrom     string                     `json:"valid_from"`
	ValidUntil    *string                    `json:"valid_until"`
	Fields        map[string]json.RawMessage `json:"fields"`
}

type lookupResponse struct {
	Consent    consentRef   `json:"consent"`
	Items      []lookupItem `json:"items"`
	NextCursor string       `json:"next_cursor,omitempty"`
}

// attempt is one lookup as it is being judged: whose data it asks for and
// what to write in that holder's log.
type attempt struct {
	req      lookupRequest
	org, sub string
	consent  Consent
	found    bool
	cert     *Certificate
	holderID string
}

func (a *API) lookup() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req lookupRequest
		if err := httpapi.DecodeJSON(r, &req); err != nil {
			httpapi.WriteError(w, r, errorAnswers, err)
			return
		}
		errs := req.validate()
		if req.Purpose != "" {
			errs = append(errs, a.cats.PurposeError(req.Purpose)...)
		}
		if len(errs) > 0 {
			httpapi.WriteProblem(w, r, httpapi.Invalid(errs...))
			return
		}
		p, _ := httpapi.PrincipalFrom(r)
		at, err := a.resolve(r.Context(), req, p)
		if err != nil {
			httpapi.WriteError(w, r, errorAnswers, err)
			return
		}
		if code := a.refusal(at); code != "" {
			a.refuse(w, r, at, code)
			return
		}
		items, next, err := a.release(r.Context(), at)
		if err != nil {
			httpapi.WriteError(w, r, errorAnswers, err)
			return
		}
		httpapi.WriteJSON(w, http.StatusOK, lookupResponse{
			Consent: consentRef{ConsentID: at.consent.ID, ExpiresAt: at.consent.ValidUntil}, Items: items, NextCursor: next})
	}
}

// resolve reads the consent and the certificate named, and so whose data
// the lookup asks for: the certificate's holder, else the consent's.
func (a *API) resolve(ctx context.Context, req lookupRequest, p httpapi.Principal) (attempt, error) {
	at := attempt{req: req, org: p.Org, sub: p.Subject}
	var err error
	if at.consent, at.found, err = a.store.Consent(ctx, req.ConsentID); err != nil {
		return attempt{}, err
	}
	if at.found {
		at.holderID = at.consent.HolderID
	}
	if req.CertificateID != "" {
		c, err := a.store.Get(ctx, req.CertificateID)
		switch {
		case errors.Is(err, ErrCertificateNotFound):
		case err != nil:
			return attempt{}, err
		default:
			at.cert, at.holderID = &c, c.HolderID
		}
	}
	return at, nil
}

// refusal is the first rule the attempt breaks, or "".
func (a *API) refusal(at attempt) string {
	c := at.consent
	switch {
	case !at.found || c.Organisation == "" || c.Organisation != at.org || c.WithdrawnAt != nil:
		return RefusedNoConsent
	case !a.now().Before(c.ValidUntil):
		return RefusedConsentExpired
	case at.req.Purpose != c.Purpose:
		return RefusedPurposeMismatch
	case !a.cats.MayUse(a.orgs[at.org], at.req.Purpose):
		return RefusedPurposeNotAllowed
	case at.req.CertificateID != "" && at.cert == nil:
		return "" // an unknown certificate: release answers not found
	case !slices.Contains(c.Categories, at.category()):
		return RefusedCategory
	case at.cert != nil && at.cert.HolderID != c.HolderID:
		return RefusedHolderMismatch
	}
	if cat, ok := a.cats.Category(at.category()); !ok || len(cat.Released(at.req.Purpose)) == 0 {
		return RefusedNothingForPurpose
	}
	return ""
}

// category is the category asked for: named, or the certificate's.
func (at attempt) category() string {
	if at.cert != nil {
		return at.cert.Category
	}
	return at.req.Category
}

// refuse logs the refusal to the holder asked about (or, when none is
// known, to the service log only) and answers 403 with its code.
func (a *API) refuse(w http.ResponseWriter, r *http.Request, at attempt, code string) {
	if at.holderID == "" {
		logging.FromContext(r.Context()).Info("lookup refused", "code", code, "org", at.org, "sub", at.sub)
	} else if err := a.logAccess(r.Context(), at, []string{at.category()}, outcomeRefused, code); err != nil {
		httpapi.WriteError(w, r, errorAnswers, err)
		return
	}
	httpapi.WriteProblem(w, r, httpapi.NewError(http.StatusForbidden, code, refusalDetails[code]))
}

func (a *API) logAccess(ctx context.Context, at attempt, what []string, outcome, reason string) error {
	return a.store.LogAccess(ctx, at.holderID, holders.AccessEntry{At: a.now().UTC(), Organisation: at.org, Actor: at.sub,
		Purpose: at.req.Purpose, What: what, Outcome: outcome, Reason: reason})
}

// release reads what the consent allows, writes the access-log entry, and
// only then answers the items: the purpose's fields of active
// certificates, the status alone of the others.
func (a *API) release(ctx context.Context, at attempt) ([]lookupItem, string, error) {
	var certs []Certificate
	var next string
	if at.req.CertificateID != "" {
		if at.cert == nil {
			logging.FromContext(ctx).Info("lookup of an unknown certificate", "org", at.org, "sub", at.sub)
			return nil, "", ErrCertificateNotFound
		}
		certs = []Certificate{*at.cert}
	} else {
		limit := at.req.Limit
		if limit == 0 {
			limit = lookupPage
		}
		page, err := a.store.ByHolder(ctx, at.consent.HolderID, at.req.Category, limit, at.req.Cursor)
		if err != nil {
			return nil, "", err
		}
		if certs, err = a.store.Full(ctx, page.Items); err != nil {
			return nil, "", err
		}
		next = page.NextCursor
	}
	cat, _ := a.cats.Category(at.category())
	names := cat.Released(at.req.Purpose)
	items := make([]lookupItem, 0, len(certs))
	var what []string
	now := a.now()
	for _, c := range certs {
		it := lookupItem{CertificateID: c.ID, Category: c.Category, IssuerOrg: c.IssuerOrg, Status: c.StatusAt(now),
			ValidFrom: c.ValidFrom, Fields: map[string]json.RawMessage{}}
		if c.ValidUntil != "" {
			it.ValidUntil = &c.ValidUntil
		}
		if it.Status == StatusActive {
			fields, got, err := released(c, names)
			if err != nil {
				return nil, "", err
			}
			it.Fields = fields
			for _, name := range got {
				if !slices.Contains(what, name) {
					what = append(what, name)
				}
			}
		}
		items = append(items, it)
	}
	outcome := outcomeReleased
	if len(what) == 0 {
		outcome, what = outcomeStatusOnly, []string{at.category()}
	}
	if err := a.logAccess(ctx, at, what, outcome, ""); err != nil {
		return nil, "", err
	}
	return items, next, nil
}
