package trust

import (
	"crypto/ecdsa"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/citycode/citycode/shared/credential"
)

type window struct{ From, To time.Time }

func windows(r *KeyRing) []window {
	var w []window
	for _, k := range r.Keys {
		w = append(w, window{k.NotBefore, k.NotAfter})
	}
	return w
}

// TestRotate walks one ring through a key's life: the successor appears
// overlap before the current key ends, with a window starting where the
// current one ends; the signer switches only then; retired keys stay for
// RetiredKeyGrace.
func TestRotate(t *testing.T) {
	t.Parallel()
	r := mustRing(t, "CN-SH", credential.EdDSA)
	first := kidOf(t, r.Keys[0])
	k1 := window{t0, t0.Add(lifetime)}
	k2 := window{t0.Add(lifetime), t0.Add(2 * lifetime)}
	k3 := window{t0.Add(2 * lifetime), t0.Add(3 * lifetime)}
	steps := []struct {
		name        string
		at          time.Time
		wantChanged bool
		want        []window
		signerFrom  int // index in r.Keys of the key Signer(at) uses
	}{
		{"fresh key, far from its end", t0.Add(day), false, []window{k1}, 0},
		{"just outside the overlap", t0.Add(lifetime - overlap - time.Second), false, []window{k1}, 0},
		{"overlap reached: successor published", t0.Add(lifetime - overlap), true, []window{k1, k2}, 0},
		{"rotating again changes nothing", t0.Add(lifetime - overlap + time.Hour), false, []window{k1, k2}, 0},
		{"last second of the first key", t0.Add(lifetime - time.Second), false, []window{k1, k2}, 0},
		{"the successor's window begins", t0.Add(lifetime), false, []window{k1, k2}, 1},
		{"first key retired, still in grace", t0.Add(lifetime + RetiredKeyGrace - time.Second), false, []window{k1, k2}, 1},
		{"grace over: first key dropped", t0.Add(lifetime + RetiredKeyGrace), true, []window{k2}, 0},
		{"second overlap", t0.Add(2*lifetime - overlap), true, []window{k2, k3}, 0},
	}
	for _, st := range steps {
		changed, err := r.Rotate(st.at, lifetime, overlap)
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if changed != st.wantChanged {
			t.Errorf("%s: changed = %v, want %v", st.name, changed, st.wantChanged)
		}
		if diff := cmp.Diff(st.want, windows(r)); diff != "" {
			t.Fatalf("%s: windows (-want +got):\n%s", st.name, diff)
		}
		s, err := r.Signer(st.at)
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if want := kidOf(t, r.Keys[st.signerFrom]); s.KID != want {
			t.Errorf("%s: signer kid %x, want key %d (%x)", st.name, s.KID, st.signerFrom, want)
		}
	}
	if kidOf(t, r.Keys[0]) == first {
		t.Error("the first key was never dropped")
	}
}

func TestRotateAfterALongPause(t *testing.T) {
	t.Parallel()
	r := mustRing(t, "CN-SH", credential.EdDSA)
	late := t0.Add(100 * day)
	if _, err := r.Signer(late); !errors.Is(err, ErrNoSigningKey) {
		t.Fatalf("Signer with only an expired key: %v, want ErrNoSigningKey", err)
	}
	changed, err := r.Rotate(late, lifetime, overlap)
	if err != nil || !changed {
		t.Fatalf("Rotate = %v, %v", changed, err)
	}
	if diff := cmp.Diff([]window{{late, late.Add(lifetime)}}, windows(r)); diff != "" {
		t.Errorf("windows (-want +got):\n%s", diff)
	}
	if _, err := r.Signer(late); err != nil {
		t.Errorf("no signer right after a late rotation: %v", err)
	}
}

func TestRotateKeepsTheAlgorithm(t *testing.T) {
	t.Parallel()
	r := mustRing(t, "CN-HZ", credential.ES256)
	if _, err := r.Rotate(t0.Add(lifetime-overlap), lifetime, overlap); err != nil {
		t.Fatal(err)
	}
	for i, k := range r.Keys {
		if _, ok := k.Private.(*ecdsa.PrivateKey); !ok {
			t.Errorf("key %d is %T, want ES256", i, k.Private)
		}
	}
}

