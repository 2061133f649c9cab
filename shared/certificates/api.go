package certificates

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/citycode/citycode/shared/holders"
	"github.com/citycode/citycode/shared/httpapi"
	"github.com/citycode/citycode/shared/idempotency"
)

// errorAnswers maps the capability's sentinels to their answers, in one place.
var errorAnswers = httpapi.ErrorMap{
	ErrCategoryNotFound:          httpapi.NewError(http.StatusNotFound, "category_not_found", "no such certificate category"),
	ErrNotCategoryIssuer:         httpapi.NewError(http.StatusForbidden, "not_category_issuer", "your organisation does not issue this category"),
	ErrCertificateNotFound:       httpapi.NewError(http.StatusNotFound, "certificate_not_found", "no such certificate of yours"),
	ErrHolderNotFound:            httpapi.NewError(http.StatusNotFound, "holder_not_found", "no such holder"),
	ErrHolderNotActive:           httpapi.NewError(http.StatusConflict, "holder_not_active", "the holder is suspended"),
	ErrCertificateExists:         httpapi.NewError(http.StatusConflict, "certificate_exists", "the holder already has a certificate of this category; revoke it first"),
	ErrInvalidTransition:         httpapi.NewError(http.StatusConflict, "invalid_transition", "the certificate's status does not allow this change"),
	ErrChanged:                   httpapi.NewError(http.StatusConflict, "certificate_changed", "the certificate kept changing; read it and retry"),
	errCorruptCursor:             httpapi.NewError(http.StatusBadRequest, "invalid_query", "the cursor is not one this API gave out"),
	ErrConsentNotFound:           httpapi.NewError(http.StatusNotFound, "consent_not_found", "no such consent of yours"),
	ErrOrganisationUnknown:       httpapi.NewError(http.StatusNotFound, "organisation_not_found", "no such organisation"),
	holders.ErrNotEnrolled:       httpapi.NewError(http.StatusNotFound, "not_enrolled", "enroll first: POST /v1/holders"),
	holders.ErrDependantNotFound: httpapi.NewError(http.StatusNotFound, "dependant_not_found", "no such dependant of yours"),
}

// API serves the certificate routes.
type API struct {
	store   *Store
	holders *holders.Store
	idem    *idempotency.Store
	cats    *Catalogue
	orgs    Organisations
	keys    *DocumentKeys
	// referenceLifetime is how long a certificate's reference lives.
	referenceLifetime time.Duration
	now               func() time.Time
}

// NewAPI returns the routes over its dependencies: the certificates store,
// holders' store (logins and dependants), idempotency records, the
// categories, the organisations' kinds, the document keys (which also sign
// references) and references' lifetime.
func NewAPI(store *Store, hs *holders.Store, idem *idempotency.Store, cats *Catalogue, orgs Organisations, keys *DocumentKeys, referenceLifetime time.Duration) *API {
	return &API{store: store, holders: hs, idem: idem, cats: cats, orgs: orgs, keys: keys, referenceLifetime: referenceLifetime, now: time.Now}
}

