package subscriptions

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/google/uuid"

	"github.com/citycode/citycode/shared/httpapi"
	"github.com/citycode/citycode/shared/idempotency"
	"github.com/citycode/citycode/shared/outbox"
)

// Scope is what a token needs for every route here.
const Scope = "events:subscribe"

var errNotActive = errors.New("subscriptions: subscription not active")

// errorAnswers maps the capability's sentinels to their answers, in one place.
var errorAnswers = httpapi.ErrorMap{
	ErrNotFound:      httpapi.NewError(http.StatusNotFound, "subscription_not_found", "no such subscription of your organisation"),
	ErrTooMany:       httpapi.NewError(http.StatusUnprocessableEntity, "too_many_subscriptions", "an organisation has at most "+strconv.Itoa(MaxPerOrg)+" subscriptions"),
	errNotActive:     httpapi.NewError(http.StatusConflict, "subscription_not_active", "only an active subscription replays; set its status to active first"),
	errCorruptCursor: httpapi.NewError(http.StatusBadRequest, "invalid_query", "the cursor is not one this API gave out"),
}

// API serves /v1/subscriptions.
type API struct {
	store  *Store
	idem   *idempotency.Store
	policy Policy
	// events finds the position of an event id for replays; retention is
	// how far back replays reach.
	events    *outbox.Outbox
	retention time.Duration
	replays   ReplayQueue
	// allowLoopback admits endpoints on this machine (local runs).
	allowLoopback bool
	now           func() time.Time
}

// ReplayQueue is where a replay's first step goes: the delivery retry queue.
type ReplayQueue struct {
	SQS *sqs.Client
	URL string
}

// ReplayStep is the delivery queue message that makes the delivery
// function send, in order, the events after Position that the
// subscription wants (infra/delivery.md).
type ReplayStep struct {
	Kind           string          `json:"kind"` // always "replay"
	SubscriptionID string          `json:"subscription_id"`
	ReplayID       string          `json:"replay_id"`
	Position       outbox.Position `json:"position"`
}

func (q ReplayQueue) send(ctx context.Context, step ReplayStep) error {
	body, err := json.Marshal(step)
	if err != nil {
		return fmt.Errorf("marshal replay step: %w", err)
	}
	if _, err := q.SQS.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(q.URL), MessageBody: aws.String(string(body))}); err != nil {
		return fmt.Errorf("enqueue replay step: %w", err)
	}
	return nil
}

// Options are an API's dependencies beyond its stores.
type Options struct {
	Policy    Policy
	Events    *outbox.Outbox
	Retention time.Duration // of the events, EVENT_RETENTION
	Replays   ReplayQueue
	// AllowLoopback admits http and https endpoints on 127.0.0.1, ::1 and
	// localhost (ALLOW_INSECURE_WEBHOOKS, local runs only).
	AllowLoopback bool
}

// NewAPI returns the API over store, with idem guarding the POSTs.
func NewAPI(store *Store, idem *idempotency.Store, o Options) *API {
	return &API{store: store, idem: idem, policy: o.Policy, events: o.Events, retention: o.Retention,
		replays: o.Replays, allowLoopback: o.AllowLoopback, now: time.Now}
}

// Routes registers every route of infra/delivery.md on mux.
func (a *API) Routes(mux *http.ServeMux) {
	agency := func(h http.Handler) http.Handler { return httpapi.RequireScope(Scope, requireOrg(h)) }
	mux.Handle("POST /v1/subscriptions", agency(a.idem.Honour(a.create())))
	mux.Handle("GET /v1/subscriptions", agency(a.list()))
	mux.Handle("GET /v1/subscriptions/{subscription_id}", agency(a.get()))
	mux.Handle("PATCH /v1/subscriptions/{subscription_id}", agency(a.update()))
	mux.Handle("DELETE /v1/subscriptions/{subscription_id}", agency(a.delete()))
	mux.Handle("POST /v1/subscriptions/{subscription_id}/secret-rotations", agency(a.idem.Honour(a.rotate())))
	mux.Handle("GET /v1/subscriptions/{subscription_id}/dead-letters", agency(a.deadLetters()))
	mux.Handle("POST /v1/subscriptions/{subscription_id}/replays", agency(a.idem.Honour(a.replay())))
}

