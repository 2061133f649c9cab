package trust

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/citycode/citycode/shared/credential"
)

// MaxListClockSkew is how far in a gate's future a list's issued_at may
// be: more means the gate's clock or the publisher's is wrong, and taking
// the list would stretch its offline life.
const MaxListClockSkew = 5 * time.Minute

var (
	// ErrTrustListStale: the gate has no list, or its list is at least
	// max_offline_age_seconds old; reason "trust_list_stale".
	ErrTrustListStale = errors.New("trust_list_stale")
	// ErrNotNewer: Update was given a list whose version is not above the
	// gate's; the gate keeps its list. Re-downloading the same list gives it.
	ErrNotNewer = errors.New("trust: list version is not newer")
)

// Reason answers the stable reason code of a verification error:
// "trust_list_stale", a credential.Reason, or "" for nil and other errors.
func Reason(err error) string {
	if errors.Is(err, ErrTrustListStale) {
		return ErrTrustListStale.Error()
	}
	return credential.Reason(err)
}

// Gate is what an offline gate does: it pins the home root at installation,
// takes newer signed lists, and verifies codes against its list alone while
// that list is younger than its max offline age. It is safe for concurrent use.
type Gate struct {
	root ed25519.PublicKey

	mu   sync.RWMutex
	list *List
}

// NewGate answers a gate pinned to the home issuer's root, with no list yet.
func NewGate(pinnedRoot ed25519.PublicKey) *Gate {
	return &Gate{root: pinnedRoot}
}

// Update verifies a downloaded list against the pinned root and makes it
// the gate's list. It refuses a list that does not verify (ErrInvalidList),
// one whose version is not above the current one (ErrNotNewer: no
// rollback to an older list) and one issued more than MaxListClockSkew
// after now.
func (g *Gate) Update(signed string, now time.Time) error {
	l, err := VerifyList(signed, g.root)
	if err != nil {
		return err
	}
	if l.IssuedAt.After(now.Add(MaxListClockSkew)) {
		return fmt.Errorf("trust: list issued at %s, after this gate's clock %s", l.IssuedAt.Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.list != nil && l.Version <= g.list.Version {
		return fmt.Errorf("%w: %d, have %d", ErrNotNewer, l.Version, g.list.Version)
	}
	g.list = &l
	return nil
}

// Verify checks a code offline at now: ErrTrustListStale when the gate has
// no list or now - issued_at >= max_offline_age, otherwise credential.Verify
// against the list's keys with the clock skew tolerance.
func (g *Gate) Verify(code string, now time.Time, skew time.Duration) (credential.Claims, error) {
	g.mu.RLock()
	l := g.list
	g.mu.RUnlock()
	if l == nil {
		return credential.Claims{}, fmt.Errorf("%w: no trust list", ErrTrustListStale)
	}
	if age := now.Sub(l.IssuedAt); age >= l.MaxOfflineAge() {
		return credential.Claims{}, fmt.Errorf("%w: list version %d is %v old", ErrTrustListStale, l.Version, age.Truncate(time.Second))
	}
	return credential.Verify(code, l.Lookup(), now, skew)
}
