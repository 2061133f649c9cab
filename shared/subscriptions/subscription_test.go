package subscriptions

import (
	"bytes"
	"errors"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestWants(t *testing.T) {
	t.Parallel()
	s := Subscription{Types: []string{"city.holder.enrolled.v1", "city.lodging.*"}}
	for typ, want := range map[string]bool{
		"city.holder.enrolled.v1":          true,
		"city.holder.enrolled.v2":          false,
		"city.holder.dependant_added.v1":   false,
		"city.lodging.guest.registered.v1": true,
		"city.lodging.guest.departed.v2":   true,
		"city.lodgingx.registered.v1":      false,
		"":                                 false,
	} {
		if got := s.Wants(typ); got != want {
			t.Errorf("Wants(%q) = %v, want %v", typ, got, want)
		}
	}
}

func TestCheckEndpoint(t *testing.T) {
	t.Parallel()
	tests := []struct {
		url           string
		allowLoopback bool
		want          error
	}{
		{"https://hooks.police.example/citycode", false, nil},
		{"https://hooks.police.example:8443/a?b=c", false, nil},
		{"https://203.0.113.7/hook", false, nil},
		{"http://hooks.police.example/citycode", false, errEndpointInvalid},
		{"ftp://hooks.police.example/", false, errEndpointInvalid},
		{"hooks.police.example/citycode", false, errEndpointInvalid},
		{"https:///path", false, errEndpointInvalid},
		{"https://user:pw@hooks.police.example/", false, errEndpointInvalid},
		{"https://hooks.police.example/#frag", false, errEndpointInvalid},
		{"", false, errEndpointInvalid},
		{"https://" + strings.Repeat("a", MaxEndpointLength) + ".example/", false, errEndpointInvalid},
		{"https://127.0.0.1/hook", false, errEndpointPrivate},
		{"https://localhost/hook", false, errEndpointPrivate},
		{"https://10.1.2.3/hook", false, errEndpointPrivate},
		{"https://192.168.0.1/hook", false, errEndpointPrivate},
		{"https://169.254.169.254/latest/meta-data", false, errEndpointPrivate},
		{"https://[::1]/hook", false, errEndpointPrivate},
		{"https://[fd00::1]/hook", false, errEndpointPrivate},
		{"https://[::ffff:10.0.0.1]/hook", false, errEndpointPrivate},
		{"https://0.0.0.0/hook", false, errEndpointPrivate},
		{"http://127.0.0.1:9000/hook", false, errEndpointInvalid},
		{"http://127.0.0.1:9000/hook", true, nil},
		{"http://localhost:9000/hook", true, nil},
		{"http://[::1]:9000/hook", true, nil},
		{"https://127.0.0.1:9000/hook", true, nil},
		{"http://10.1.2.3/hook", true, errEndpointInvalid},
		{"http://hooks.police.example/", true, errEndpointInvalid},
		{"https://10.1.2.3/hook", true, errEndpointPrivate},
	}
	for _, tc := range tests {
		if got := CheckEndpoint(tc.url, tc.allowLoopback); !errors.Is(got, tc.want) {
			t.Errorf("CheckEndpoint(%q, %v) = %v, want %v", tc.url, tc.allowLoopback, got, tc.want)
		}
	}
}

// FuzzCheckEndpoint: whatever an agency sends, an accepted endpoint is an
// https URL with a host, or http to this machine only when allowed.
func FuzzCheckEndpoint(f *testing.F) {
	for _, s := range []string{"https://hooks.example/x", "http://127.0.0.1:1/", "https://[::1]/", "https://a@b/", "https://10.0.0.1/"} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, raw string, allowLoopback bool) {
		if CheckEndpoint(raw, allowLoopback) != nil {
			return
		}
		u, err := url.Parse(raw)
		if err != nil || u.Hostname() == "" || u.User != nil {
			t.Fatalf("accepted %q", raw)
		}
		if u.Scheme != "https" && !(allowLoopback && u.Scheme == "http") {
			t.Fatalf("accepted %q (scheme %q)", raw, u.Scheme)
		}
	})
}

