package holders

import (
	"encoding/base32"
	"errors"
	"strings"
)

// The opaque holder reference a code carries (qr-issue signs it; qr-verify,
// which links no AWS SDK package and so not this one, keeps a copy of
// IDFromRef checked against this one by its tests).

var idEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// ErrBadRef is a holder reference that names no possible holder.
var ErrBadRef = errors.New("holders: bad holder reference")

// Ref is the opaque holder reference carried in a code: the 16 random bytes
// of the holder id, nothing personal.
func Ref(id string) ([16]byte, error) {
	var ref [16]byte
	raw, ok := strings.CutPrefix(id, "hdr_")
	b, err := idEncoding.DecodeString(strings.ToUpper(raw))
	if !ok || err != nil || len(b) != len(ref) {
		return ref, ErrBadRef
	}
	copy(ref[:], b)
	return ref, nil
}

// IDFromRef is the holder id a code's reference names.
func IDFromRef(ref [16]byte) string {
	return "hdr_" + strings.ToLower(idEncoding.EncodeToString(ref[:]))
}
