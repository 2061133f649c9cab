package credential

import (
	"crypto"
	"encoding/hex"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite testdata/vectors.json")

var vectorsFile = filepath.Join("testdata", "vectors.json")

// vectorFile is testdata/vectors.json; testdata/README.md documents it.
type vectorFile struct {
	Description string         `json:"description"`
	SkewSeconds int64          `json:"skew_seconds"`
	TrustList   []trustedKey   `json:"trust_list"`
	SigningKeys map[string]JWK `json:"signing_keys"`
	Vectors     []vector       `json:"vectors"`
}

type trustedKey struct {
	Issuer string `json:"issuer"`
	NBF    int64  `json:"nbf"`
	Exp    int64  `json:"exp"`
	JWK    JWK    `json:"jwk"`
}

type vector struct {
	Name       string        `json:"name"`
	SignedBy   string        `json:"signed_by,omitempty"`
	Randomized bool          `json:"randomized,omitempty"`
	Now        int64         `json:"now"`
	Code       string        `json:"code"`
	COSEHex    string        `json:"cose_hex,omitempty"`
	TBSHex     string        `json:"sig_structure_hex,omitempty"`
	Claims     *vectorClaims `json:"claims,omitempty"`
	Valid      bool          `json:"valid"`
	Reason     string        `json:"reason,omitempty"`
}

type vectorClaims struct {
	Iss string `json:"iss"`
	Sub string `json:"sub"`
	Exp int64  `json:"exp"`
	Nbf int64  `json:"nbf"`
	Iat int64  `json:"iat"`
	Cti string `json:"cti"`
}

func TestVectors(t *testing.T) {
	t.Parallel()
	generated := generateVectors(t)
	if *update {
		b, err := json.MarshalIndent(generated, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(vectorsFile, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(vectorsFile)
	if err != nil {
		t.Fatalf("%v (run go test -run TestVectors -update once)", err)
	}
	var file vectorFile
	if err := json.Unmarshal(b, &file); err != nil {
		t.Fatal(err)
	}

	// The file is what the generator makes: same keys, same claims, same
	// Ed25519 codes (ES256 signatures are randomized, so not those codes).
	if diff := cmp.Diff(withoutSignatures(generated), withoutSignatures(file)); diff != "" {
		t.Errorf("%s is not what the generator makes (-generated +file); run go test -run TestVectors -update if the change is intended:\n%s", vectorsFile, diff)
	}

	keys := KeySet{}
	for _, k := range file.TrustList {
		key, err := k.JWK.Key(k.Issuer, time.Unix(k.NBF, 0), time.Unix(k.Exp, 0))
		if err != nil {
			t.Fatalf("trust list key %s: %v", k.JWK.KID, err)
		}
		keys[key.KID] = key
	}
	for _, v := range file.Vectors {
		t.Run(v.Name, func(t *testing.T) {
			t.Parallel()
			checkVector(t, v, keys, time.Duration(file.SkewSeconds)*time.Second)
		})
	}
}

// withoutSignatures answers the file without what changes from one run to
// the next: the codes, COSE and Sig_structure of randomized vectors.
func withoutSignatures(f vectorFile) vectorFile {
	f.Vectors = slices.Clone(f.Vectors)
	for i, v := range f.Vectors {
		if v.Randomized {
			v.Code, v.COSEHex, v.TBSHex = "", "", ""
			f.Vectors[i] = v
		}
	}
	return f
}

// checkVector checks a vector against this implementation, the way another
// implementation would use it.
func checkVector(t *testing.T, v vector, keys KeyLookup, skew time.Duration) {
	t.Helper()
	got, err := Verify(v.Code, keys, time.Unix(v.Now, 0), skew)
	want := vector{Valid: v.Valid, Reason: v.Reason}
	if diff := cmp.Diff(want, vector{Valid: err == nil, Reason: Reason(err)}); diff != "" {
		t.Errorf("Verify (-want +got):\n%s\nerror: %v", diff, err)
	}
	if v.Valid {
		if diff := cmp.Diff(v.Claims, toVectorClaims(got)); diff != "" {
			t.Errorf("claims (-want +got):\n%s", diff)
		}
	}
	if v.COSEHex != "" {
		cose, err := base45AppendDecode(nil, strings.TrimPrefix(v.Code, Prefix))
		if err != nil || hex.EncodeToString(cose) != v.COSEHex {
			t.Errorf("code's COSE %x (%v), want %s", cose, err, v.COSEHex)
		}
	}
	p, err := Decode(v.Code)
	if (v.Claims == nil) != (err != nil) {
		t.Fatalf("Decode error %v with claims %v in the vector", err, v.Claims)
	}
	if err != nil {
		return
	}
	if diff := cmp.Diff(v.Claims, toVectorClaims(p.Claims)); diff != "" {
		t.Errorf("Decode claims (-want +got):\n%s", diff)
	}
	if v.TBSHex != "" {
		tbs, err := cborCodec.enc.Marshal(sigStructure{Context: "Signature1", Protected: p.protected, Payload: p.payload})
		if err != nil || hex.EncodeToString(tbs) != v.TBSHex {
			t.Errorf("Sig_structure %x (%v), want %s", tbs, err, v.TBSHex)
		}
	}
}

func toVectorClaims(c Claims) *vectorClaims {
	return &vectorClaims{
		Iss: c.Issuer, Sub: hex.EncodeToString(c.Subject[:]), Cti: hex.EncodeToString(c.CodeID[:]),
		Exp: c.Expires.Unix(), Nbf: c.NotBefore.Unix(), Iat: c.IssuedAt.Unix(),
	}
}

// generateVectors makes the vectors from the fixed keys and claims of the
// tests, and checks that each answers what it is meant to.
func generateVectors(t *testing.T) vectorFile {
	t.Helper()
	privs := map[string]crypto.Signer{"ed25519": testEd25519(), "es256": testP256(t), "untrusted-ed25519": testOtherEd25519()}
	signers := map[string]*Signer{}
	file := vectorFile{
		Description: "citycode credential (CC1) test vectors; see README.md",
		SkewSeconds: int64(testSkew / time.Second),
		SigningKeys: map[string]JWK{},
	}
	for name, priv := range privs {
		signers[name] = mustSigner(t, priv)
		j, err := PrivateJWK(priv)
		if err != nil {
			t.Fatal(err)
		}
		file.SigningKeys[name] = j
	}
	for _, name := range []string{"ed25519", "es256"} {
		j, err := PublicJWK(signers[name].Public())
		if err != nil {
			t.Fatal(err)
		}
		file.TrustList = append(file.TrustList, trustedKey{Issuer: testIssuer, NBF: testKeyFrom.Unix(), Exp: testKeyTo.Unix(), JWK: j})
	}
	ed, es := signers["ed25519"], signers["es256"]
	keys := NewKeySet(keyFor(ed), keyFor(es))
	claims := testClaims()
	valid := mustEncode(t, ed, claims)
	exp := claims.Expires

	add := func(v vector) {
		t.Helper()
		if p, err := Decode(v.Code); err == nil {
			v.Claims = toVectorClaims(p.Claims)
			cose, err := base45AppendDecode(nil, strings.TrimPrefix(v.Code, Prefix))
			if err != nil {
				t.Fatal(err)
			}
			v.COSEHex = hex.EncodeToString(cose)
			tbs, err := cborCodec.enc.Marshal(sigStructure{Context: "Signature1", Protected: p.protected, Payload: p.payload})
			if err != nil {
				t.Fatal(err)
			}
			v.TBSHex = hex.EncodeToString(tbs)
		}
		_, err := Verify(v.Code, keys, time.Unix(v.Now, 0), testSkew)
		if got := Reason(err); got != v.Reason || (err == nil) != v.Valid {
			t.Fatalf("vector %s answers %q (%v), meant to answer %q", v.Name, got, err, v.Reason)
		}
		file.Vectors = append(file.Vectors, v)
	}
	now := testNow.Unix()
	add(vector{Name: "ed25519-valid", SignedBy: "ed25519", Now: now, Code: valid, Valid: true})
	add(vector{Name: "es256-valid", SignedBy: "es256", Randomized: true, Now: now, Code: mustEncode(t, es, claims), Valid: true})
	add(vector{Name: "valid-at-the-end-of-skew", SignedBy: "ed25519", Now: exp.Add(testSkew - time.Second).Unix(), Code: valid, Valid: true})
	add(vector{Name: "expired-exp-at-now-minus-skew", SignedBy: "ed25519", Now: exp.Add(testSkew).Unix(), Code: valid, Reason: "expired"})
	add(vector{Name: "expired-long-ago", SignedBy: "es256", Randomized: true, Now: exp.Add(24 * time.Hour).Unix(), Code: mustEncode(t, es, claims), Reason: "expired"})
	add(vector{Name: "not-yet-valid", SignedBy: "ed25519", Now: claims.NotBefore.Add(-testSkew - time.Second).Unix(), Code: valid, Reason: "not_yet_valid"})
	add(vector{Name: "unknown-kid", SignedBy: "untrusted-ed25519", Now: now, Code: mustEncode(t, signers["untrusted-ed25519"], claims), Reason: "unknown_key"})
	add(vector{Name: "issuer-not-the-keys", SignedBy: "ed25519", Now: now,
		Code: build(t, ed, parts{claims: with(map[any]any{1: "CN-HZ"})}), Reason: "unknown_key"})
	add(vector{Name: "alg-es256-on-an-ed25519-key", SignedBy: "ed25519", Now: now,
		Code: build(t, ed, parts{protected: map[any]any{1: int64(ES256), 4: ed.KID[:]}}), Reason: "bad_signature"})
	add(vector{Name: "one-character-changed", SignedBy: "ed25519", Now: now, Code: changeOneCharacter(t, valid), Reason: "bad_signature"})
	add(vector{Name: "key-not-valid-at-iat", SignedBy: "ed25519", Now: now,
		Code: build(t, ed, parts{claims: with(map[any]any{6: testKeyFrom.Unix() - 1})}), Reason: "key_not_valid"})
	add(vector{Name: "critical-header-parameter", SignedBy: "ed25519", Now: now,
		Code: build(t, ed, parts{protected: map[any]any{1: int64(EdDSA), 2: []any{3}, 3: "application/cwt", 4: ed.KID[:]}}), Reason: "malformed"})
	add(vector{Name: "truncated", SignedBy: "ed25519", Now: now, Code: valid[:len(valid)-30], Reason: "malformed"})
	add(vector{Name: "bad-prefix", SignedBy: "ed25519", Now: now, Code: "HC1:" + strings.TrimPrefix(valid, Prefix), Reason: "malformed"})
	return file
}

// changeOneCharacter changes the 10th character from the end of the code
// (in the signature) to the first other Base45 character that keeps the text
// valid Base45.
func changeOneCharacter(t *testing.T, code string) string {
	t.Helper()
	i := len(code) - 10
	for _, c := range base45Alphabet {
		changed := code[:i] + string(c) + code[i+1:]
		if changed == code {
			continue
		}
		if _, err := base45AppendDecode(nil, strings.TrimPrefix(changed, Prefix)); err == nil {
			return changed
		}
	}
	t.Fatal("no character to change")
	return ""
}