// requireOrg refuses tokens without an organisation: subscriptions belong
// to organisations, not to their clients.
func requireOrg(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if org(r) == "" {
			httpapi.WriteProblem(w, r, httpapi.NewError(http.StatusForbidden, "organisation_required", "the token names no organisation (org claim)"))
			return
		}
		h.ServeHTTP(w, r)
	})
}

func org(r *http.Request) string {
	p, _ := httpapi.PrincipalFrom(r)
	return p.Org
}

// owned reads the path's subscription if it is the caller's organisation's;
// anyone else's is ErrNotFound, as if it did not exist.
func (a *API) owned(r *http.Request) (Subscription, error) {
	id := r.PathValue("subscription_id")
	if !validID(id) {
		return Subscription{}, ErrNotFound
	}
	sub, err := a.store.Get(r.Context(), id)
	if err != nil {
		return Subscription{}, err
	}
	if sub.Org != org(r) {
		return Subscription{}, ErrNotFound
	}
	return sub, nil
}

// subscriptionJSON is a subscription as answered: never its secrets, but
// for the new one right after creation or rotation.
type subscriptionJSON struct {
	SubscriptionID          string     `json:"subscription_id"`
	Endpoint                string     `json:"endpoint"`
	Types                   []string   `json:"types"`
	Status                  string     `json:"status"`
	DisabledReason          string     `json:"disabled_reason,omitempty"`
	CreatedAt               time.Time  `json:"created_at"`
	UpdatedAt               time.Time  `json:"updated_at"`
	Secret                  string     `json:"secret,omitempty"`
	PreviousSecretExpiresAt *time.Time `json:"previous_secret_expires_at,omitempty"`
}

func toJSON(s Subscription) subscriptionJSON {
	return subscriptionJSON{SubscriptionID: s.ID, Endpoint: s.Endpoint, Types: s.Types, Status: s.Status,
		DisabledReason: s.DisabledReason, CreatedAt: s.CreatedAt, UpdatedAt: s.UpdatedAt}
}

type createRequest struct {
	Endpoint string   `json:"endpoint"`
	Types    []string `json:"types"`
}

func (a *API) create() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req createRequest
		if err := httpapi.DecodeJSON(r, &req); err != nil {
			httpapi.WriteError(w, r, errorAnswers, err)
			return
		}
		if req.Types == nil {
			req.Types = []string{} // required: CheckTypes refuses it
		}
		eventTypes, err := a.check(r, &req.Endpoint, req.Types)
		if err != nil {
			httpapi.WriteError(w, r, errorAnswers, err)
			return
		}
		sub, err := a.store.Create(r.Context(), org(r), req.Endpoint, eventTypes)
		if err != nil {
			httpapi.WriteError(w, r, errorAnswers, err)
			return
		}
		out := toJSON(sub)
		out.Secret = FormatSecret(sub.Secrets[0].Key)
		w.Header().Set("Location", "/v1/subscriptions/"+sub.ID)
		httpapi.WriteJSON(w, http.StatusCreated, out)
	}
}

// check validates an endpoint and a filter (either may be absent: nil),
// then holds the filter against the organisation's policy. It answers the
// filter without duplicates.
func (a *API) check(r *http.Request, endpoint *string, eventTypes []string) ([]string, error) {
	var errs []httpapi.FieldError
	if endpoint != nil {
		if err := CheckEndpoint(*endpoint, a.allowLoopback); err != nil {
			errs = append(errs, httpapi.FieldError{Field: "endpoint", Code: "invalid", Detail: err.Error()})
		}
	}
	if eventTypes != nil {
		var err error
		if eventTypes, err = CheckTypes(eventTypes); err != nil {
			errs = append(errs, httpapi.FieldError{Field: "types", Code: "invalid", Detail: err.Error()})
		}
	}
	if len(errs) > 0 {
		return nil, httpapi.Invalid(errs...)
	}
	for _, t := range eventTypes {
		if !a.policy.Allows(org(r), t) {
			return nil, httpapi.NewError(http.StatusForbidden, "event_type_not_allowed",
				fmt.Sprintf("%s is outside what your organisation's purpose allows", t))
		}
	}
	return eventTypes, nil
}