func TestCheckTypes(t *testing.T) {
	t.Parallel()
	many := make([]string, MaxTypes+1)
	for i := range many {
		many[i] = "city.holder.enrolled.v" + string(rune('1'+i%9))
	}
	tests := []struct {
		name    string
		in      []string
		want    []string
		wantErr bool
	}{
		{"exact", []string{"city.holder.enrolled.v1"}, []string{"city.holder.enrolled.v1"}, false},
		{"patterns", []string{"city.holder.*", "city.*"}, []string{"city.holder.*", "city.*"}, false},
		{"duplicates dropped", []string{"city.a.b.v1", "city.c.*", "city.a.b.v1"}, []string{"city.a.b.v1", "city.c.*"}, false},
		{"none", []string{}, nil, true},
		{"too many", many, nil, true},
		{"no version", []string{"city.holder.enrolled"}, nil, true},
		{"version zero", []string{"city.holder.enrolled.v0"}, nil, true},
		{"other namespace", []string{"com.example.thing.v1"}, nil, true},
		{"wildcard inside", []string{"city.*.enrolled.v1"}, nil, true},
		{"bare star", []string{"*"}, nil, true},
		{"upper case", []string{"city.Holder.enrolled.v1"}, nil, true},
		{"too long", []string{"city." + strings.Repeat("a", MaxTypeLength) + ".v1"}, nil, true},
	}
	for _, tc := range tests {
		got, err := CheckTypes(tc.in)
		if (err != nil) != tc.wantErr {
			t.Errorf("%s: err = %v, want error %v", tc.name, err, tc.wantErr)
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("%s: types (-want +got):\n%s", tc.name, diff)
		}
	}
}

func TestRotate(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)
	sub := Subscription{Secrets: []Secret{newSecret()}}
	first := sub.Secrets[0]

	sub.Secrets = rotate(sub, t0)
	if len(sub.Secrets) != 2 || !sub.Secrets[0].ExpiresAt.IsZero() || bytes.Equal(sub.Secrets[0].Key, first.Key) {
		t.Fatalf("after one rotation: %+v", sub.Secrets)
	}
	if !bytes.Equal(sub.Secrets[1].Key, first.Key) || !sub.Secrets[1].ExpiresAt.Equal(t0.Add(RotationOverlap)) {
		t.Errorf("the old secret should sign until %v: %+v", t0.Add(RotationOverlap), sub.Secrets[1])
	}
	if got := len(sub.LiveSecrets(t0.Add(RotationOverlap - time.Second))); got != 2 {
		t.Errorf("%d live secrets during the overlap, want 2", got)
	}
	if live := sub.LiveSecrets(t0.Add(RotationOverlap)); len(live) != 1 || !bytes.Equal(live[0].Key, sub.Secrets[0].Key) {
		t.Errorf("after the overlap the live secrets are %+v, want the current one", live)
	}

	// Rotations in quick succession keep the newest previous secrets only.
	for i := range 5 {
		sub.Secrets = rotate(sub, t0.Add(time.Duration(i+1)*time.Minute))
	}
	if len(sub.Secrets) != 1+MaxPreviousSecrets {
		t.Fatalf("%d secrets after 6 rotations, want %d", len(sub.Secrets), 1+MaxPreviousSecrets)
	}
	if !slices.IsSortedFunc(sub.Secrets[1:], func(a, b Secret) int { return b.ExpiresAt.Compare(a.ExpiresAt) }) {
		t.Errorf("previous secrets not newest first: %+v", sub.Secrets)
	}
	if !sub.Secrets[1].ExpiresAt.Equal(t0.Add(5*time.Minute + RotationOverlap)) {
		t.Errorf("the latest previous secret expires %v", sub.Secrets[1].ExpiresAt)
	}

	// A day later, expired secrets are dropped.
	sub.Secrets = rotate(sub, t0.Add(48*time.Hour))
	if len(sub.Secrets) != 2 {
		t.Errorf("%d secrets after a rotation two days on, want 2", len(sub.Secrets))
	}
}

func TestIDs(t *testing.T) {
	t.Parallel()
	a, err := newID("sub")
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Millisecond)
	b, err := newID("sub")
	if err != nil {
		t.Fatal(err)
	}
	if !validID(a) || !validID(b) || a >= b {
		t.Errorf("ids %q, %q: want valid and in creation order", a, b)
	}
	for _, id := range []string{"", "sub_", "sub_x", "hdr_" + a[4:], a + "0", strings.ToUpper(a), "sub_" + strings.Repeat("z", 26)} {
		if validID(id) {
			t.Errorf("validID(%q) = true", id)
		}
	}
}

func TestFormatSecret(t *testing.T) {
	t.Parallel()
	got := FormatSecret([]byte{0xfb, 0xff, 0x00})
	if got != "whsec_+/8A" {
		t.Errorf("FormatSecret = %q", got)
	}
}
