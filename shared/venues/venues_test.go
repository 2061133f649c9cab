package venues_test

import (
	"crypto/rand"
	"fmt"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/citycode/citycode/shared/apitest"
	"github.com/citycode/citycode/shared/credential"
	"github.com/citycode/citycode/shared/holders"
	"github.com/citycode/citycode/shared/localstack"
	"github.com/citycode/citycode/shared/trust"
	"github.com/citycode/citycode/shared/venues"
)

// world is a local API with one enrolled resident, whose codes the tests
// sign directly, and the library's gate.
type world struct {
	api    *apitest.API
	holder [16]byte
	gate   string
}

func newWorld(t *testing.T) world {
	t.Helper()
	api := apitest.New(t)
	tok := api.Token("venue-reader", "resident")
	r := api.Do(apitest.Request{Method: "POST", Path: "/v1/holders", Token: tok, Body: fmt.Sprintf(
		`{"name":"林书","document_type":"resident_id","document_number":"%s%c","date_of_birth":"1995-05-05","nationality":"CHN"}`,
		"31010119950505001", holders.ResidentIDCheck("31010119950505001"))})
	if r.Status != http.StatusCreated {
		t.Fatalf("enroll: %d %s", r.Status, r.Body)
	}
	ref, err := holders.Ref(r.JSON["holder_id"].(string))
	if err != nil {
		t.Fatal(err)
	}
	return world{api: api, holder: ref, gate: token(t, api, "library-demo-entrance", "library-demo")}
}

