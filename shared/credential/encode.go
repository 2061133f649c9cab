package credential

import (
	"crypto/rand"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/fxamacker/cbor/v2"
	"github.com/veraison/go-cose"
)

// Encode signs the claims and answers the code text: "CC1:" followed by the
// Base45 of the tagged COSE_Sign1. Times are truncated to the second. The
// same claims and Ed25519 key always give the same text. It refuses claims
// that would not verify (no issuer, times before 1970, expiry not after
// not-before) and codes longer than MaxTextLen.
func Encode(s *Signer, c Claims) (string, error) { return EncodeAs(Prefix, s, c) }

// EncodeAs is Encode for the kind of credential prefix names (Prefix or
// ReferencePrefix); any other prefix is refused.
func EncodeAs(prefix string, s *Signer, c Claims) (string, error) {
	if !knownPrefix(prefix) {
		return "", fmt.Errorf("credential: unknown prefix %q", prefix)
	}
	payload, err := encodeClaims(c)
	if err != nil {
		return "", err
	}
	msg := cose.Sign1Message{
		Headers: cose.Headers{
			Protected: cose.ProtectedHeader{
				cose.HeaderLabelAlgorithm: cose.Algorithm(s.Alg),
				cose.HeaderLabelKeyID:     s.KID[:],
			},
			Unprotected: cose.UnprotectedHeader{},
		},
		Payload: payload,
	}
	if err := msg.Sign(rand.Reader, nil, s.cose); err != nil {
		return "", fmt.Errorf("credential: sign: %w", err)
	}
	raw, err := msg.MarshalCBOR()
	if err != nil {
		return "", fmt.Errorf("credential: encode COSE_Sign1: %w", err)
	}
	text := prefix + base45Encode(raw)
	if len(text) > MaxTextLen {
		return "", fmt.Errorf("credential: text of %d characters exceeds %d (QR version 8-M)", len(text), MaxTextLen)
	}
	return text, nil
}

// encodeClaims answers the deterministic CBOR of the CWT claims.
func encodeClaims(c Claims) ([]byte, error) {
	switch {
	case c.Issuer == "" || !utf8.ValidString(c.Issuer):
		return nil, errors.New("credential: issuer must be non-empty UTF-8")
	case c.IssuedAt.Unix() <= 0 || c.NotBefore.Unix() <= 0 || c.Expires.Unix() <= 0:
		return nil, errors.New("credential: times must be after 1970")
	case c.Expires.Unix() <= c.NotBefore.Unix():
		return nil, errors.New("credential: expiry must be after not-before")
	}
	b, err := cborCodec.enc.Marshal(cwtClaims{
		Iss: c.Issuer,
		Sub: cbor.ByteString(c.Subject[:]),
		Exp: uint64(c.Expires.Unix()),
		Nbf: uint64(c.NotBefore.Unix()),
		Iat: uint64(c.IssuedAt.Unix()),
		Cti: cbor.ByteString(c.CodeID[:]),
	})
	if err != nil {
		return nil, fmt.Errorf("credential: encode claims: %w", err)
	}
	return b, nil
}