// Routes registers every route of infra/certificates.md that is built.
func (a *API) Routes(mux *http.ServeMux) {
	issuer := func(h http.Handler) http.Handler { return httpapi.RequireScope("certs:issue", h) }
	resident := func(h http.Handler) http.Handler { return httpapi.RequireScope("resident", h) }
	mux.Handle("GET /v1/certificate-categories", a.listCategories())
	mux.Handle("GET /v1/certificate-categories/{category_id}", a.getCategory())
	mux.Handle("GET /v1/certificate-keys", a.documentKeys())
	mux.Handle("POST /v1/certificates", issuer(a.idem.Require(a.issue())))
	mux.Handle("GET /v1/certificates", issuer(a.issuerList()))
	mux.Handle("GET /v1/certificates/{certificate_id}", issuer(a.issuerGet()))
	mux.Handle("GET /v1/certificates/{certificate_id}/status", a.publicStatus())
	mux.Handle("POST /v1/certificates/{certificate_id}/renewals", issuer(a.idem.Require(a.change(a.renew))))
	mux.Handle("POST /v1/certificates/{certificate_id}/suspensions", issuer(a.idem.Require(a.change(suspend))))
	mux.Handle("POST /v1/certificates/{certificate_id}/reinstatements", issuer(a.idem.Require(a.change(reinstate))))
	mux.Handle("POST /v1/certificates/{certificate_id}/revocations", issuer(a.idem.Require(a.change(revoke))))
	mux.Handle("POST /v1/certificates/lookups", httpapi.RequireScope("certs:read", a.lookup()))
	mux.Handle("POST /v1/certificates/reference-checks", httpapi.RequireScope("certs:read", a.checkReference()))
	mux.Handle("POST /v1/holders/me/certificates/{certificate_id}/references", resident(a.makeReference()))
	mux.Handle("GET /v1/holders/me/certificates", resident(a.holderList()))
	mux.Handle("GET /v1/holders/me/certificates/{certificate_id}", resident(a.holderGet()))
	mux.Handle("GET /v1/holders/me/certificates/{certificate_id}/document", resident(a.holderDocument()))
	mux.Handle("POST /v1/consents", resident(a.idem.Require(a.grantConsent())))
	mux.Handle("GET /v1/consents", resident(a.listConsents()))
	mux.Handle("DELETE /v1/consents/{consent_id}", resident(a.withdrawConsent()))
}

// ---------------------------------------------------------- categories ----

type categoryPage struct {
	Items      []*Category `json:"items"`
	NextCursor string      `json:"next_cursor,omitempty"`
}

func (a *API) listCategories() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		pg, err := httpapi.ParsePage(r)
		if err != nil {
			httpapi.WriteError(w, r, errorAnswers, err)
			return
		}
		after, err := base64.RawURLEncoding.DecodeString(pg.Cursor)
		if err != nil {
			httpapi.WriteError(w, r, errorAnswers, errCorruptCursor)
			return
		}
		items, next := a.cats.Page(pg.Limit, string(after))
		out := categoryPage{Items: items}
		if next != "" {
			out.NextCursor = base64.RawURLEncoding.EncodeToString([]byte(next))
		}
		w.Header().Set("Cache-Control", "public, max-age=300")
		httpapi.WriteJSON(w, http.StatusOK, out)
	}
}

func (a *API) getCategory() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		cat, ok := a.cats.Category(r.PathValue("category_id"))
		if !ok {
			httpapi.WriteError(w, r, errorAnswers, ErrCategoryNotFound)
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=300")
		httpapi.WriteJSON(w, http.StatusOK, cat)
	}
}

func (a *API) documentKeys() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		keys, err := a.store.PublishedKeys(r.Context())
		if err != nil {
			httpapi.WriteError(w, r, errorAnswers, err)
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=300")
		httpapi.WriteJSON(w, http.StatusOK, map[string]any{"keys": keys})
	}
}

// -------------------------------------------------------- certificates ----

// certJSON is a certificate as answered to its holder and its issuer; a
// summary leaves out fields.
type certJSON struct {
	CertificateID string          `json:"certificate_id"`
	Category      string          `json:"category"`
	HolderID      string          `json:"holder_id"`
	IssuerOrg     string          `json:"issuer_org"`
	Version       int64           `json:"version"`
	Status        string          `json:"status"`
	StatusReason  string          `json:"status_reason,omitempty"`
	ValidFrom     string          `json:"valid_from"`
	ValidUntil    *string         `json:"valid_until"`
	Fields        json.RawMessage `json:"fields,omitempty"`
	IssuedAt      time.Time       `json:"issued_at"`
	UpdatedAt     time.Time       `json:"updated_at"`
	RevokedAt     *time.Time      `json:"revoked_at,omitempty"`
}