func token(t *testing.T, api *apitest.API, sub, org string) string {
	t.Helper()
	tok, err := api.TokenWithOrg(sub, "scan:venue", org)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// code signs a fresh code: the home city's for the world's holder, or
// another city's.
func (w world) code(t testing.TB, home bool) string {
	ring, issuer, ref := w.api.Secrets.Home, "CN-SH", w.holder
	if !home {
		ring, issuer = w.api.Secrets.Peer, "CN-HZ"
		_, _ = rand.Read(ref[:])
	}
	return sign(t, ring, issuer, ref)
}

func sign(t testing.TB, ring *trust.KeyRing, issuer string, ref [16]byte) string {
	now := time.Now().Truncate(time.Second)
	s, err := ring.Signer(now)
	if err != nil {
		t.Error(err)
		return ""
	}
	c := credential.Claims{Issuer: issuer, Subject: ref, IssuedAt: now, NotBefore: now, Expires: now.Add(time.Minute)}
	_, _ = rand.Read(c.CodeID[:])
	code, err := credential.Encode(s, c)
	if err != nil {
		t.Error(err)
	}
	return code
}

func (w world) enter(t testing.TB, gate, venue, code string) apitest.Response {
	key := make([]byte, 8)
	_, _ = rand.Read(key)
	return w.api.Do(apitest.Request{Method: "POST", Path: "/v1/venues/" + venue + "/entries", Token: gate,
		Body: fmt.Sprintf(`{"code":%q}`, code), Header: map[string]string{"Idempotency-Key": fmt.Sprintf("%x", key)}})
}

// capacityOf reads a venue's capacity from the data the function loads.
func capacityOf(t *testing.T, id string) int {
	t.Helper()
	root, err := localstack.RepoRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	all, err := venues.LoadVenues(filepath.Join(root, "infra", "venues", "venues.json"))
	if err != nil {
		t.Fatal(err)
	}
	return all[id].DailyCapacity
}

// TestCapacityIsExactUnderConcurrentScans: 500 codes scanned at once at a
// venue of capacity 300 admit exactly 300; the others are refused with
// capacity_reached, and the day's count says 300.
func TestCapacityIsExactUnderConcurrentScans(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	const venue, scans = "library-demo-reading-room", 500
	capacity := capacityOf(t, venue)
	if capacity != 300 {
		t.Fatalf("%s has capacity %d in venues.json; this test wants 300", venue, capacity)
	}
	codes := make([]string, scans)
	for i := range codes {
		codes[i] = w.code(t, i%5 != 0) // every fifth a visitor from another city
	}
	statuses := make([]string, scans)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, c := range codes {
		wg.Go(func() {
			<-start
			r := w.enter(t, w.gate, venue, c)
			reason, _ := r.JSON["reason"].(string)
			statuses[i] = fmt.Sprintf("%d %s", r.Status, reason)
		})
	}
	close(start)
	wg.Wait()
	counts := map[string]int{}
	for _, s := range statuses {
		counts[s]++
	}
	want := map[string]int{"201 ": capacity, "200 capacity_reached": scans - capacity}
	if diff := cmp.Diff(want, counts); diff != "" {
		t.Errorf("answers (-want +got):\n%s", diff)
	}
	today := time.Now().In(time.FixedZone("CST", 8*3600)).Format(time.DateOnly)
	r := w.api.Do(apitest.Request{Method: "GET", Path: "/v1/venues/" + venue + "/entry-counts", Token: w.gate})
	wantCounts := []any{map[string]any{"date": today, "entries": float64(capacity), "capacity": float64(capacity)}}
	if diff := cmp.Diff(wantCounts, r.JSON["items"]); diff != "" {
		t.Errorf("entry counts (-want +got):\n%s", diff)
	}
}

// TestEntryAnswers: what a gate learns, and who may scan where.
func TestEntryAnswers(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	park := token(t, w.api, "park-demo-gate-1", "park-demo")
	code := w.code(t, true)
	first := w.enter(t, w.gate, "library-demo", code)
	delete(first.JSON, "entry_id")
	capacity := float64(capacityOf(t, "library-demo"))
	today := time.Now().In(time.FixedZone("CST", 8*3600)).Format(time.DateOnly)
	wantFirst := map[string]any{"allowed": true, "venue_id": "library-demo", "date": today, "age_group": "adult", "reader_card": "active", "remaining_today": capacity - 1}
	if diff := cmp.Diff(wantFirst, first.JSON); first.Status != http.StatusCreated || diff != "" {
		t.Errorf("a reader of this city: %d (-want +got):\n%s", first.Status, diff)
	}
	for _, tc := range []struct {
		name, gate, venue, code string
		status                  int
		want                    map[string]any
	}{
		{"the same code again", w.gate, "library-demo", code, 200, map[string]any{"allowed": false, "reason": "replayed", "venue_id": "library-demo"}},
		{"another city's reader", w.gate, "library-demo", w.code(t, false), 201, map[string]any{"allowed": true, "age_group": "adult", "reader_card": "reading_room_only"}},
		{"a park: no reader card", park, "park-demo-century", w.code(t, true), 201, map[string]any{"allowed": true, "age_group": "adult"}},
		{"a bad code", park, "park-demo-century", "CC1:NOTACODE", 200, map[string]any{"allowed": false, "reason": "malformed", "venue_id": "park-demo-century"}},
	} {
		r := w.enter(t, tc.gate, tc.venue, tc.code)
		got := map[string]any{}
		for k := range tc.want {
			got[k] = r.JSON[k]
		}
		_, card := r.JSON["reader_card"]
		if diff := cmp.Diff(tc.want, got); r.Status != tc.status || diff != "" || (card && tc.want["reader_card"] == nil) {
			t.Errorf("%s: %d %s (-want +got):\n%s", tc.name, r.Status, r.Body, diff)
		}
	}
	for _, tc := range []struct {
		name, gate, venue string
		status            int
		code              string
	}{
		{"another organisation's venue", park, "library-demo", 403, "venue_not_yours"},
		{"no such venue", w.gate, "library-nowhere", 404, "venue_not_found"},
	} {
		if r := w.enter(t, tc.gate, tc.venue, w.code(t, true)); r.Status != tc.status || r.Code() != tc.code {
			t.Errorf("%s: %d %s", tc.name, r.Status, r.Body)
		}
		if r := w.api.Do(apitest.Request{Method: "GET", Path: "/v1/venues/" + tc.venue + "/entry-counts", Token: tc.gate}); r.Code() != tc.code {
			t.Errorf("%s, counts: %d %s", tc.name, r.Status, r.Body)
		}
	}
	for _, q := range []string{"from=2026-13-01", "from=2026-11-02&to=2026-11-01", "from=2026-01-01&to=2026-12-31", "cursor=!!"} {
		if r := w.api.Do(apitest.Request{Method: "GET", Path: "/v1/venues/library-demo/entry-counts?" + q, Token: w.gate}); r.Code() != "invalid_query" {
			t.Errorf("counts?%s: %d %s", q, r.Status, r.Body)
		}
	}
	if r := w.api.Do(apitest.Request{Method: "GET", Path: "/v1/venues/library-demo/entry-counts", Token: w.gate}); r.Status != 200 ||
		len(r.JSON["items"].([]any)) != 1 || r.JSON["items"].([]any)[0].(map[string]any)["entries"] != 2.0 {
		t.Errorf("library counts: %s", r.Body)
	}
}

func TestParseVenues(t *testing.T) {
	t.Parallel()
	ok := `{"venues":[{"venue_id":"v","org":"o","kind":"park","name":"P","daily_capacity":10,"timezone":"Asia/Shanghai"}]}`
	if v, err := venues.ParseVenues([]byte(ok)); err != nil || v["v"].Day(time.Date(2026, 1, 1, 20, 0, 0, 0, time.UTC)) != "2026-01-02" {
		t.Errorf("ParseVenues: %v %v; want local dates in Shanghai", v, err)
	}
	for name, doc := range map[string]string{
		"no venues":     `{"venues":[]}`,
		"unknown kind":  `{"venues":[{"venue_id":"v","org":"o","kind":"zoo","name":"Z","daily_capacity":10,"timezone":"Asia/Shanghai"}]}`,
		"no capacity":   `{"venues":[{"venue_id":"v","org":"o","kind":"park","name":"P","daily_capacity":0,"timezone":"Asia/Shanghai"}]}`,
		"bad zone":      `{"venues":[{"venue_id":"v","org":"o","kind":"park","name":"P","daily_capacity":1,"timezone":"Mars/Olympus"}]}`,
		"twice":         `{"venues":[` + ok[11:len(ok)-2] + `,` + ok[11:len(ok)-2] + `]}`,
		"unknown field": `{"venues":[],"extra":1}`,
	} {
		if _, err := venues.ParseVenues([]byte(doc)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
