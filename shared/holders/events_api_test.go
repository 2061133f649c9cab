package holders_test

import (
	"net/http"
	"testing"

	"github.com/citycode/citycode/shared/apitest"
	"github.com/citycode/citycode/shared/outbox/outboxtest"
)

// Enrolling through the API, as the function is wired from the template,
// writes the enrollment's event.
func TestEnrollThroughTheAPIWritesItsEvent(t *testing.T) {
	t.Parallel()
	api := apitest.New(t)
	_, id := enroll(t, api, "api-events", 21)
	got := outboxtest.Recorded(t, api.DB.Client, api.DB.Tables["EventsTable"])
	if len(got) != 1 || got[0].Type != "city.holder.enrolled.v1" || got[0].Subject != id {
		t.Fatalf("events = %+v, want one city.holder.enrolled.v1 about %s", got, id)
	}
	outboxtest.CheckSchema(t, got[0])

	r := api.Do(apitest.Request{Method: "POST", Path: "/v1/holders", Token: api.Token("api-events", "resident"), Body: enrollment(22)})
	if r.Status != http.StatusConflict {
		t.Fatalf("second enrollment: %d %s", r.Status, r.Body)
	}
	if got := outboxtest.Recorded(t, api.DB.Client, api.DB.Tables["EventsTable"]); len(got) != 1 {
		t.Errorf("%d events after a refused enrollment, want 1", len(got))
	}
}