func (a *API) toJSON(c Certificate) certJSON {
	out := certJSON{CertificateID: c.ID, Category: c.Category, HolderID: c.HolderID, IssuerOrg: c.IssuerOrg, Version: c.Version,
		Status: c.StatusAt(a.now()), StatusReason: c.StatusReason, ValidFrom: c.ValidFrom, Fields: c.Fields,
		IssuedAt: c.IssuedAt, UpdatedAt: c.UpdatedAt, RevokedAt: c.RevokedAt}
	if c.ValidUntil != "" {
		out.ValidUntil = &c.ValidUntil
	}
	return out
}

type issueRequest struct {
	Category       string          `json:"category"`
	HolderID       string          `json:"holder_id"`
	HolderDocument *holderDocument `json:"holder_document"`
	Fields         json.RawMessage `json:"fields"`
	ValidFrom      string          `json:"valid_from"`
	ValidUntil     string          `json:"valid_until"`
}

// holderDocument names a holder by the document they enrolled with; the
// number is only looked up (holders' document index), never stored here.
type holderDocument struct {
	Type   string `json:"document_type"`
	Number string `json:"document_number"`
}

// holderErrors checks that req names its holder exactly one way, and well.
func (req issueRequest) holderErrors() []httpapi.FieldError {
	d := req.HolderDocument
	switch {
	case (req.HolderID == "") == (d == nil):
		return []httpapi.FieldError{{Field: "holder_id", Code: "required", Detail: "exactly one of holder_id or holder_document"}}
	case d == nil && !holderIDPattern.MatchString(req.HolderID):
		return []httpapi.FieldError{{Field: "holder_id", Code: "invalid", Detail: "must be a holder id (hdr_…)"}}
	case d == nil:
		return nil
	}
	var errs []httpapi.FieldError
	if !holders.IsDocumentType(d.Type) {
		errs = append(errs, httpapi.FieldError{Field: "holder_document.document_type", Code: "invalid",
			Detail: "must be one of resident_id, passport, hk_macau_permit, taiwan_permit, foreign_permanent_residence"})
	}
	if n := strings.TrimSpace(d.Number); n == "" || len(n) > 20 {
		errs = append(errs, httpapi.FieldError{Field: "holder_document.document_number", Code: "invalid", Detail: "must be 1 to 20 characters"})
	}
	return errs
}

// holderOf is the holder req names: its holder_id, or the holder enrolled
// with its holder_document.
func (a *API) holderOf(ctx context.Context, req issueRequest) (string, error) {
	if req.HolderDocument == nil {
		return req.HolderID, nil
	}
	id, err := a.holders.HolderIDForDocument(ctx, req.HolderDocument.Type, req.HolderDocument.Number)
	if errors.Is(err, holders.ErrDocumentNotEnrolled) {
		return "", ErrHolderNotFound
	}
	return id, err
}

var holderIDPattern = regexp.MustCompile(`^hdr_[a-z2-7]{26}$`)

func (a *API) issue() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req issueRequest
		if err := httpapi.DecodeJSON(r, &req); err != nil {
			httpapi.WriteError(w, r, errorAnswers, err)
			return
		}
		p, _ := httpapi.PrincipalFrom(r)
		cat, err := a.issuedCategory(req.Category, p.Org)
		if err != nil {
			httpapi.WriteError(w, r, errorAnswers, err)
			return
		}
		errs := req.holderErrors()
		if len(req.Fields) == 0 {
			errs = append(errs, httpapi.FieldError{Field: "fields", Code: "required", Detail: "the category's fields"})
		} else {
			errs = append(errs, cat.ValidateFields(req.Fields)...)
		}
		from, until, dateErrs := cat.Term(req.ValidFrom, req.ValidUntil, a.now())
		if errs = append(errs, dateErrs...); len(errs) > 0 {
			httpapi.WriteProblem(w, r, httpapi.Invalid(errs...))
			return
		}
		holderID, err := a.holderOf(r.Context(), req)
		if err != nil {
			httpapi.WriteError(w, r, errorAnswers, err)
			return
		}
		c := Certificate{ID: derivedID("crt", p, idempotency.KeyFrom(r.Context())), Category: cat.ID, HolderID: holderID, IssuerOrg: p.Org,
			ValidFrom: from, ValidUntil: until, Fields: compact(req.Fields)}
		c, err = a.store.Issue(r.Context(), c, cat.OnePerHolder)
		if err != nil {
			httpapi.WriteError(w, r, errorAnswers, err)
			return
		}
		w.Header().Set("Location", "/v1/certificates/"+c.ID)
		httpapi.WriteJSON(w, http.StatusCreated, a.toJSON(c))
	}
}

