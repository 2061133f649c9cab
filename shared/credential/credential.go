// Package credential implements the citycode code format of
// infra/credential.md: CWT claims (RFC 8392) in a tagged COSE_Sign1 (RFC 9052)
// with a kid, Base45 (RFC 9285) behind the "CC1:" prefix, signed with Ed25519
// (EdDSA) or P-256 (ES256) only. It encodes codes, decodes them strictly and
// verifies them against a key lookup (the trust list), answering the stable
// reasons of the specification.
package credential

import (
	"crypto"
	"errors"
	"strconv"
	"time"
)

// The prefixes of the kinds of credential that share this format. A text
// verifies only as the kind its reader expects (VerifyAs), so a code is
// never taken for a certificate reference, nor the reverse.
const (
	// Prefix starts the text of every version 1 code: sub is a holder.
	Prefix = "CC1:"
	// ReferencePrefix starts a certificate's short verifiable reference
	// (infra/certificates.md): sub is the certificate id's 16 bytes.
	ReferencePrefix = "CR1:"
)

// knownPrefix reports whether prefix is one of the kinds above.
func knownPrefix(prefix string) bool { return prefix == Prefix || prefix == ReferencePrefix }

// MaxTextLen is the most characters a code may have: what a QR code of
// version 8 at error correction level M holds in alphanumeric mode (154 data
// codewords: 4 mode bits, 9 count bits and 11 bits per 2 characters).
const MaxTextLen = 221

// Claims are what a code says: who issued it, about which holder, when it is
// valid, and its single-use id. Times have second precision.
type Claims struct {
	// Issuer is the issuer id the trust list names, e.g. "CN-SH".
	Issuer string
	// Subject is the opaque holder reference: the 16 random bytes of the holder id.
	Subject [16]byte
	// IssuedAt is when the code was signed.
	IssuedAt time.Time
	// NotBefore is when the code starts being valid.
	NotBefore time.Time
	// Expires is when the code stops being valid.
	Expires time.Time
	// CodeID is the code's 8 random bytes, the single-use key.
	CodeID [8]byte
}

// Alg is a COSE algorithm identifier (IANA "COSE Algorithms").
type Alg int64

// The algorithms a code may be signed with; no other is ever accepted.
const (
	EdDSA Alg = -8 // Ed25519
	ES256 Alg = -7 // ECDSA P-256 with SHA-256
)

// String answers the JOSE/COSE name of the algorithm ("EdDSA", "ES256").
func (a Alg) String() string {
	switch a {
	case EdDSA:
		return "EdDSA"
	case ES256:
		return "ES256"
	default:
		return "Alg(" + strconv.FormatInt(int64(a), 10) + ")"
	}
}

// Key is a public verification key from the trust list.
type Key struct {
	// KID is the key id: KIDFor(Public).
	KID [8]byte
	// Alg is the only algorithm the key verifies.
	Alg Alg
	// Public is an ed25519.PublicKey (EdDSA) or *ecdsa.PublicKey on P-256 (ES256).
	Public crypto.PublicKey
	// NotBefore and NotAfter bound the key's validity window: codes issued at
	// t verify only when NotBefore <= t < NotAfter.
	NotBefore, NotAfter time.Time
	// Issuer is the issuer id whose codes the key signs.
	Issuer string
}

// KeyLookup finds a verification key by its kid; the trust list implements it.
type KeyLookup interface {
	LookupKey(kid [8]byte) (Key, bool)
}

// KeySet is a KeyLookup over a fixed set of keys.
type KeySet map[[8]byte]Key

// NewKeySet indexes keys by their KID.
func NewKeySet(keys ...Key) KeySet {
	s := make(KeySet, len(keys))
	for _, k := range keys {
		s[k.KID] = k
	}
	return s
}

// LookupKey answers the key with that kid.
func (s KeySet) LookupKey(kid [8]byte) (Key, bool) {
	k, ok := s[kid]
	return k, ok
}

// The reasons a code is refused, in the order Verify checks them. Errors from
// Decode and Verify wrap exactly one of these.
var (
	// ErrMalformed: not the expected prefix (CC1: for codes), bad Base45, not a COSE_Sign1, missing or
	// ill-typed header parameters or claims, critical header parameters.
	ErrMalformed = errors.New("malformed")
	// ErrUnknownKey: no key with the code's kid, or the key is not the
	// claimed issuer's.
	ErrUnknownKey = errors.New("unknown_key")
	// ErrBadSignature: alg not allowed or not the key's, or the signature
	// does not verify.
	ErrBadSignature = errors.New("bad_signature")
	// ErrKeyNotValid: the key's validity window does not cover the code's iat.
	ErrKeyNotValid = errors.New("key_not_valid")
	// ErrNotYetValid: nbf is after now + skew.
	ErrNotYetValid = errors.New("not_yet_valid")
	// ErrExpired: exp is at or before now - skew.
	ErrExpired = errors.New("expired")
)

var reasons = [...]error{ErrMalformed, ErrUnknownKey, ErrBadSignature, ErrKeyNotValid, ErrNotYetValid, ErrExpired}

// Reason answers the stable reason code ("malformed", "unknown_key",
// "bad_signature", "key_not_valid", "not_yet_valid", "expired") of an error
// from Decode or Verify, or "" for nil and for errors of other origins.
func Reason(err error) string {
	for _, r := range reasons {
		if errors.Is(err, r) {
			return r.Error()
		}
	}
	return ""
}
