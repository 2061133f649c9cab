package webhooks_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/citycode/citycode/shared/apitest"
	"github.com/citycode/citycode/shared/holders"
	"github.com/citycode/citycode/shared/webhooks"
)

type received struct {
	id, signature string
	event         map[string]any
	verified      error
}

// TestEnrollmentReachesASubscribedAgency runs the whole pipeline as make run
// does: an agency subscribes, a resident enrolls while no publisher runs
// (as if it had been killed between the change and its publication), then
// the jobs start: the outbox's stream, the publisher, EventBridge (moto),
// the delivery queue and the webhook delivery. The agency's receiver gets
// the enrollment event once, with a valid Standard Webhooks signature.
func TestEnrollmentReachesASubscribedAgency(t *testing.T) {
	t.Parallel()
	api := apitest.New(t)

	var mu sync.Mutex
	var secret []byte
	var got []received
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		rec := received{id: r.Header.Get("webhook-id"), signature: r.Header.Get("webhook-signature"),
			verified: webhooks.Verify([][]byte{secret}, r.Header, body, time.Now(), 5*time.Minute)}
		_ = json.Unmarshal(body, &rec.event)
		got = append(got, rec)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer receiver.Close()

	police, err := api.TokenWithOrg("police-demo-events", "events:subscribe", "police-demo")
	if err != nil {
		t.Fatal(err)
	}
	sub := api.Do(apitest.Request{Method: "POST", Path: "/v1/subscriptions", Token: police,
		Body: fmt.Sprintf(`{"endpoint":%q,"types":["city.holder.enrolled.v1"]}`, receiver.URL+"/hooks/citycode")})
	if sub.Status != http.StatusCreated {
		t.Fatalf("subscribe: %d %s", sub.Status, sub.Body)
	}
	mu.Lock()
	secret, err = webhooks.ParseSecret(sub.JSON["secret"].(string))
	mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}

	resident := api.Token("pipeline-resident", "resident")
	first17 := "31010119911111001"
	enrolled := api.Do(apitest.Request{Method: "POST", Path: "/v1/holders", Token: resident, Body: fmt.Sprintf(
		`{"name":"管道","document_type":"resident_id","document_number":"%s%c","date_of_birth":"1991-11-11","nationality":"CHN"}`,
		first17, holders.ResidentIDCheck(first17))})
	if enrolled.Status != http.StatusCreated {
		t.Fatalf("enroll: %d %s", enrolled.Status, enrolled.Body)
	}
	holderID := enrolled.JSON["holder_id"].(string)

	api.StartJobs()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n > 0 {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(3 * time.Second) // anything further would be a duplicate
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 {
		t.Fatalf("the receiver got %d requests, want exactly the one enrollment event", len(got))
	}
	r := got[0]
	if r.verified != nil {
		t.Errorf("signature %q does not verify: %v", r.signature, r.verified)
	}
	if r.event["type"] != "city.holder.enrolled.v1" || r.event["subject"] != holderID || r.event["id"] != r.id {
		t.Errorf("event %v (webhook-id %s), want city.holder.enrolled.v1 for %s with its own id", r.event, r.id, holderID)
	}
	if data, _ := json.Marshal(r.event["data"]); json.Valid(data) && (contains(data, "管道") || contains(data, first17)) {
		t.Errorf("the event carries personal data: %s", data)
	}
}

func contains(b []byte, s string) bool { return strings.Contains(string(b), s) }
