package credential

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The examples of RFC 9285, sections 4.3 and 4.4.
func TestBase45RFC9285(t *testing.T) {
	t.Parallel()
	tests := []struct{ data, text string }{
		{"AB", "BB8"},
		{"Hello!!", "%69 VD92EX0"},
		{"base-45", "UJCLQE7W581"},
		{"ietf!", "QED8WEX0"},
		{"", ""},
	}
	for _, tt := range tests {
		t.Run(tt.data, func(t *testing.T) {
			t.Parallel()
			if diff := cmp.Diff(tt.text, base45Encode([]byte(tt.data))); diff != "" {
				t.Errorf("encode %q (-want +got):\n%s", tt.data, diff)
			}
			got, err := base45AppendDecode(nil, tt.text)
			if err != nil {
				t.Fatalf("decode %q: %v", tt.text, err)
			}
			if diff := cmp.Diff(tt.data, string(got)); diff != "" {
				t.Errorf("decode %q (-want +got):\n%s", tt.text, diff)
			}
		})
	}
}

func TestBase45DecodeErrors(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, text string }{
		{"length 1", "B"},
		{"length 4", "BB8B"},
		{"lower case", "bb8"},
		{"character outside alphabet", "BB#"},
		{"non-ASCII", "BBé"},
		{"invalid in final pair", "BB8B_"},
		{"triple over 65535", "GGW"},
		{"triple max+1 after valid", "BB8GGW"},
		{"pair over 255", "V5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := base45AppendDecode(nil, tt.text); !errors.Is(err, errBase45) {
				t.Errorf("decode %q: error %v, want errBase45", tt.text, err)
			}
		})
	}
}

// The largest values each group may take decode, one more does not.
func TestBase45Limits(t *testing.T) {
	t.Parallel()
	for _, data := range [][]byte{{0xff, 0xff}, {0xff}, {0, 0}, {0}} {
		text := base45Encode(data)
		got, err := base45AppendDecode(nil, text)
		if err != nil || !bytes.Equal(got, data) {
			t.Errorf("round trip %x via %q: %x, %v", data, text, got, err)
		}
	}
	if got := base45Encode([]byte{0xff, 0xff}); got != "FGW" {
		t.Errorf("encode ffff = %q, want FGW", got)
	}
	if got := base45Encode([]byte{0xff}); got != "U5" {
		t.Errorf("encode ff = %q, want U5", got)
	}
}

func TestBase45AppendsToDst(t *testing.T) {
	t.Parallel()
	got, err := base45AppendDecode([]byte("x"), "BB8")
	if err != nil || string(got) != "xAB" {
		t.Errorf("append decode = %q, %v; want \"xAB\"", got, err)
	}
}

func FuzzBase45(f *testing.F) {
	for _, s := range []string{"", "AB", "Hello!!", "base-45", "ietf!", "\xff\xff\x00"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		text := base45Encode(data)
		if len(text) != base45EncodedLen(len(data)) {
			t.Fatalf("encoded length %d, want %d", len(text), base45EncodedLen(len(data)))
		}
		if strings.Trim(text, base45Alphabet) != "" {
			t.Fatalf("%q has characters outside the alphabet", text)
		}
		got, err := base45AppendDecode(nil, text)
		if err != nil {
			t.Fatalf("decode %q: %v", text, err)
		}
		if !bytes.Equal(got, data) {
			t.Fatalf("round trip %x gave %x", data, got)
		}
		// Any text decodes or is refused, and what decodes re-encodes to itself.
		if dec, err := base45AppendDecode(nil, string(data)); err == nil && base45Encode(dec) != string(data) {
			t.Fatalf("%q decodes to %x, which encodes to %q", data, dec, base45Encode(dec))
		} else if err != nil && !errors.Is(err, errBase45) {
			t.Fatalf("decode %q: unexpected error %v", data, err)
		}
	})
}
