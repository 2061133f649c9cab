// Package qrissue is qr-issue: a fresh, short-lived, signed code for the
// signed-in resident or a dependant they manage, as text and as a PNG.
package qrissue

import (
	"context"
	"crypto/rand"
	"errors"
	"net/http"
	"strings"
	"time"

	qrcode "github.com/skip2/go-qrcode"

	"github.com/citycode/citycode/shared/credential"
	"github.com/citycode/citycode/shared/holders"
	"github.com/citycode/citycode/shared/httpapi"
)

// PNGSize is the side of the PNG answered for Accept: image/png, in pixels.
const PNGSize = 384

var errorAnswers = httpapi.ErrorMap{
	holders.ErrNotEnrolled:       httpapi.NewError(http.StatusNotFound, "not_enrolled", "enroll first: POST /v1/holders"),
	holders.ErrDependantNotFound: httpapi.NewError(http.StatusNotFound, "dependant_not_found", "no such dependant of yours"),
	errSuspended:                 httpapi.NewError(http.StatusConflict, "holder_suspended", "this holder's code is suspended"),
}

var errSuspended = errors.New("qrissue: holder suspended")

// Signers answers the key to sign with now (trust.KeyRing does).
type Signers interface {
	Signer(now time.Time) (*credential.Signer, error)
}

// Holders is what issuing needs of the holders store.
type Holders interface {
	HolderIDForLogin(ctx context.Context, sub string) (string, error)
	Get(ctx context.Context, id string) (holders.Holder, error)
	Dependant(ctx context.Context, guardian, id string) (holders.Holder, error)
}

// API serves POST /v1/codes.
type API struct {
	holders  Holders
	keys     Signers
	issuer   string
	lifetime time.Duration
	now      func() time.Time
}

// NewAPI returns the route; codes live for lifetime.
func NewAPI(h Holders, keys Signers, issuer string, lifetime time.Duration) *API {
	return &API{holders: h, keys: keys, issuer: issuer, lifetime: lifetime, now: time.Now}
}

// Routes registers the route on mux.
func (a *API) Routes(mux *http.ServeMux) {
	mux.Handle("POST /v1/codes", httpapi.RequireScope("resident", a.issue()))
}

type issueRequest struct {
	HolderID string `json:"holder_id"`
}

type issueResponse struct {
	Code         string    `json:"code"`
	HolderID     string    `json:"holder_id"`
	ExpiresAt    time.Time `json:"expires_at"`
	RefreshAfter time.Time `json:"refresh_after"`
}

func (a *API) issue() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req issueRequest
		if body, err := httpapi.ReadBody(r); err != nil {
			httpapi.WriteError(w, r, errorAnswers, err)
			return
		} else if len(strings.TrimSpace(string(body))) > 0 {
			if err := httpapi.DecodeJSON(r, &req); err != nil {
				httpapi.WriteError(w, r, errorAnswers, err)
				return
			}
		}
		h, err := a.holder(r, req.HolderID)
		if err != nil {
			httpapi.WriteError(w, r, errorAnswers, err)
			return
		}
		code, claims, err := a.sign(h.ID)
		if err != nil {
			httpapi.WriteError(w, r, errorAnswers, err)
			return
		}
		// Refresh when two thirds of the lifetime are gone, so a code shown
		// at a gate always has time left.
		refresh := claims.IssuedAt.Add(a.lifetime * 2 / 3)
		if WantsPNG(r) {
			png, err := PNG(code)
			if err != nil {
				httpapi.WriteError(w, r, errorAnswers, err)
				return
			}
			w.Header().Set("Content-Type", "image/png")
			w.Header().Set("Cache-Control", "no-store")
			w.Header().Set("Code-Expires-At", claims.Expires.Format(time.RFC3339))
			w.Header().Set("Code-Refresh-After", refresh.Format(time.RFC3339))
			w.WriteHeader(http.StatusCreated)
			_, _ = w.Write(png)
			return
		}
		httpapi.WriteJSON(w, http.StatusCreated, issueResponse{Code: code, HolderID: h.ID, ExpiresAt: claims.Expires, RefreshAfter: refresh})
	}
}

// holder is the caller's holder or, with id, one of their dependants; it
// must be active.
func (a *API) holder(r *http.Request, id string) (holders.Holder, error) {
	p, _ := httpapi.PrincipalFrom(r)
	me, err := a.holders.HolderIDForLogin(r.Context(), p.Subject)
	if err != nil {
		return holders.Holder{}, err
	}
	var h holders.Holder
	if id == "" || id == me {
		h, err = a.holders.Get(r.Context(), me)
	} else {
		h, err = a.holders.Dependant(r.Context(), me, id)
	}
	if err != nil {
		return holders.Holder{}, err
	}
	if h.Status != holders.StatusActive {
		return holders.Holder{}, errSuspended
	}
	return h, nil
}

func (a *API) sign(holderID string) (string, credential.Claims, error) {
	ref, err := holders.Ref(holderID)
	if err != nil {
		return "", credential.Claims{}, err
	}
	now := a.now().Truncate(time.Second)
	c := credential.Claims{Issuer: a.issuer, Subject: ref, IssuedAt: now, NotBefore: now, Expires: now.Add(a.lifetime)}
	_, _ = rand.Read(c.CodeID[:])
	signer, err := a.keys.Signer(now)
	if err != nil {
		return "", credential.Claims{}, err
	}
	code, err := credential.Encode(signer, c)
	return code, c, err
}

// WantsPNG reports whether the client asked for the picture.
func WantsPNG(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "image/png")
}

// PNG renders a credential's text (a code, a certificate reference) as the
// QR symbol the API answers: EC level M, PNGSize pixels square.
func PNG(text string) ([]byte, error) { return qrcode.Encode(text, qrcode.Medium, PNGSize) }