func TestRotateRefuses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		ring     func() *KeyRing
		lifetime time.Duration
		want     error
	}{
		{"lifetime not above overlap", func() *KeyRing { return mustRing(t, "CN-SH", credential.EdDSA) }, overlap, nil},
		{"signing-only ring", func() *KeyRing { return mustRing(t, "CN-SH", credential.EdDSA).SigningOnly() }, lifetime, ErrNoRootKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := tt.ring()
			changed, err := r.Rotate(t0.Add(lifetime-overlap), tt.lifetime, overlap)
			if err == nil || (tt.want != nil && !errors.Is(err, tt.want)) {
				t.Errorf("Rotate = %v, %v; want error %v", changed, err, tt.want)
			}
			if len(r.Keys) != 1 {
				t.Errorf("%d keys after a refused rotation", len(r.Keys))
			}
		})
	}
}

func TestKeyRingJSONRoundTrip(t *testing.T) {
	t.Parallel()
	es := mustRing(t, "CN-HZ", credential.ES256)
	if _, err := es.Rotate(t0.Add(lifetime-overlap), lifetime, overlap); err != nil {
		t.Fatal(err)
	}
	for _, r := range []*KeyRing{mustRing(t, "CN-SH", credential.EdDSA), es, es.SigningOnly()} {
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		if byValue := mustJSON(t, *r); byValue != string(b) {
			t.Errorf("a KeyRing marshals unlike a *KeyRing: %s", byValue)
		}
		var got KeyRing
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		b2, err := json.Marshal(&got)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(string(b), string(b2)); diff != "" {
			t.Errorf("JSON changed through a round trip (-before +after):\n%s", diff)
		}
		if !got.Root.Equal(r.Root) || !got.RootPrivate.Equal(r.RootPrivate) || got.Issuer != r.Issuer || got.Name != r.Name {
			t.Errorf("root or names changed through a round trip")
		}
		if diff := cmp.Diff(windows(r), windows(&got)); diff != "" {
			t.Errorf("windows (-want +got):\n%s", diff)
		}
		for i := range r.Keys {
			if kidOf(t, got.Keys[i]) != kidOf(t, r.Keys[i]) {
				t.Errorf("key %d changed", i)
			}
		}
	}
	b, err := json.Marshal(es.SigningOnly())
	if err != nil {
		t.Fatal(err)
	}
	var only struct{ Root credential.JWK }
	if err := json.Unmarshal(b, &only); err != nil || only.Root.D != "" {
		t.Errorf("signing-only ring JSON carries the private root (%v)", err)
	}
}

// TestKeyRingJSONRefusesDamage: a damaged secret fails at load.
func TestKeyRingJSONRefusesDamage(t *testing.T) {
	t.Parallel()
	r := mustRing(t, "CN-SH", credential.EdDSA)
	other := mustRing(t, "CN-SH", credential.EdDSA)
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	otherB, err := json.Marshal(other)
	if err != nil {
		t.Fatal(err)
	}
	var otherIss Issuer
	if err := json.Unmarshal(otherB, &otherIss); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		damage func(*Issuer)
	}{
		{"cert by another root", func(i *Issuer) { i.Keys[0].Cert = otherIss.Keys[0].Cert }},
		{"cert for another window", func(i *Issuer) { i.Keys[0].NotAfter += 3600 }},
		{"another issuer id", func(i *Issuer) { i.Issuer = "CN-BJ" }},
		{"private root of another ring", func(i *Issuer) { i.Root.D = otherIss.Root.D }},
		{"signing key without d", func(i *Issuer) { i.Keys[0].D = "" }},
		{"signing key d of another key", func(i *Issuer) { i.Keys[0].D = otherIss.Keys[0].D }},
		{"root not Ed25519", func(i *Issuer) { i.Root = es256JWK(t) }},
		{"no issuer id", func(i *Issuer) { i.Issuer = "" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var iss Issuer
			if err := json.Unmarshal(b, &iss); err != nil {
				t.Fatal(err)
			}
			tt.damage(&iss)
			bad, err := json.Marshal(iss)
			if err != nil {
				t.Fatal(err)
			}
			var got KeyRing
			if err := json.Unmarshal(bad, &got); err == nil {
				t.Errorf("damaged ring accepted: %s", bad)
			}
		})
	}
}

func es256JWK(t testing.TB) credential.JWK {
	t.Helper()
	j, err := credential.PrivateJWK(mustRing(t, "CN-X", credential.ES256).Keys[0].Private)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func TestSignerBeforeTheFirstWindow(t *testing.T) {
	t.Parallel()
	r := mustRing(t, "CN-SH", credential.EdDSA)
	_, err := r.Signer(t0.Add(-time.Second))
	if !errors.Is(err, ErrNoSigningKey) || !strings.Contains(err.Error(), "CN-SH") {
		t.Errorf("Signer before the first window: %v", err)
	}
}