func (a *API) list() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		pg, err := httpapi.ParsePage(r)
		if err != nil {
			httpapi.WriteError(w, r, errorAnswers, err)
			return
		}
		p, err := a.store.ListByOrg(r.Context(), org(r), pg.Limit, pg.Cursor)
		if err != nil {
			httpapi.WriteError(w, r, errorAnswers, err)
			return
		}
		httpapi.WriteList(w, p.Items, p.NextCursor, toJSON)
	}
}

func (a *API) get() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sub, err := a.owned(r)
		if err != nil {
			httpapi.WriteError(w, r, errorAnswers, err)
			return
		}
		httpapi.WriteJSON(w, http.StatusOK, toJSON(sub))
	}
}

type updateRequest struct {
	Status   *string  `json:"status"`
	Endpoint *string  `json:"endpoint"`
	Types    []string `json:"types"`
}

func (a *API) update() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req updateRequest
		if err := httpapi.DecodeJSON(r, &req); err != nil {
			httpapi.WriteError(w, r, errorAnswers, err)
			return
		}
		switch {
		case req.Status == nil && req.Endpoint == nil && req.Types == nil:
			httpapi.WriteProblem(w, r, httpapi.Invalid(httpapi.FieldError{Field: "status", Code: "required", Detail: "send status, endpoint, types or several"}))
			return
		case req.Status != nil && *req.Status != StatusActive && *req.Status != StatusPaused:
			httpapi.WriteProblem(w, r, httpapi.Invalid(httpapi.FieldError{Field: "status", Code: "invalid", Detail: "must be active or paused"}))
			return
		}
		eventTypes, err := a.check(r, req.Endpoint, req.Types)
		if err != nil {
			httpapi.WriteError(w, r, errorAnswers, err)
			return
		}
		id := r.PathValue("subscription_id")
		if !validID(id) {
			httpapi.WriteError(w, r, errorAnswers, ErrNotFound)
			return
		}
		sub, err := a.store.Update(r.Context(), org(r), id, Update{Status: req.Status, Endpoint: req.Endpoint, Types: eventTypes})
		if err != nil {
			httpapi.WriteError(w, r, errorAnswers, err)
			return
		}
		httpapi.WriteJSON(w, http.StatusOK, toJSON(sub))
	}
}

func (a *API) delete() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("subscription_id")
		if !validID(id) {
			httpapi.WriteError(w, r, errorAnswers, ErrNotFound)
			return
		}
		if err := a.store.Delete(r.Context(), org(r), id); err != nil {
			httpapi.WriteError(w, r, errorAnswers, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}
}

func (a *API) rotate() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("subscription_id")
		if !validID(id) {
			httpapi.WriteError(w, r, errorAnswers, ErrNotFound)
			return
		}
		sub, err := a.store.RotateSecret(r.Context(), org(r), id)
		if err != nil {
			httpapi.WriteError(w, r, errorAnswers, err)
			return
		}
		out := toJSON(sub)
		out.Secret = FormatSecret(sub.Secrets[0].Key)
		if len(sub.Secrets) > 1 {
			out.PreviousSecretExpiresAt = &sub.Secrets[1].ExpiresAt
		}
		httpapi.WriteJSON(w, http.StatusCreated, out)
	}
}

type deadLetterJSON struct {
	EventID    string          `json:"event_id"`
	EventType  string          `json:"event_type"`
	Attempts   int             `json:"attempts"`
	LastStatus int             `json:"last_status,omitempty"`
	LastError  string          `json:"last_error,omitempty"`
	DeadAt     time.Time       `json:"dead_at"`
	Event      outbox.Envelope `json:"event"`
}

