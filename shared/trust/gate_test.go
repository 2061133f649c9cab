package trust

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/citycode/citycode/shared/credential"
)

// TestGate walks one gate through list updates and offline verification.
func TestGate(t *testing.T) {
	t.Parallel()
	home := mustRing(t, "CN-SH", credential.EdDSA)
	other := mustRing(t, "CN-SH", credential.EdDSA)
	issued := t0.Add(time.Hour)
	v1, _ := mustPublish(t, home, 1, issued.Add(-time.Hour))
	v2, _ := mustPublish(t, home, 2, issued)
	v3, _ := mustPublish(t, home, 3, issued.Add(2*time.Hour))
	forged, _ := mustPublish(t, other, 4, issued)
	future, _ := mustPublish(t, home, 5, issued.Add(MaxListClockSkew+time.Second))
	code, _ := mustCode(t, home, issued)

	gate := NewGate(home.Root)
	steps := []struct {
		name      string
		update    string // a list to give Update first, if any
		updateErr error  // what Update answers; nil for success
		at        time.Time
		reason    string // what verifying the code at "at" answers; "" when valid
	}{
		{name: "no list yet", at: issued, reason: "trust_list_stale"},
		{name: "v2 taken", update: v2, at: issued.Add(30 * time.Second), reason: ""},
		{name: "older v1 refused", update: v1, updateErr: ErrNotNewer, at: issued.Add(30 * time.Second), reason: ""},
		{name: "same v2 again", update: v2, updateErr: ErrNotNewer, at: issued.Add(30 * time.Second), reason: ""},
		{name: "forged list refused, v2 kept", update: forged, updateErr: ErrInvalidList, at: issued.Add(30 * time.Second), reason: ""},
		{name: "code expired (list still fresh)", at: issued.Add(2 * time.Minute), reason: "expired"},
		{name: "one second before the offline limit", at: issued.Add(day - time.Second), reason: "expired"},
		{name: "offline limit reached", at: issued.Add(day), reason: "trust_list_stale"},
		{name: "v3 taken", update: v3, at: issued.Add(day), reason: "expired"},
		{name: "a list from the future refused", update: future, updateErr: errAny, at: issued},
	}
	for _, st := range steps {
		if st.update != "" {
			err := gate.Update(st.update, st.at)
			if (st.updateErr == nil) != (err == nil) || (st.updateErr != nil && st.updateErr != errAny && !errors.Is(err, st.updateErr)) {
				t.Fatalf("%s: Update = %v, want %v", st.name, err, st.updateErr)
			}
		}
		_, err := gate.Verify(code, st.at, skew)
		if got := Reason(err); got != st.reason || (err != nil && got == "") {
			t.Errorf("%s: Verify = %v (reason %q), want reason %q", st.name, err, got, st.reason)
		}
	}
}

// errAny in a test table accepts any non-nil error.
var errAny = errors.New("any error")

func TestReason(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err  error
		want string
	}{
		{nil, ""},
		{fmt.Errorf("x: %w", ErrTrustListStale), "trust_list_stale"},
		{fmt.Errorf("x: %w", credential.ErrUnknownKey), "unknown_key"},
		{errors.New("other"), ""},
	}
	for _, tt := range tests {
		if got := Reason(tt.err); got != tt.want {
			t.Errorf("Reason(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
}

func BenchmarkGateVerify(b *testing.B) {
	home := mustRing(b, "CN-SH", credential.EdDSA)
	signed, _ := mustPublish(b, home, 1, t0)
	gate := NewGate(home.Root)
	if err := gate.Update(signed, t0); err != nil {
		b.Fatal(err)
	}
	code, _ := mustCode(b, home, t0)
	for b.Loop() {
		if _, err := gate.Verify(code, t0, skew); err != nil {
			b.Fatal(err)
		}
	}
}
