package credential

import (
	"errors"
	"fmt"
)

// base45Alphabet is the 45-character alphabet of RFC 9285, section 4: every
// character is in the QR code alphanumeric mode set.
const base45Alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"

// base45Values maps an ASCII character to its Base45 value, or 0xff when the
// character is not in the alphabet.
var base45Values = func() [256]byte {
	var t [256]byte
	for i := range t {
		t[i] = 0xff
	}
	for i := range len(base45Alphabet) {
		t[base45Alphabet[i]] = byte(i)
	}
	return t
}()

var errBase45 = errors.New("base45")

// base45EncodedLen is the length of the Base45 text of n bytes.
func base45EncodedLen(n int) int { return n/2*3 + n%2*2 }

// base45Encode encodes src as RFC 9285 Base45.
func base45Encode(src []byte) string {
	out := make([]byte, 0, base45EncodedLen(len(src)))
	for len(src) >= 2 {
		n := int(src[0])<<8 | int(src[1])
		out = append(out, base45Alphabet[n%45], base45Alphabet[n/45%45], base45Alphabet[n/2025])
		src = src[2:]
	}
	if len(src) == 1 {
		n := int(src[0])
		out = append(out, base45Alphabet[n%45], base45Alphabet[n/45])
	}
	return string(out)
}

// base45AppendDecode appends the bytes that the Base45 text s encodes to dst.
// It rejects characters outside the alphabet, a length of 1 modulo 3, a
// triple worth more than 65535 and a final pair worth more than 255.
func base45AppendDecode(dst []byte, s string) ([]byte, error) {
	if len(s)%3 == 1 {
		return dst, fmt.Errorf("%w: length %d", errBase45, len(s))
	}
	for i := 0; i < len(s); i += 3 {
		c, d := base45Values[s[i]], base45Values[s[i+1]]
		if c == 0xff || d == 0xff {
			return dst, fmt.Errorf("%w: invalid character near offset %d", errBase45, i)
		}
		n := int(c) + int(d)*45
		if i+2 == len(s) {
			if n > 0xff {
				return dst, fmt.Errorf("%w: final pair worth %d", errBase45, n)
			}
			return append(dst, byte(n)), nil
		}
		e := base45Values[s[i+2]]
		if e == 0xff {
			return dst, fmt.Errorf("%w: invalid character near offset %d", errBase45, i)
		}
		n += int(e) * 2025
		if n > 0xffff {
			return dst, fmt.Errorf("%w: triple worth %d", errBase45, n)
		}
		dst = append(dst, byte(n>>8), byte(n))
	}
	return dst, nil
}
