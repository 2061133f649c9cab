package lodging_test

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/citycode/citycode/shared/apitest"
	"github.com/citycode/citycode/shared/credential"
	"github.com/citycode/citycode/shared/holders"
	"github.com/citycode/citycode/shared/trust"
	"github.com/citycode/citycode/shared/webhooks"
)

// world is a local API with hotels' tokens and helpers to enroll
// residents and make codes.
type world struct {
	api          *apitest.API
	hotel, other string // tokens of hotel-demo and hotel-demo-2
}

func newWorld(t *testing.T) world {
	t.Helper()
	api := apitest.New(t)
	return world{api: api, hotel: machine(t, api, "hotel-demo-front-desk", "scan:hotel", "hotel-demo"),
		other: machine(t, api, "hotel-demo-2-front-desk", "scan:hotel", "hotel-demo-2")}
}

func machine(t *testing.T, api *apitest.API, sub, scope, org string) string {
	t.Helper()
	tok, err := api.TokenWithOrg(sub, scope, org)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func residentID(first17 string) string { return first17 + string(holders.ResidentIDCheck(first17)) }

// enroll enrolls a resident (resident ID born on dob) and answers their
// token and holder id.
func (w world) enroll(t *testing.T, sub, name, first17, dob string) (string, string) {
	t.Helper()
	tok := w.api.Token(sub, "resident")
	r := w.api.Do(apitest.Request{Method: "POST", Path: "/v1/holders", Token: tok, Body: fmt.Sprintf(
		`{"name":%q,"document_type":"resident_id","document_number":%q,"date_of_birth":%q,"nationality":"CHN"}`, name, residentID(first17), dob)})
	if r.Status != http.StatusCreated {
		t.Fatalf("enroll %s: %d %s", sub, r.Status, r.Body)
	}
	return tok, r.JSON["holder_id"].(string)
}

// code asks qr-issue for a code of the resident, or of their dependant.
func (w world) code(t *testing.T, token, dependant string) string {
	t.Helper()
	body := ""
	if dependant != "" {
		body = fmt.Sprintf(`{"holder_id":%q}`, dependant)
	}
	r := w.api.Do(apitest.Request{Method: "POST", Path: "/v1/codes", Token: token, Body: body})
	if r.Status != http.StatusCreated {
		t.Fatalf("code: %d %s", r.Status, r.Body)
	}
	return r.JSON["code"].(string)
}

// peerCode signs a code of the second city (CN-HZ) for someone this city
// does not know.
func (w world) peerCode(t *testing.T) string {
	t.Helper()
	return sign(t, w.api.Secrets.Peer, "CN-HZ", randomRef(), time.Now())
}

func randomRef() [16]byte {
	var ref [16]byte
	_, _ = rand.Read(ref[:])
	return ref
}

func sign(t *testing.T, ring *trust.KeyRing, issuer string, ref [16]byte, at time.Time) string {
	t.Helper()
	s, err := ring.Signer(at)
	if err != nil {
		t.Fatal(err)
	}
	now := at.Truncate(time.Second)
	c := credential.Claims{Issuer: issuer, Subject: ref, IssuedAt: now, NotBefore: now, Expires: now.Add(time.Minute)}
	_, _ = rand.Read(c.CodeID[:])
	code, err := credential.Encode(s, c)
	if err != nil {
		t.Fatal(err)
	}
	return code
}

// post sends a POST with a fresh Idempotency-Key.
func (w world) post(t *testing.T, token, path, body string) apitest.Response {
	t.Helper()
	key := make([]byte, 8)
	_, _ = rand.Read(key)
	return w.api.Do(apitest.Request{Method: "POST", Path: path, Token: token, Body: body, Header: map[string]string{"Idempotency-Key": fmt.Sprintf("%x", key)}})
}

func (w world) get(t *testing.T, token, path string) apitest.Response {
	t.Helper()
	return w.api.Do(apitest.Request{Method: "GET", Path: path, Token: token})
}

func guestsJSON(guests ...string) string {
	b, _ := json.Marshal(guests)
	return string(b)
}

// delivery is one POST the police's receiver got.
type delivery struct {
	event    map[string]any
	verified error
}

// policeReceiver subscribes police-demo to city.lodging.* with a receiver
// that checks each delivery's Standard Webhooks signature, and answers
// what it received so far.
func (w world) policeReceiver(t *testing.T) func() []delivery {
	t.Helper()
	var mu sync.Mutex
	var secret []byte
	var got []delivery
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		d := delivery{verified: webhooks.Verify([][]byte{secret}, r.Header, body, time.Now(), 5*time.Minute)}
		_ = json.Unmarshal(body, &d.event)
		got = append(got, d)
		rw.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	police := machine(t, w.api, "police-demo-events", "events:subscribe", "police-demo")
	sub := w.api.Do(apitest.Request{Method: "POST", Path: "/v1/subscriptions", Token: police,
		Body: fmt.Sprintf(`{"endpoint":%q,"types":["city.lodging.*"]}`, srv.URL+"/hooks")})
	if sub.Status != http.StatusCreated {
		t.Fatalf("subscribe: %d %s", sub.Status, sub.Body)
	}
	s, err := webhooks.ParseSecret(sub.JSON["secret"].(string))
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	secret = s
	mu.Unlock()
	return func() []delivery {
		mu.Lock()
		defer mu.Unlock()
		return append([]delivery(nil), got...)
	}
}

// eventually polls cond every 200 ms for up to a minute.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

// guests answers a stay answer's guests.
func guests(r apitest.Response) []map[string]any {
	var out []map[string]any
	for _, g := range r.JSON["guests"].([]any) {
		out = append(out, g.(map[string]any))
	}
	return out
}

func reportStatuses(g map[string]any) []string {
	var out []string
	for _, r := range g["reports"].([]any) {
		out = append(out, r.(map[string]any)["kind"].(string)+":"+r.(map[string]any)["status"].(string))
	}
	return out
}