// issuedCategory is the category id, which org must issue.
func (a *API) issuedCategory(id, org string) (*Category, error) {
	cat, ok := a.cats.Category(id)
	switch {
	case !ok:
		return nil, ErrCategoryNotFound
	case cat.IssuerOrg != org:
		return nil, ErrNotCategoryIssuer
	}
	return cat, nil
}

// derivedID derives a new item's id (prefix_…) from the caller and its
// Idempotency-Key, so that a rerun of the same request (after its claim's
// lease ran out) finds what it already wrote.
func derivedID(prefix string, p httpapi.Principal, idemKey string) string {
	return hashedID(prefix, p.Org+"\x00"+p.Subject+"\x00"+idemKey)
}

// SeedID is the certificate id the demo seed gives the certificate it
// names by name: always the same, so that a second seed finds what the
// first issued (Store.Issue answers the stored one). Its hash input is
// tagged, so it never meets an id derived from a request.
func SeedID(name string) string { return hashedID("crt", "seed\x00\x00\x00"+name) }

// hashedID is prefix_ and the first 16 bytes of in's SHA-256, in the shape
// of newID's ids.
func hashedID(prefix, in string) string {
	sum := sha256.Sum256([]byte(in))
	return prefix + "_" + strings.ToLower(idEncoding.EncodeToString(sum[:16]))
}

// compact answers raw without insignificant whitespace (it has been
// validated as JSON).
func compact(raw json.RawMessage) json.RawMessage {
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return raw
	}
	return b.Bytes()
}

// Term checks and completes a certificate's term of this category: from
// defaults to today (in Shanghai at now), until to from plus the
// category's validity, and may not exceed it. It answers the dates, or
// what is wrong with them.
func (cat *Category) Term(from, until string, now time.Time) (string, string, []httpapi.FieldError) {
	var errs []httpapi.FieldError
	if from == "" {
		from = today(now)
	}
	start, err := time.Parse(time.DateOnly, from)
	if err != nil {
		return "", "", []httpapi.FieldError{{Field: "valid_from", Code: "format", Detail: "must be a date, YYYY-MM-DD"}}
	}
	var max string
	if !cat.term.zero() {
		max = cat.term.after(start).Format(time.DateOnly)
	}
	switch end, err := time.Parse(time.DateOnly, until); {
	case until == "":
		until = max
	case err != nil:
		errs = append(errs, httpapi.FieldError{Field: "valid_until", Code: "format", Detail: "must be a date, YYYY-MM-DD"})
	case !end.After(start):
		errs = append(errs, httpapi.FieldError{Field: "valid_until", Code: "out_of_range", Detail: "must be after valid_from"})
	case max != "" && until > max:
		errs = append(errs, httpapi.FieldError{Field: "valid_until", Code: "out_of_range", Detail: "at most " + max + " (the category's validity " + *cat.Validity + ")"})
	}
	return from, until, errs
}

// categoryQuery is the list's ?category=, if any: a category id.
func categoryQuery(r *http.Request) (string, error) {
	category := r.URL.Query().Get("category")
	if category != "" && !categoryIDPattern.MatchString(category) {
		return "", httpapi.NewError(http.StatusBadRequest, "invalid_query", "category must be a category id")
	}
	return category, nil
}

