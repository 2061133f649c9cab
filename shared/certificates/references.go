package certificates

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/citycode/citycode/shared/credential"
	"github.com/citycode/citycode/shared/ddb"
	"github.com/citycode/citycode/shared/holders"
	"github.com/citycode/citycode/shared/httpapi"
	"github.com/citycode/citycode/shared/logging"
	"github.com/citycode/citycode/shared/qrissue"
)

// A short verifiable reference is a certificate's own QR (infra/
// certificates.md): the citycode credential format behind "CR1:", whose
// sub is the certificate id's 16 bytes, signed by a document key. A
// counter checks it once; it carries no personal data and no category.

// Reference check reasons beyond the credential's own (credential.Reason).
const (
	ReasonCertificateNotFound = "certificate_not_found"
	ReasonReplayed            = "replayed"
	ReasonPurposeNotAllowed   = "purpose_not_allowed"
)

// referenceSkew is the clock difference tolerated between signer and
// checker (both are this function; kept as for codes).
const referenceSkew = 30 * time.Second

// maxReferenceLen bounds the reference text accepted for checking.
const maxReferenceLen = 512

// errReplayed is a reference checked before.
var errReplayed = errors.New("certificates: reference already checked")

// certRef is the 16 bytes of a certificate id (crt_ and base32).
func certRef(id string) ([16]byte, error) {
	var ref [16]byte
	rest, ok := strings.CutPrefix(id, "crt_")
	b, err := idEncoding.DecodeString(strings.ToUpper(rest))
	if !ok || err != nil || len(b) != len(ref) {
		return ref, fmt.Errorf("certificates: %q is not a certificate id", id)
	}
	copy(ref[:], b)
	return ref, nil
}

// certIDFromRef is the certificate id whose bytes ref are.
func certIDFromRef(ref [16]byte) string {
	return "crt_" + strings.ToLower(idEncoding.EncodeToString(ref[:]))
}

// Reference signs a reference to certificate id, valid from now for
// lifetime, by the newest document key.
func (k *DocumentKeys) Reference(id string, now time.Time, lifetime time.Duration) (string, credential.Claims, error) {
	ref, err := certRef(id)
	if err != nil {
		return "", credential.Claims{}, err
	}
	key, err := k.current(now)
	if err != nil {
		return "", credential.Claims{}, err
	}
	signer, err := credential.NewSigner(key.Private)
	if err != nil {
		return "", credential.Claims{}, err
	}
	now = now.Truncate(time.Second)
	c := credential.Claims{Issuer: k.ring.Issuer, Subject: ref, IssuedAt: now, NotBefore: now, Expires: now.Add(lifetime)}
	_, _ = rand.Read(c.CodeID[:])
	text, err := credential.EncodeAs(credential.ReferencePrefix, signer, c)
	return text, c, err
}

// LookupKey answers the document key with kid, for checking references:
// only document keys sign them, so a code key never verifies one.
func (k *DocumentKeys) LookupKey(kid [8]byte) (credential.Key, bool) {
	for _, sk := range k.ring.Keys {
		pub := sk.Private.Public()
		if id, err := credential.KIDFor(pub); err == nil && id == kid {
			return credential.Key{KID: id, Alg: credential.EdDSA, Public: pub, NotBefore: sk.NotBefore, NotAfter: sk.NotAfter, Issuer: k.ring.Issuer}, true
		}
	}
	return credential.Key{}, false
}

// AcceptReference uses up a reference (its mark in CodeUsesTable, kept
// until it expires) and writes the check's entry in the holder's access log,
// in one transaction; errReplayed when the mark exists.
func (s *Store) AcceptReference(ctx context.Context, c credential.Claims, holderID string, e holders.AccessEntry) error {
	logged, err := holders.AccessWrite(s.holders, holderID, e)
	if err != nil {
		return err
	}
	mark := ddb.PutNew(s.uses, map[string]types.AttributeValue{
		"pk": ddb.S("certref#" + hex.EncodeToString(c.CodeID[:])), "expires_at": ddb.N(c.Expires.Add(referenceSkew).Unix()),
	})
	_, err = s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{mark, logged}})
	if ddb.Cancelled(err)[0] {
		return errReplayed
	}
	if err != nil {
		return fmt.Errorf("accept reference: %w", err)
	}
	return nil
}

type referenceJSON struct {
	Reference string    `json:"reference"`
	ExpiresAt time.Time `json:"expires_at"`
}

// makeReference answers a fresh reference to one of the resident's (or a
// dependant's) certificates: JSON, or the QR symbol with Accept: image/png.
// Nothing is stored; any status may be referenced (the check says it).
func (a *API) makeReference() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, err := a.holderCert(r)
		if err != nil {
			httpapi.WriteError(w, r, errorAnswers, err)
			return
		}
		// A reference is signed by a document key: archived first.
		if err := a.store.keysArchived(r.Context()); err != nil {
			httpapi.WriteError(w, r, errorAnswers, err)
			return
		}
		text, claims, err := a.keys.Reference(c.ID, a.now(), a.referenceLifetime)
		if err != nil {
			httpapi.WriteError(w, r, errorAnswers, err)
			return
		}
		if !qrissue.WantsPNG(r) {
			w.Header().Set("Cache-Control", "no-store")
			httpapi.WriteJSON(w, http.StatusCreated, referenceJSON{Reference: text, ExpiresAt: claims.Expires})
			return
		}
		png, err := qrissue.PNG(text)
		if err != nil {
			httpapi.WriteError(w, r, errorAnswers, err)
			return
		}
		w.Header().Set("Content-Type", "image/png")
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Reference-Expires-At", claims.Expires.Format(time.RFC3339))
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write(png)
	}
}

