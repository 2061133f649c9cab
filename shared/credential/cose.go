package credential

import (
	"github.com/fxamacker/cbor/v2"
)

// coseSign1Tag is the first byte of a tagged COSE_Sign1: CBOR tag 18 in its
// one-byte form, as core deterministic encoding writes it.
const coseSign1Tag = 0xd2

// sign1 is the content of a COSE_Sign1 (RFC 9052, section 4.2). Byte strings
// are cbor.ByteString so that only CBOR byte strings decode into them.
type sign1 struct {
	_           struct{} `cbor:",toarray"`
	Protected   cbor.ByteString
	Unprotected cbor.RawMessage
	Payload     cbor.ByteString
	Signature   cbor.ByteString
}

// protectedHeader holds the header parameters a code uses; other
// non-critical parameters are ignored (RFC 9052, section 3).
type protectedHeader struct {
	Alg  int64           `cbor:"1,keyasint"`
	Crit cbor.RawMessage `cbor:"2,keyasint"`
	KID  cbor.ByteString `cbor:"4,keyasint"`
}

// cwtClaims is the CWT claims set of a code (RFC 8392, integer keys); other
// claims are ignored, as RFC 8392 asks.
type cwtClaims struct {
	Iss string          `cbor:"1,keyasint"`
	Sub cbor.ByteString `cbor:"2,keyasint"`
	Exp uint64          `cbor:"4,keyasint"`
	Nbf uint64          `cbor:"5,keyasint"`
	Iat uint64          `cbor:"6,keyasint"`
	Cti cbor.ByteString `cbor:"7,keyasint"`
}

// sigStructure is the Sig_structure of a COSE_Sign1 (RFC 9052, section 4.4),
// whose CBOR encoding is what the signature covers.
type sigStructure struct {
	_           struct{} `cbor:",toarray"`
	Context     string
	Protected   cbor.ByteString
	ExternalAAD cbor.ByteString
	Payload     cbor.ByteString
}

// codec holds the CBOR modes, built once: core deterministic encoding, and
// strict decoding (no duplicate map keys, no indefinite lengths, no tags,
// valid UTF-8 only).
type codec struct {
	enc cbor.EncMode
	dec cbor.DecMode
}

var cborCodec = func() codec {
	enc, err := cbor.CoreDetEncOptions().EncMode()
	if err != nil {
		panic(err)
	}
	dec, err := cbor.DecOptions{
		DupMapKey:   cbor.DupMapKeyEnforcedAPF,
		IndefLength: cbor.IndefLengthForbidden,
		TagsMd:      cbor.TagsForbidden,
	}.DecMode()
	if err != nil {
		panic(err)
	}
	return codec{enc: enc, dec: dec}
}()
