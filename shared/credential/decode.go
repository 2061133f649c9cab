package credential

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/veraison/go-cose"
)

// Parsed is a decoded code whose signature has not been checked.
type Parsed struct {
	// Alg is the algorithm the protected header names (not necessarily allowed).
	Alg Alg
	// KID is the key id in the protected header.
	KID [8]byte
	// Claims are the code's claims.
	Claims Claims

	protected, payload, signature cbor.ByteString
}

// Decode parses a code without verifying it. It answers an error wrapping
// ErrMalformed when the text is not a well-formed version 1 code: no "CC1:"
// prefix, bad Base45, not a tagged COSE_Sign1 with an empty unprotected
// header, a protected header without an integer alg and an 8-byte kid or with
// critical parameters, or claims missing or of the wrong type (iss a
// non-empty text string, sub 16 and cti 8 bytes, exp, nbf and iat positive
// integers).
func Decode(text string) (*Parsed, error) {
	var p Parsed
	if err := p.decode(Prefix, text); err != nil {
		return nil, err
	}
	return &p, nil
}

func malformed(what string, err error) error {
	if err == nil {
		return fmt.Errorf("%w: %s", ErrMalformed, what)
	}
	return fmt.Errorf("%w: %s: %w", ErrMalformed, what, err)
}

func (p *Parsed) decode(prefix, text string) error {
	rest, ok := strings.CutPrefix(text, prefix)
	if !ok {
		return malformed("no "+prefix+" prefix", nil)
	}
	raw, err := base45AppendDecode(make([]byte, 0, len(rest)/3*2+1), rest)
	if err != nil {
		return malformed("base45", err)
	}
	if len(raw) == 0 || raw[0] != coseSign1Tag {
		return malformed("not a tagged COSE_Sign1", nil)
	}
	var msg sign1
	if err := cborCodec.dec.Unmarshal(raw[1:], &msg); err != nil {
		return malformed("COSE_Sign1", err)
	}
	if len(msg.Unprotected) != 1 || msg.Unprotected[0] != 0xa0 {
		return malformed("unprotected header not empty", nil)
	}
	if len(msg.Signature) == 0 {
		return malformed("empty signature", nil)
	}
	var h protectedHeader
	if err := cborCodec.dec.Unmarshal([]byte(msg.Protected), &h); err != nil {
		return malformed("protected header", err)
	}
	switch {
	case h.Crit != nil:
		return malformed("critical header parameters", nil)
	case h.Alg == 0:
		return malformed("no alg", nil)
	case len(h.KID) != len(p.KID):
		return malformed("kid not 8 bytes", nil)
	}
	var c cwtClaims
	if err := cborCodec.dec.Unmarshal([]byte(msg.Payload), &c); err != nil {
		return malformed("claims", err)
	}
	switch {
	case c.Iss == "":
		return malformed("no iss", nil)
	case len(c.Sub) != len(p.Claims.Subject):
		return malformed("sub not 16 bytes", nil)
	case len(c.Cti) != len(p.Claims.CodeID):
		return malformed("cti not 8 bytes", nil)
	case !validTime(c.Iat) || !validTime(c.Nbf) || !validTime(c.Exp):
		return malformed("iat, nbf or exp missing or out of range", nil)
	}
	*p = Parsed{
		Alg: Alg(h.Alg),
		Claims: Claims{
			Issuer:    c.Iss,
			IssuedAt:  time.Unix(int64(c.Iat), 0).UTC(),
			NotBefore: time.Unix(int64(c.Nbf), 0).UTC(),
			Expires:   time.Unix(int64(c.Exp), 0).UTC(),
		},
		protected: msg.Protected,
		payload:   msg.Payload,
		signature: msg.Signature,
	}
	copy(p.KID[:], h.KID)
	copy(p.Claims.Subject[:], c.Sub)
	copy(p.Claims.CodeID[:], c.Cti)
	return nil
}

func validTime(t uint64) bool { return t > 0 && t <= math.MaxInt64 }

// Verify decodes a code and checks it against the key lookup at time now,
// tolerating skew of clock difference. In order, the first failure is the
// answer: ErrMalformed, ErrUnknownKey (no key with the kid, or the key is
// not the claimed issuer's), ErrBadSignature (alg not EdDSA or ES256 or not
// the key's, or the signature does not verify), ErrKeyNotValid (the key's
// window does not cover iat), ErrNotYetValid (nbf after now + skew),
// ErrExpired (exp at or before now - skew).
func Verify(text string, keys KeyLookup, now time.Time, skew time.Duration) (Claims, error) {
	return VerifyAs(Prefix, text, keys, now, skew)
}

// VerifyAs is Verify for the kind of credential prefix names (Prefix or
// ReferencePrefix): a text with another prefix is ErrMalformed.
func VerifyAs(prefix, text string, keys KeyLookup, now time.Time, skew time.Duration) (Claims, error) {
	if !knownPrefix(prefix) {
		return Claims{}, malformed("unknown prefix "+prefix, nil)
	}
	var p Parsed
	if err := p.decode(prefix, text); err != nil {
		return Claims{}, err
	}
	key, ok := keys.LookupKey(p.KID)
	if !ok {
		return Claims{}, fmt.Errorf("%w: kid %x", ErrUnknownKey, p.KID)
	}
	if key.Issuer != p.Claims.Issuer {
		return Claims{}, fmt.Errorf("%w: kid %x is not issuer %q's", ErrUnknownKey, p.KID, p.Claims.Issuer)
	}
	if err := p.verifySignature(key); err != nil {
		return Claims{}, err
	}
	if p.Claims.IssuedAt.Before(key.NotBefore) || !p.Claims.IssuedAt.Before(key.NotAfter) {
		return Claims{}, fmt.Errorf("%w: kid %x not valid at iat", ErrKeyNotValid, p.KID)
	}
	if p.Claims.NotBefore.After(now.Add(skew)) {
		return Claims{}, ErrNotYetValid
	}
	if !p.Claims.Expires.After(now.Add(-skew)) {
		return Claims{}, ErrExpired
	}
	return p.Claims, nil
}

// verifySignature checks the algorithm against the allow-list and the key,
// then the signature over the Sig_structure.
func (p *Parsed) verifySignature(key Key) error {
	if p.Alg != key.Alg || (p.Alg != EdDSA && p.Alg != ES256) {
		return fmt.Errorf("%w: alg %v with a %v key", ErrBadSignature, p.Alg, key.Alg)
	}
	if alg, err := algFor(key.Public); err != nil || alg != key.Alg {
		return fmt.Errorf("%w: key %x is not a valid %v key", ErrBadSignature, p.KID, key.Alg)
	}
	tbs, err := cborCodec.enc.Marshal(sigStructure{
		Context:   "Signature1",
		Protected: p.protected,
		Payload:   p.payload,
	})
	if err != nil {
		return fmt.Errorf("%w: Sig_structure: %w", ErrBadSignature, err)
	}
	v, err := cose.NewVerifier(cose.Algorithm(p.Alg), key.Public)
	if err != nil {
		return fmt.Errorf("%w: key: %w", ErrBadSignature, err)
	}
	if err := v.Verify(tbs, []byte(p.signature)); err != nil {
		return fmt.Errorf("%w: %w", ErrBadSignature, err)
	}
	return nil
}
