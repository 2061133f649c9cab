package transit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/citycode/citycode/shared/holders"
	"github.com/citycode/citycode/shared/httpapi"
	"github.com/citycode/citycode/shared/idempotency"
	"github.com/citycode/citycode/shared/qrverify"
)

// errorAnswers maps the capability's sentinels to their answers, in one place.
var errorAnswers = httpapi.ErrorMap{
	holders.ErrNotEnrolled:       httpapi.NewError(http.StatusNotFound, "not_enrolled", "enroll first: POST /v1/holders"),
	holders.ErrDependantNotFound: httpapi.NewError(http.StatusNotFound, "dependant_not_found", "no such dependant of yours"),
	errBadCursor:                 httpapi.NewError(http.StatusBadRequest, "invalid_query", "the cursor is not one this API gave out"),
	errBadMonth:                  httpapi.NewError(http.StatusBadRequest, "invalid_query", "month must be YYYY-MM"),
}

// API serves the transit routes.
type API struct {
	svc     *Service
	holders *holders.Store
	idem    *idempotency.Store
}

// NewAPI returns the API over svc; residents are found through hs, and
// idem guards online taps.
func NewAPI(svc *Service, hs *holders.Store, idem *idempotency.Store) *API {
	return &API{svc: svc, holders: hs, idem: idem}
}

// Routes registers the routes of infra/transit.md on mux.
func (a *API) Routes(mux *http.ServeMux) {
	gate := func(h http.Handler) http.Handler { return httpapi.RequireScope("scan:transit", h) }
	resident := func(h http.Handler) http.Handler { return httpapi.RequireScope("resident", h) }
	mux.Handle("POST /v1/transit/taps", gate(a.idem.Require(a.tap())))
	mux.Handle("POST /v1/transit/tap-batches", gate(a.batch()))
	mux.Handle("GET /v1/holders/me/trips", resident(a.trips()))
	mux.Handle("GET /v1/holders/me/trips/statements/{month}", resident(a.statement()))
}

func scanner(r *http.Request) qrverify.Scanner {
	p, _ := httpapi.PrincipalFrom(r)
	return qrverify.Scanner{Subject: p.Subject, Org: p.Org}
}

func (a *API) tap() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var t Tap
		if err := httpapi.DecodeJSON(r, &t); err != nil {
			httpapi.WriteError(w, r, errorAnswers, err)
			return
		}
		if errs := validate(t); len(errs) > 0 {
			httpapi.WriteProblem(w, r, httpapi.Invalid(errs...))
			return
		}
		res, err := a.svc.Tap(r.Context(), t, scanner(r))
		if err != nil {
			httpapi.WriteError(w, r, errorAnswers, err)
			return
		}
		httpapi.WriteJSON(w, http.StatusOK, res)
	}
}

// batchRequest is the batch's envelope, decoded strictly; each tap is kept
// raw and decoded on its own (decodeTap), so that one badly typed tap is
// that tap's refusal, not the batch's.
type batchRequest struct {
	Taps []json.RawMessage `json:"taps"`
}

// decodeTap decodes one tap of a batch strictly (no unknown fields, right
// types); a failure is the tap's refusal, naming the field, with its tap_id
// when that can be read.
func decodeTap(raw json.RawMessage) (Tap, *Result) {
	var t Tap
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	err := dec.Decode(&t)
	if err == nil {
		return t, nil
	}
	var id struct {
		TapID any `json:"tap_id"`
	}
	_ = json.Unmarshal(raw, &id)
	tapID, _ := id.TapID.(string)
	r := refused(tapID, CodeInvalidTap, tapDecodeDetail(err))
	return Tap{}, &r
}

// tapDecodeDetail says what was wrong with a tap that did not decode, in
// the API's words (never Go's).
func tapDecodeDetail(err error) string {
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &typ) && typ.Field != "":
		return typ.Field + ": must be " + jsonKind(typ.Type.Kind())
	case errors.As(err, &typ):
		return "a tap must be a JSON object"
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return field + ": not accepted here"
	default:
		return "a tap must be a JSON object"
	}
}

func jsonKind(k reflect.Kind) string {
	switch k {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	default:
		return "an object"
	}
}

type batchAnswer struct {
	Results    []Result `json:"results"`
	Accepted   int      `json:"accepted"`
	Duplicates int      `json:"duplicates"`
	Refused    int      `json:"refused"`
}

// batch needs no Idempotency-Key: each tap's id is its own, kept with what
// the tap changed, which also survives a re-upload that splits or merges
// batches. (Bodies are larger than the idempotency store's limit, too.)
func (a *API) batch() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req batchRequest
		if err := httpapi.DecodeJSONUpTo(r, &req, MaxBatchBytes); err != nil {
			httpapi.WriteError(w, r, errorAnswers, err)
			return
		}
		if len(req.Taps) == 0 || len(req.Taps) > MaxBatch {
			httpapi.WriteProblem(w, r, httpapi.Invalid(httpapi.FieldError{Field: "taps", Code: "out_of_range", Detail: fmt.Sprintf("1 to %d taps", MaxBatch)}))
			return
		}
		// Taps that do not decode are refused here; the others are processed
		// together, and every result goes back in the request's order.
		results := make([]Result, len(req.Taps))
		var taps []Tap
		var at []int // taps[k] is the request's tap at[k]
		for i, raw := range req.Taps {
			t, bad := decodeTap(raw)
			if bad != nil {
				results[i] = *bad
				continue
			}
			taps = append(taps, t)
			at = append(at, i)
		}
		if len(taps) > 0 {
			done, err := a.svc.Batch(r.Context(), taps, scanner(r))
			if err != nil {
				httpapi.WriteError(w, r, errorAnswers, err)
				return
			}
			for k, res := range done {
				results[at[k]] = res
			}
		}
		out := batchAnswer{Results: results}
		for _, res := range results {
			switch res.Status {
			case StatusAccepted:
				out.Accepted++
			case StatusDuplicate:
				out.Duplicates++
			default:
				out.Refused++
			}
		}
		httpapi.WriteJSON(w, http.StatusOK, out)
	}
}

