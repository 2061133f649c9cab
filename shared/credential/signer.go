package credential

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/veraison/go-cose"
)

// Signer signs codes with a private key.
type Signer struct {
	// KID is the key id of the public half: KIDFor(Public()).
	KID [8]byte
	// Alg is the algorithm the key signs with.
	Alg  Alg
	key  crypto.Signer
	cose cose.Signer
}

// NewSigner wraps an ed25519.PrivateKey (EdDSA) or an *ecdsa.PrivateKey on
// P-256 (ES256).
func NewSigner(priv crypto.Signer) (*Signer, error) {
	alg, err := algFor(priv.Public())
	if err != nil {
		return nil, err
	}
	kid, err := KIDFor(priv.Public())
	if err != nil {
		return nil, err
	}
	cs, err := cose.NewSigner(cose.Algorithm(alg), priv)
	if err != nil {
		return nil, fmt.Errorf("credential: signer: %w", err)
	}
	return &Signer{KID: kid, Alg: alg, key: priv, cose: cs}, nil
}

// Public answers the public half of the signing key.
func (s *Signer) Public() crypto.PublicKey { return s.key.Public() }

// algFor answers the algorithm a public key is used with, refusing keys of
// other types and curves.
func algFor(pub crypto.PublicKey) (Alg, error) {
	switch k := pub.(type) {
	case ed25519.PublicKey:
		if len(k) != ed25519.PublicKeySize {
			return 0, errors.New("credential: bad Ed25519 public key size")
		}
		return EdDSA, nil
	case *ecdsa.PublicKey:
		if k == nil || k.Curve != elliptic.P256() {
			return 0, errors.New("credential: ECDSA key not on P-256")
		}
		return ES256, nil
	default:
		return 0, fmt.Errorf("credential: unsupported key type %T", pub)
	}
}

// KIDFor answers the key id of a public key: the first 8 bytes of its
// RFC 7638 JWK thumbprint (SHA-256 of the canonical JWK members).
func KIDFor(pub crypto.PublicKey) ([8]byte, error) {
	in, err := thumbprintInput(pub)
	if err != nil {
		return [8]byte{}, err
	}
	sum := sha256.Sum256(in)
	return [8]byte(sum[:8]), nil
}

// thumbprintInput answers the RFC 7638 input: the required members of the
// public JWK in lexicographic order, without whitespace.
func thumbprintInput(pub crypto.PublicKey) ([]byte, error) {
	alg, err := algFor(pub)
	if err != nil {
		return nil, err
	}
	b64 := base64.RawURLEncoding.EncodeToString
	if alg == EdDSA {
		return []byte(`{"crv":"Ed25519","kty":"OKP","x":"` + b64(pub.(ed25519.PublicKey)) + `"}`), nil
	}
	raw, err := pub.(*ecdsa.PublicKey).Bytes()
	if err != nil {
		return nil, fmt.Errorf("credential: ECDSA public key: %w", err)
	}
	return []byte(`{"crv":"P-256","kty":"EC","x":"` + b64(raw[1:33]) + `","y":"` + b64(raw[33:]) + `"}`), nil
}