// issuerList answers the caller org's certificates, newest first, as
// summaries (no fields), with their current status.
func (a *API) issuerList() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		pg, err := httpapi.ParsePage(r)
		if err != nil {
			httpapi.WriteError(w, r, errorAnswers, err)
			return
		}
		category, err := categoryQuery(r)
		if err != nil {
			httpapi.WriteError(w, r, errorAnswers, err)
			return
		}
		p, _ := httpapi.PrincipalFrom(r)
		page, err := a.store.ByIssuer(r.Context(), p.Org, category, pg.Limit, pg.Cursor)
		if err != nil {
			httpapi.WriteError(w, r, errorAnswers, err)
			return
		}
		httpapi.WriteList(w, page.Items, page.NextCursor, a.toJSON)
	}
}

func (a *API) issuerGet() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, _ := httpapi.PrincipalFrom(r)
		c, err := a.store.Get(r.Context(), r.PathValue("certificate_id"))
		if err == nil && c.IssuerOrg != p.Org {
			err = ErrCertificateNotFound
		}
		if err != nil {
			httpapi.WriteError(w, r, errorAnswers, err)
			return
		}
		httpapi.WriteJSON(w, http.StatusOK, a.toJSON(c))
	}
}

// publicStatus answers what a certificate is now, to anyone who holds its
// id (a document's reader): the status and nothing else, never cached, so
// a revocation shows at once. Not logged: it releases no personal data.
func (a *API) publicStatus() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, err := a.store.Get(r.Context(), r.PathValue("certificate_id"))
		if err != nil {
			httpapi.WriteError(w, r, errorAnswers, err)
			return
		}
		now := a.now().UTC()
		httpapi.WriteJSON(w, http.StatusOK, map[string]any{"certificate_id": c.ID, "status": c.StatusAt(now), "checked_at": now})
	}
}

// changeRequest is the body of every change: renewals take fields and
// dates; suspensions and revocations a reason; reinstatements nothing.
type changeRequest struct {
	Fields     json.RawMessage `json:"fields"`
	ValidFrom  string          `json:"valid_from"`
	ValidUntil string          `json:"valid_until"`
	Reason     string          `json:"reason"`
}

// changeKind validates a change request and answers the store's Change.
type changeKind func(req changeRequest) (Change, []httpapi.FieldError)

func (a *API) change(kind changeKind) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req changeRequest
		if body, err := httpapi.ReadBody(r); err != nil {
			httpapi.WriteError(w, r, errorAnswers, err)
			return
		} else if len(body) > 0 {
			if err := httpapi.DecodeJSON(r, &req); err != nil {
				httpapi.WriteError(w, r, errorAnswers, err)
				return
			}
		}
		ch, errs := kind(req)
		if len(errs) > 0 {
			httpapi.WriteProblem(w, r, httpapi.Invalid(errs...))
			return
		}
		p, _ := httpapi.PrincipalFrom(r)
		c, err := a.store.Change(r.Context(), p.Org, r.PathValue("certificate_id"), ch)
		if err != nil {
			httpapi.WriteError(w, r, errorAnswers, err)
			return
		}
		httpapi.WriteJSON(w, http.StatusOK, a.toJSON(c))
	}
}

// renew validates new fields and dates against the certificate's category
// when the change is applied, since only then is the category known.
func (a *API) renew(req changeRequest) (Change, []httpapi.FieldError) {
	if req.Reason != "" {
		return Change{}, []httpapi.FieldError{{Field: "reason", Code: "unknown_field", Detail: "a renewal takes no reason"}}
	}
	now := a.now()
	return Change{Event: typeRenewed, Apply: func(c *Certificate) error {
		cat, ok := a.cats.Category(c.Category)
		if !ok {
			return ErrCategoryNotFound
		}
		var errs []httpapi.FieldError
		if len(req.Fields) > 0 {
			errs = cat.ValidateFields(req.Fields)
			c.Fields = compact(req.Fields)
		}
		from, until, dateErrs := cat.Term(req.ValidFrom, req.ValidUntil, now)
		if errs = append(errs, dateErrs...); len(errs) > 0 {
			return httpapi.Invalid(errs...)
		}
		c.ValidFrom, c.ValidUntil = from, until
		return nil
	}}, nil
}

