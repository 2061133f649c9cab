package credential

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"encoding/base64"
	"errors"
	"fmt"
	"time"
)

// JWK is a JSON Web Key (RFC 7517) for the keys codes are signed with: an
// Ed25519 key (RFC 8037: kty "OKP", crv "Ed25519") or a P-256 key (kty "EC",
// crv "P-256"). Binary members and the kid are base64url without padding.
// A public JWK has no D. Documents that add members (the trust list's nbf,
// exp, cert) can embed it.
type JWK struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y,omitempty"`
	D   string `json:"d,omitempty"`
	KID string `json:"kid,omitempty"`
	Alg string `json:"alg,omitempty"`
	Use string `json:"use,omitempty"`
}

var b64url = base64.RawURLEncoding.Strict()

// PublicJWK answers the public JWK of an ed25519.PublicKey or a P-256
// *ecdsa.PublicKey, with its kid, alg and use "sig".
func PublicJWK(pub crypto.PublicKey) (JWK, error) {
	alg, err := algFor(pub)
	if err != nil {
		return JWK{}, err
	}
	kid, err := KIDFor(pub)
	if err != nil {
		return JWK{}, err
	}
	j := JWK{KID: b64url.EncodeToString(kid[:]), Alg: alg.String(), Use: "sig"}
	if alg == EdDSA {
		j.Kty, j.Crv, j.X = "OKP", "Ed25519", b64url.EncodeToString(pub.(ed25519.PublicKey))
		return j, nil
	}
	raw, err := pub.(*ecdsa.PublicKey).Bytes()
	if err != nil {
		return JWK{}, fmt.Errorf("credential: ECDSA public key: %w", err)
	}
	j.Kty, j.Crv, j.X, j.Y = "EC", "P-256", b64url.EncodeToString(raw[1:33]), b64url.EncodeToString(raw[33:])
	return j, nil
}

// PrivateJWK answers the private JWK of an ed25519.PrivateKey (d is the
// RFC 8032 seed) or a P-256 *ecdsa.PrivateKey (d is the scalar).
func PrivateJWK(priv crypto.Signer) (JWK, error) {
	j, err := PublicJWK(priv.Public())
	if err != nil {
		return JWK{}, err
	}
	switch k := priv.(type) {
	case ed25519.PrivateKey:
		j.D = b64url.EncodeToString(k.Seed())
	case *ecdsa.PrivateKey:
		d, err := k.Bytes()
		if err != nil {
			return JWK{}, fmt.Errorf("credential: ECDSA private key: %w", err)
		}
		j.D = b64url.EncodeToString(d)
	default:
		return JWK{}, fmt.Errorf("credential: unsupported private key type %T", priv)
	}
	return j, nil
}

// PublicKey answers the JWK's public key: an ed25519.PublicKey or a P-256
// *ecdsa.PublicKey. It checks the members: kty and crv supported, x (and y)
// of the right size and on the curve, alg if present the key's, use if
// present "sig", kid if present the key's KIDFor.
func (j JWK) PublicKey() (crypto.PublicKey, error) {
	pub, _, _, err := j.public()
	return pub, err
}

func (j JWK) public() (crypto.PublicKey, Alg, [8]byte, error) {
	var pub crypto.PublicKey
	x, err := jwkBytes("x", j.X, 32)
	if err != nil {
		return nil, 0, [8]byte{}, err
	}
	switch {
	case j.Kty == "OKP" && j.Crv == "Ed25519":
		if j.Y != "" {
			return nil, 0, [8]byte{}, errors.New("credential: JWK: y in an OKP key")
		}
		pub = ed25519.PublicKey(x)
	case j.Kty == "EC" && j.Crv == "P-256":
		y, err := jwkBytes("y", j.Y, 32)
		if err != nil {
			return nil, 0, [8]byte{}, err
		}
		k, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
		if err != nil {
			return nil, 0, [8]byte{}, fmt.Errorf("credential: JWK: %w", err)
		}
		pub = k
	default:
		return nil, 0, [8]byte{}, fmt.Errorf("credential: JWK: unsupported kty %q crv %q", j.Kty, j.Crv)
	}
	alg, err := algFor(pub)
	if err != nil {
		return nil, 0, [8]byte{}, err
	}
	if j.Alg != "" && j.Alg != alg.String() {
		return nil, 0, [8]byte{}, fmt.Errorf("credential: JWK: alg %q for a %v key", j.Alg, alg)
	}
	if j.Use != "" && j.Use != "sig" {
		return nil, 0, [8]byte{}, fmt.Errorf("credential: JWK: use %q", j.Use)
	}
	kid, err := KIDFor(pub)
	if err != nil {
		return nil, 0, [8]byte{}, err
	}
	if j.KID != "" && j.KID != b64url.EncodeToString(kid[:]) {
		return nil, 0, [8]byte{}, fmt.Errorf("credential: JWK: kid %q is not the key's thumbprint kid", j.KID)
	}
	return pub, alg, kid, nil
}

// PrivateKey answers the JWK's private key, an ed25519.PrivateKey or a P-256
// *ecdsa.PrivateKey, after the checks of PublicKey and that d is the private
// half of x (and y).
func (j JWK) PrivateKey() (crypto.Signer, error) {
	pub, _, _, err := j.public()
	if err != nil {
		return nil, err
	}
	d, err := jwkBytes("d", j.D, 32)
	if err != nil {
		return nil, err
	}
	var priv crypto.Signer
	switch pub.(type) {
	case ed25519.PublicKey:
		priv = ed25519.NewKeyFromSeed(d)
	default:
		k, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), d)
		if err != nil {
			return nil, fmt.Errorf("credential: JWK: %w", err)
		}
		priv = k
	}
	if !priv.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(pub) {
		return nil, errors.New("credential: JWK: d does not match the public key")
	}
	return priv, nil
}

// Key answers the trust-list key the public JWK describes, for the issuer
// and validity window given.
func (j JWK) Key(issuer string, notBefore, notAfter time.Time) (Key, error) {
	pub, alg, kid, err := j.public()
	if err != nil {
		return Key{}, err
	}
	return Key{KID: kid, Alg: alg, Public: pub, NotBefore: notBefore, NotAfter: notAfter, Issuer: issuer}, nil
}

// Signer answers a Signer for the private JWK.
func (j JWK) Signer() (*Signer, error) {
	priv, err := j.PrivateKey()
	if err != nil {
		return nil, err
	}
	return NewSigner(priv)
}

func jwkBytes(name, v string, size int) ([]byte, error) {
	b, err := b64url.DecodeString(v)
	if err != nil {
		return nil, fmt.Errorf("credential: JWK: %s: %w", name, err)
	}
	if len(b) != size {
		return nil, fmt.Errorf("credential: JWK: %s is %d bytes, want %d", name, len(b), size)
	}
	return b, nil
}