type referenceCheck struct {
	Reference string `json:"reference"`
	Purpose   string `json:"purpose"`
}

// checkedCertificate is what a check says of the certificate: never its
// holder.
type checkedCertificate struct {
	CertificateID string  `json:"certificate_id"`
	Category      string  `json:"category"`
	IssuerOrg     string  `json:"issuer_org"`
	Status        string  `json:"status"`
	ValidFrom     string  `json:"valid_from"`
	ValidUntil    *string `json:"valid_until"`
}

type referenceResult struct {
	Valid       bool                       `json:"valid"`
	Reason      string                     `json:"reason,omitempty"`
	Certificate *checkedCertificate        `json:"certificate,omitempty"`
	Fields      map[string]json.RawMessage `json:"fields,omitempty"`
}

// checkReference checks a reference for the caller's purpose, once: the
// first failure answers, as codes do; every check that resolved a
// certificate is in its holder's access log before the answer.
func (a *API) checkReference() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req referenceCheck
		if err := httpapi.DecodeJSON(r, &req); err != nil {
			httpapi.WriteError(w, r, errorAnswers, err)
			return
		}
		var errs []httpapi.FieldError
		if req.Reference == "" || len(req.Reference) > maxReferenceLen {
			errs = append(errs, httpapi.FieldError{Field: "reference", Code: "required", Detail: "the reference's text (CR1:…)"})
		}
		if req.Purpose == "" {
			errs = append(errs, httpapi.FieldError{Field: "purpose", Code: "required", Detail: "why the certificate is read"})
		} else {
			errs = append(errs, a.cats.PurposeError(req.Purpose)...)
		}
		if len(errs) > 0 {
			httpapi.WriteProblem(w, r, httpapi.Invalid(errs...))
			return
		}
		res, err := a.check(r.Context(), req, r)
		if err != nil {
			httpapi.WriteError(w, r, errorAnswers, err)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		httpapi.WriteJSON(w, http.StatusOK, res)
	}
}

func (a *API) check(ctx context.Context, req referenceCheck, r *http.Request) (referenceResult, error) {
	p, _ := httpapi.PrincipalFrom(r)
	now := a.now()
	claims, err := credential.VerifyAs(credential.ReferencePrefix, req.Reference, a.keys, now, referenceSkew)
	if reason := credential.Reason(err); reason != "" {
		return referenceResult{Reason: reason}, nil
	} else if err != nil {
		return referenceResult{}, err
	}
	c, err := a.store.Get(ctx, certIDFromRef(claims.Subject))
	if errors.Is(err, ErrCertificateNotFound) {
		logging.FromContext(ctx).Info("reference to an unknown certificate", "org", p.Org, "sub", p.Subject)
		return referenceResult{Reason: ReasonCertificateNotFound}, nil
	} else if err != nil {
		return referenceResult{}, err
	}
	res := referenceResult{Certificate: &checkedCertificate{CertificateID: c.ID, Category: c.Category, IssuerOrg: c.IssuerOrg,
		Status: c.StatusAt(now), ValidFrom: c.ValidFrom}}
	if c.ValidUntil != "" {
		res.Certificate.ValidUntil = &c.ValidUntil
	}
	entry := holders.AccessEntry{At: now.UTC(), Organisation: p.Org, Actor: p.Subject, Purpose: req.Purpose, What: []string{c.Category}}
	cat, known := a.cats.Category(c.Category)
	switch {
	case res.Certificate.Status != StatusActive:
		res.Reason, entry.Outcome = "certificate_"+res.Certificate.Status, outcomeStatusOnly
	case !known || !a.cats.MayUse(a.orgs[p.Org], req.Purpose) || len(cat.Released(req.Purpose)) == 0:
		res.Reason, entry.Outcome = ReasonPurposeNotAllowed, outcomeRefused
	default:
		if res.Fields, entry.What, err = released(c, cat.Released(req.Purpose)); err != nil {
			return referenceResult{}, err
		}
		res.Valid, entry.Outcome = true, outcomeReleased
	}
	entry.Reason = res.Reason
	err = a.store.AcceptReference(ctx, claims, c.HolderID, entry)
	if errors.Is(err, errReplayed) {
		entry.Outcome, entry.Reason, entry.What = outcomeRefused, ReasonReplayed, []string{c.Category}
		if err := a.store.LogAccess(ctx, c.HolderID, entry); err != nil {
			return referenceResult{}, err
		}
		return referenceResult{Reason: ReasonReplayed}, nil
	}
	if err != nil {
		return referenceResult{}, err
	}
	return res, nil
}

// released answers the fields of c that names lists, and what to log of
// them (<category>.<field>).
func released(c Certificate, names []string) (map[string]json.RawMessage, []string, error) {
	var all map[string]json.RawMessage
	if err := json.Unmarshal(c.Fields, &all); err != nil {
		return nil, nil, fmt.Errorf("certificate fields: %w", err)
	}
	out, what := map[string]json.RawMessage{}, []string{}
	for _, n := range names {
		if v, ok := all[n]; ok {
			out[n] = v
			what = append(what, c.Category+"."+n)
		}
	}
	return out, what, nil
}
