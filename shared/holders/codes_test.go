package holders

import (
	"errors"
	"testing"
)

func TestRefRoundTrip(t *testing.T) {
	t.Parallel()
	id := newID("hdr")
	ref, err := Ref(id)
	if err != nil || IDFromRef(ref) != id {
		t.Fatalf("Ref(%s) = %x, %v; back %s", id, ref, err, IDFromRef(ref))
	}
	for _, bad := range []string{"", "hdr_", "acc_" + id[4:], "hdr_!!", id + "a"} {
		if _, err := Ref(bad); !errors.Is(err, ErrBadRef) {
			t.Errorf("Ref(%q) = %v, want ErrBadRef", bad, err)
		}
	}
}