// statusChange is a change of status from one of froms to to, with a
// reason when needsReason.
func statusChange(event, to string, needsReason bool, froms ...string) changeKind {
	return func(req changeRequest) (Change, []httpapi.FieldError) {
		var errs []httpapi.FieldError
		if len(req.Fields) > 0 || req.ValidFrom != "" || req.ValidUntil != "" {
			errs = append(errs, httpapi.FieldError{Field: "fields", Code: "unknown_field", Detail: "only a renewal changes fields or dates"})
		}
		switch {
		case needsReason && !slices.Contains(Reasons, req.Reason):
			errs = append(errs, httpapi.FieldError{Field: "reason", Code: "invalid", Detail: "must be one of " + strings.Join(Reasons, ", ")})
		case !needsReason && req.Reason != "":
			errs = append(errs, httpapi.FieldError{Field: "reason", Code: "unknown_field", Detail: "a reinstatement takes no reason"})
		}
		return Change{Event: event, Apply: func(c *Certificate) error {
			if !slices.Contains(froms, c.Status) {
				return ErrInvalidTransition
			}
			c.Status, c.StatusReason = to, req.Reason
			return nil
		}}, errs
	}
}

var (
	suspend   = statusChange(typeSuspended, StatusSuspended, true, StatusActive)
	reinstate = statusChange(typeReinstated, StatusActive, false, StatusSuspended)
	revoke    = statusChange(typeRevoked, StatusRevoked, true, StatusActive, StatusSuspended)
)

// ---------------------------------------------------------- holder view ----

// holderCert reads certificate id for the signed-in resident: their own or
// a dependant's, else ErrCertificateNotFound.
func (a *API) holderCert(r *http.Request) (Certificate, error) {
	p, _ := httpapi.PrincipalFrom(r)
	me, err := a.holders.HolderIDForLogin(r.Context(), p.Subject)
	if err != nil {
		return Certificate{}, err
	}
	c, err := a.store.Get(r.Context(), r.PathValue("certificate_id"))
	if err != nil || c.HolderID == me {
		return c, err
	}
	if _, err := a.holders.Dependant(r.Context(), me, c.HolderID); err != nil {
		return Certificate{}, ErrCertificateNotFound
	}
	return c, nil
}

// target is the signed-in resident, or with id one of their dependants.
func (a *API) target(ctx context.Context, r *http.Request, id string) (string, error) {
	p, _ := httpapi.PrincipalFrom(r)
	return a.holders.OwnOrDependant(ctx, p.Subject, id)
}

func (a *API) holderList() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		pg, err := httpapi.ParsePage(r)
		if err != nil {
			httpapi.WriteError(w, r, errorAnswers, err)
			return
		}
		category, err := categoryQuery(r)
		if err != nil {
			httpapi.WriteError(w, r, errorAnswers, err)
			return
		}
		id, err := a.target(r.Context(), r, r.URL.Query().Get("holder_id"))
		if err != nil {
			httpapi.WriteError(w, r, errorAnswers, err)
			return
		}
		page, err := a.store.ByHolder(r.Context(), id, category, pg.Limit, pg.Cursor)
		if err != nil {
			httpapi.WriteError(w, r, errorAnswers, err)
			return
		}
		httpapi.WriteList(w, page.Items, page.NextCursor, a.toJSON)
	}
}

func (a *API) holderGet() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, err := a.holderCert(r)
		if err != nil {
			httpapi.WriteError(w, r, errorAnswers, err)
			return
		}
		httpapi.WriteJSON(w, http.StatusOK, a.toJSON(c))
	}
}

func (a *API) holderDocument() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, err := a.holderCert(r)
		if err != nil {
			httpapi.WriteError(w, r, errorAnswers, err)
			return
		}
		w.Header().Set("Content-Type", "application/jose")
		w.Header().Set("Content-Disposition", `attachment; filename="`+c.ID+`.jws"`)
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte(c.Document))
	}
}
