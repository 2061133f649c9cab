package credential

import (
	"crypto/rand"
	"testing"

	"github.com/fxamacker/cbor/v2"
	"github.com/veraison/go-cose"
)

// parts describes a COSE_Sign1 to build by hand, for the codes Encode never
// makes. Zero fields take the values of a valid code.
type parts struct {
	// untagged leaves out tag 18; tag replaces it.
	untagged bool
	tag      uint64
	// protected and claims are encoded with core deterministic CBOR.
	protected map[any]any
	claims    map[any]any
	// protectedElem, unprotected, payloadElem and signatureElem replace
	// the array's elements; each gets the value it replaces.
	protectedElem func(encoded []byte) any
	unprotected   any
	payloadElem   func(encoded []byte) any
	signatureElem func(sig []byte) any
	// signAlg, when set, signs with the key under that COSE algorithm
	// instead of the signer's own.
	signAlg cose.Algorithm
	// extra elements are appended to the array; trailing bytes after it.
	extra    []any
	trailing []byte
}

// defaultProtected answers the protected header Encode writes for s.
func defaultProtected(s *Signer) map[any]any {
	return map[any]any{1: int64(s.Alg), 4: s.KID[:]}
}

// defaultClaims answers the claims of testClaims as a CBOR map.
func defaultClaims() map[any]any {
	c := testClaims()
	return map[any]any{
		1: c.Issuer, 2: c.Subject[:], 4: c.Expires.Unix(), 5: c.NotBefore.Unix(),
		6: c.IssuedAt.Unix(), 7: c.CodeID[:],
	}
}

// build answers the code text of the COSE_Sign1 that p describes, signed
// by s over the Sig_structure of the encoded protected header and claims.
func build(t testing.TB, s *Signer, p parts) string {
	t.Helper()
	em, err := cbor.CoreDetEncOptions().EncMode()
	if err != nil {
		t.Fatal(err)
	}
	marshal := func(v any) []byte {
		t.Helper()
		b, err := em.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	if p.protected == nil {
		p.protected = defaultProtected(s)
	}
	if p.claims == nil {
		p.claims = defaultClaims()
	}
	protected, payload := marshal(p.protected), marshal(p.claims)
	signer := s.cose
	if p.signAlg != 0 {
		if signer, err = cose.NewSigner(p.signAlg, s.key); err != nil {
			t.Fatal(err)
		}
	}
	sig, err := signer.Sign(rand.Reader, marshal([]any{"Signature1", protected, []byte{}, payload}))
	if err != nil {
		t.Fatal(err)
	}
	elems := []any{protected, map[any]any{}, payload, sig}
	if p.protectedElem != nil {
		elems[0] = p.protectedElem(protected)
	}
	if p.unprotected != nil {
		elems[1] = p.unprotected
	}
	if p.payloadElem != nil {
		elems[2] = p.payloadElem(payload)
	}
	if p.signatureElem != nil {
		elems[3] = p.signatureElem(sig)
	}
	elems = append(elems, p.extra...)
	var msg any = cbor.Tag{Number: 18, Content: elems}
	switch {
	case p.untagged:
		msg = elems
	case p.tag != 0:
		msg = cbor.Tag{Number: p.tag, Content: elems}
	}
	return Prefix + base45Encode(append(marshal(msg), p.trailing...))
}

// with answers the default claims with the changes applied; a nil value
// deletes the claim.
func with(changes map[any]any) map[any]any {
	c := defaultClaims()
	for k, v := range changes {
		if v == nil {
			delete(c, k)
			continue
		}
		c[k] = v
	}
	return c
}
