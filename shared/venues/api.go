package venues

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/citycode/citycode/shared/httpapi"
	"github.com/citycode/citycode/shared/idempotency"
	"github.com/citycode/citycode/shared/qrverify"
	"github.com/citycode/citycode/shared/scan"
)

// errorAnswers maps the capability's sentinels to their answers, in one place.
var errorAnswers = httpapi.ErrorMap{
	ErrBusy:                          httpapi.NewError(http.StatusServiceUnavailable, "venue_busy", "the venue's counter is busy; retry with the same Idempotency-Key"),
	errCorruptCursor:                 httpapi.NewError(http.StatusBadRequest, "invalid_query", "the cursor is not one this API gave out"),
	qrverify.ErrTrustListUnavailable: httpapi.NewError(http.StatusServiceUnavailable, "trust_list_unavailable", "the trust list is not available; try again shortly"),
}

// Refusals of the request itself, answered as they are.
var (
	errVenueNotFound = httpapi.NewError(http.StatusNotFound, "venue_not_found", "no such venue")
	errNotYours      = httpapi.NewError(http.StatusForbidden, "venue_not_yours", "the venue belongs to another organisation")
)

// Scanner verifies codes in-process: *scan.Scanner.
type Scanner interface {
	Scan(ctx context.Context, code, purpose string, by qrverify.Scanner) (scan.Scan, error)
}

// Scope is the scope of the venue routes; purpose the scan's purpose.
const (
	Scope   = "scan:venue"
	purpose = "venue"
	// MaxCountDays bounds one entry-counts request.
	MaxCountDays = 92
)

// Reader card statuses a library learns (infra/lodging.md): the code is
// the library card of this city's holders; another city's holder may read
// on site.
const (
	CardActive          = "active"
	CardReadingRoomOnly = "reading_room_only"
)

// Refusal reasons besides qr-verify's.
const ReasonCapacityReached = "capacity_reached"

// API serves the venue routes.
type API struct {
	venues  map[string]Venue
	store   *Store
	scanner Scanner
	idem    *idempotency.Store
	now     func() time.Time
}

// NewAPI returns the routes over venues and store.
func NewAPI(venues map[string]Venue, store *Store, scanner Scanner, idem *idempotency.Store) *API {
	return &API{venues: venues, store: store, scanner: scanner, idem: idem, now: func() time.Time { return time.Now().UTC() }}
}

// Routes registers the routes on mux.
func (a *API) Routes(mux *http.ServeMux) {
	mux.Handle("POST /v1/venues/{venue_id}/entries", httpapi.RequireScope(Scope, a.idem.Require(a.enter())))
	mux.Handle("GET /v1/venues/{venue_id}/entry-counts", httpapi.RequireScope(Scope, a.counts()))
}

// venue is the request's venue, which the caller's organisation must own.
func (a *API) venue(r *http.Request) (Venue, httpapi.Principal, error) {
	p, _ := httpapi.PrincipalFrom(r)
	v, ok := a.venues[r.PathValue("venue_id")]
	switch {
	case !ok:
		return Venue{}, p, errVenueNotFound
	case v.Org != p.Org:
		return Venue{}, p, errNotYours
	}
	return v, p, nil
}

type entryRequest struct {
	Code string `json:"code"`
}

type entryResponse struct {
	Allowed        bool   `json:"allowed"`
	Reason         string `json:"reason,omitempty"`
	VenueID        string `json:"venue_id"`
	EntryID        string `json:"entry_id,omitempty"`
	Date           string `json:"date,omitempty"`
	AgeGroup       string `json:"age_group,omitempty"`
	ReaderCard     string `json:"reader_card,omitempty"`
	RemainingToday *int   `json:"remaining_today,omitempty"`
}

func (a *API) enter() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v, p, err := a.venue(r)
		if err != nil {
			httpapi.WriteError(w, r, errorAnswers, err)
			return
		}
		var req entryRequest
		if err := httpapi.DecodeJSON(r, &req); err != nil {
			httpapi.WriteError(w, r, errorAnswers, err)
			return
		}
		if req.Code == "" || len(req.Code) > 1024 {
			httpapi.WriteProblem(w, r, httpapi.Invalid(httpapi.FieldError{Field: "code", Code: "required", Detail: "must be the scanned code text"}))
			return
		}
		sc, err := a.scanner.Scan(r.Context(), req.Code, purpose, qrverify.Scanner{Subject: p.Subject, Org: p.Org})
		if err != nil {
			httpapi.WriteError(w, r, errorAnswers, err)
			return
		}
		refuse := func(reason string) {
			httpapi.WriteJSON(w, http.StatusOK, entryResponse{Allowed: false, Reason: reason, VenueID: v.ID})
		}
		if !sc.Valid {
			refuse(sc.Reason)
			return
		}
		// Another city's code carries no age: that city holds the holder's
		// data. Such a visitor counts as an adult.
		age, _ := sc.Claims[qrverify.ClaimAgeGroup].(string)
		if age == "" {
			age = "adult"
		}
		e, err := a.store.Enter(r.Context(), v, sc, p.Subject, age)
		switch {
		case err == nil:
		case errors.Is(err, ErrReplayed):
			refuse(qrverify.ReasonReplayed)
			return
		case errors.Is(err, ErrCapacityReached):
			refuse(ReasonCapacityReached)
			return
		default:
			httpapi.WriteError(w, r, errorAnswers, err)
			return
		}
		out := entryResponse{Allowed: true, VenueID: v.ID, EntryID: e.ID, Date: e.Date, AgeGroup: age, RemainingToday: e.Remaining}
		if v.Kind == KindLibrary {
			out.ReaderCard = CardReadingRoomOnly
			if sc.Home() {
				out.ReaderCard = CardActive
			}
		}
		httpapi.WriteJSON(w, http.StatusCreated, out)
	}
}

type countJSON struct {
	Date     string `json:"date"`
	Entries  int    `json:"entries"`
	Capacity int    `json:"capacity"`
}

func (a *API) counts() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v, _, err := a.venue(r)
		if err != nil {
			httpapi.WriteError(w, r, errorAnswers, err)
			return
		}
		pg, err := httpapi.ParsePage(r)
		if err != nil {
			httpapi.WriteError(w, r, errorAnswers, err)
			return
		}
		today := v.Day(a.now())
		q := r.URL.Query()
		from, to := q.Get("from"), q.Get("to")
		if from == "" {
			from = today
		}
		if to == "" {
			to = today
		}
		f, ferr := time.Parse(time.DateOnly, from)
		t, terr := time.Parse(time.DateOnly, to)
		if ferr != nil || terr != nil || t.Before(f) || t.Sub(f) >= MaxCountDays*24*time.Hour {
			httpapi.WriteProblem(w, r, httpapi.NewError(http.StatusBadRequest, "invalid_query", "from and to must be dates (YYYY-MM-DD), from not after to, at most 92 days"))
			return
		}
		page, err := a.store.Counts(r.Context(), v.ID, from, to, pg.Limit, pg.Cursor)
		if err != nil {
			httpapi.WriteError(w, r, errorAnswers, err)
			return
		}
		httpapi.WriteList(w, page.Items, page.NextCursor, func(c DayCount) countJSON { return countJSON(c) })
	}
}