func (a *API) deadLetters() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		pg, err := httpapi.ParsePage(r)
		if err != nil {
			httpapi.WriteError(w, r, errorAnswers, err)
			return
		}
		sub, err := a.owned(r)
		if err != nil {
			httpapi.WriteError(w, r, errorAnswers, err)
			return
		}
		p, err := a.store.DeadLetters(r.Context(), sub.ID, pg.Limit, pg.Cursor)
		if err != nil {
			httpapi.WriteError(w, r, errorAnswers, err)
			return
		}
		httpapi.WriteList(w, p.Items, p.NextCursor, func(d DeadLetter) deadLetterJSON {
			return deadLetterJSON{EventID: d.Event.ID, EventType: d.Event.Type, Attempts: d.Attempts,
				LastStatus: d.LastStatus, LastError: d.LastError, DeadAt: d.DeadAt, Event: d.Event}
		})
	}
}

type replayRequest struct {
	FromTime     *string `json:"from_time"`
	AfterEventID *string `json:"after_event_id"`
}

type replayJSON struct {
	ReplayID       string `json:"replay_id"`
	SubscriptionID string `json:"subscription_id"`
}

func (a *API) replay() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req replayRequest
		if err := httpapi.DecodeJSON(r, &req); err != nil {
			httpapi.WriteError(w, r, errorAnswers, err)
			return
		}
		if (req.FromTime == nil) == (req.AfterEventID == nil) {
			httpapi.WriteProblem(w, r, httpapi.Invalid(httpapi.FieldError{Field: "from_time", Code: "required", Detail: "send from_time or after_event_id, not both"}))
			return
		}
		sub, err := a.owned(r)
		if err != nil {
			httpapi.WriteError(w, r, errorAnswers, err)
			return
		}
		if sub.Status != StatusActive {
			httpapi.WriteError(w, r, errorAnswers, errNotActive)
			return
		}
		pos, err := a.position(r.Context(), req)
		if err != nil {
			httpapi.WriteError(w, r, errorAnswers, err)
			return
		}
		id, err := newID("rpl")
		if err != nil {
			httpapi.WriteError(w, r, errorAnswers, err)
			return
		}
		if err := a.replays.send(r.Context(), ReplayStep{Kind: "replay", SubscriptionID: sub.ID, ReplayID: id, Position: pos}); err != nil {
			httpapi.WriteError(w, r, errorAnswers, err)
			return
		}
		httpapi.WriteJSON(w, http.StatusAccepted, replayJSON{ReplayID: id, SubscriptionID: sub.ID})
	}
}

// position is where a replay starts: a time within the retention window,
// or an event still in it.
func (a *API) position(ctx context.Context, req replayRequest) (outbox.Position, error) {
	if req.FromTime != nil {
		now := a.now()
		t, err := time.Parse(time.RFC3339Nano, *req.FromTime)
		switch {
		case err != nil:
			return "", httpapi.Invalid(httpapi.FieldError{Field: "from_time", Code: "invalid", Detail: "must be an RFC 3339 time"})
		case t.After(now):
			return "", httpapi.Invalid(httpapi.FieldError{Field: "from_time", Code: "out_of_range", Detail: "must not be in the future"})
		case t.Before(now.Add(-a.retention)):
			return "", httpapi.Invalid(httpapi.FieldError{Field: "from_time", Code: "out_of_range",
				Detail: "must be within the retention window, the last " + a.retention.String()})
		}
		return outbox.At(t), nil
	}
	if _, err := uuid.Parse(*req.AfterEventID); err != nil {
		return "", httpapi.Invalid(httpapi.FieldError{Field: "after_event_id", Code: "invalid", Detail: "must be an event id (a UUID)"})
	}
	pos, err := a.events.After(ctx, *req.AfterEventID)
	if errors.Is(err, outbox.ErrUnknownEvent) {
		return "", httpapi.Invalid(httpapi.FieldError{Field: "after_event_id", Code: "unknown_event", Detail: "no such event within the retention window"})
	}
	return pos, err
}
