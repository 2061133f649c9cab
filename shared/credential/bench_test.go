package credential

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/sha256"
	"math/big"
	"testing"
)

// The acceptance target of issue 3: BenchmarkVerifyCode costs at most 1.2x
// BenchmarkRawEd25519Verify, which verifies the same signature over the same
// Sig_structure bytes.

func benchCode(b *testing.B, s *Signer) (string, *Parsed, []byte) {
	b.Helper()
	text := mustEncode(b, s, testClaims())
	p, err := Decode(text)
	if err != nil {
		b.Fatal(err)
	}
	tbs, err := cborCodec.enc.Marshal(sigStructure{Context: "Signature1", Protected: p.protected, Payload: p.payload})
	if err != nil {
		b.Fatal(err)
	}
	return text, p, tbs
}

func BenchmarkRawEd25519Verify(b *testing.B) {
	s := mustSigner(b, testEd25519())
	_, p, tbs := benchCode(b, s)
	pub, sig := s.Public().(ed25519.PublicKey), []byte(p.signature)
	b.ReportAllocs()
	for b.Loop() {
		if !ed25519.Verify(pub, tbs, sig) {
			b.Fatal("does not verify")
		}
	}
}

func BenchmarkVerifyCode(b *testing.B) {
	s := mustSigner(b, testEd25519())
	text, _, _ := benchCode(b, s)
	benchVerify(b, text, NewKeySet(keyFor(s)))
}

func BenchmarkRawES256Verify(b *testing.B) {
	s := mustSigner(b, testP256(b))
	_, p, tbs := benchCode(b, s)
	pub := s.Public().(*ecdsa.PublicKey)
	r, ss := new(big.Int).SetBytes([]byte(p.signature[:32])), new(big.Int).SetBytes([]byte(p.signature[32:]))
	b.ReportAllocs()
	for b.Loop() {
		digest := sha256.Sum256(tbs)
		if !ecdsa.Verify(pub, digest[:], r, ss) {
			b.Fatal("does not verify")
		}
	}
}

func BenchmarkVerifyCodeES256(b *testing.B) {
	s := mustSigner(b, testP256(b))
	text, _, _ := benchCode(b, s)
	benchVerify(b, text, NewKeySet(keyFor(s)))
}

func benchVerify(b *testing.B, text string, keys KeySet) {
	b.Helper()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Verify(text, keys, testNow, testSkew); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecode(b *testing.B) {
	text := mustEncode(b, mustSigner(b, testEd25519()), testClaims())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(text); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncode(b *testing.B) {
	s, c := mustSigner(b, testEd25519()), testClaims()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Encode(s, c); err != nil {
			b.Fatal(err)
		}
	}
}