// rider resolves the caller, or with ?holder_id= one of their dependants.
func (a *API) rider(r *http.Request) (string, error) {
	p, _ := httpapi.PrincipalFrom(r)
	return a.holders.OwnOrDependant(r.Context(), p.Subject, r.URL.Query().Get("holder_id"))
}

var monthPattern = regexp.MustCompile(`^\d{4}-(0[1-9]|1[0-2])$`)

// months is the span of month ("2006-01") in the fare rules' time zone;
// empty: all time.
func (a *API) months(month string) (time.Time, time.Time, error) {
	if month == "" {
		return time.Unix(0, 0), time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC), nil
	}
	if !monthPattern.MatchString(month) {
		return time.Time{}, time.Time{}, errBadMonth
	}
	start, err := time.ParseInLocation("2006-01", month, a.svc.net.Location())
	if err != nil {
		return time.Time{}, time.Time{}, errBadMonth
	}
	return start, start.AddDate(0, 1, 0), nil
}

func (a *API) trips() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		pg, err := httpapi.ParsePage(r)
		if err != nil {
			httpapi.WriteError(w, r, errorAnswers, err)
			return
		}
		from, to, err := a.months(r.URL.Query().Get("month"))
		if err != nil {
			httpapi.WriteError(w, r, errorAnswers, err)
			return
		}
		id, err := a.rider(r)
		if err != nil {
			httpapi.WriteError(w, r, errorAnswers, err)
			return
		}
		p, err := a.svc.store.Trips(r.Context(), id, from, to, pg.Limit, pg.Cursor)
		if err != nil {
			httpapi.WriteError(w, r, errorAnswers, err)
			return
		}
		httpapi.WriteList(w, p.Items, p.NextCursor, func(t Trip) Trip { return t })
	}
}

func (a *API) statement() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		month := r.PathValue("month")
		from, to, err := a.months(month)
		if err == nil && month == "" {
			err = errBadMonth
		}
		if err != nil {
			httpapi.WriteError(w, r, errorAnswers, err)
			return
		}
		id, err := a.rider(r)
		if err != nil {
			httpapi.WriteError(w, r, errorAnswers, err)
			return
		}
		st, err := a.svc.statement(r.Context(), id, month, from, to)
		if err != nil {
			httpapi.WriteError(w, r, errorAnswers, err)
			return
		}
		httpapi.WriteJSON(w, http.StatusOK, st)
	}
}

// Statement is a month of a rider's trips, summed up.
type Statement struct {
	HolderID       string            `json:"holder_id"`
	Month          string            `json:"month"`
	Trips          int               `json:"trips"`
	MetroFen       int64             `json:"metro_fen"`
	BusFen         int64             `json:"bus_fen"`
	BaseFen        int64             `json:"base_fen"`
	Discounts      []DiscountSummary `json:"discounts"`
	ChargedFen     int64             `json:"charged_fen"`
	UnpaidFen      int64             `json:"unpaid_fen"`
	MissingTapOuts int               `json:"missing_tap_outs"`
}

// DiscountSummary is one kind of discount over a month.
type DiscountSummary struct {
	Code      string `json:"code"`
	AmountFen int64  `json:"amount_fen"`
	Count     int    `json:"count"`
}

// statement reads every trip of the month (a Query, page by page).
func (s *Service) statement(ctx context.Context, holderID, month string, from, to time.Time) (Statement, error) {
	st := Statement{HolderID: holderID, Month: month, Discounts: []DiscountSummary{}}
	cursor := ""
	for {
		p, err := s.store.Trips(ctx, holderID, from, to, 100, cursor)
		if err != nil {
			return Statement{}, err
		}
		for _, t := range p.Items {
			st.add(t)
		}
		if cursor = p.NextCursor; cursor == "" {
			return st, nil
		}
	}
}

func (st *Statement) add(t Trip) {
	st.Trips++
	st.BaseFen += t.Fare.BaseFen
	st.ChargedFen += t.Fare.ChargedFen
	st.UnpaidFen += t.UnpaidFen
	if t.Mode == "bus" {
		st.BusFen += t.Fare.ChargedFen
	} else {
		st.MetroFen += t.Fare.ChargedFen
	}
	if t.Status == TripMissingTapOut {
		st.MissingTapOuts++
	}
	for _, adj := range t.Fare.Adjustments {
		i := slices.IndexFunc(st.Discounts, func(d DiscountSummary) bool { return d.Code == adj.Code })
		if i < 0 {
			st.Discounts = append(st.Discounts, DiscountSummary{Code: adj.Code})
			i = len(st.Discounts) - 1
		}
		st.Discounts[i].AmountFen += adj.AmountFen
		st.Discounts[i].Count++
	}
}
