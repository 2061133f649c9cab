package holders

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/citycode/citycode/shared/dynamotest"
	"github.com/citycode/citycode/shared/outbox"
	"github.com/citycode/citycode/shared/outbox/outboxtest"
)

// event is an envelope reduced to what a test states exactly.
type event struct {
	Type, Source, Subject, Sequence string
	Time                            time.Time
	Data                            map[string]any
}

func recorded(t *testing.T, db *dynamotest.Env) []event {
	t.Helper()
	var out []event
	for _, e := range outboxtest.Recorded(t, db.Client, db.Tables["EventsTable"]) {
		outboxtest.CheckSchema(t, e)
		got := event{Type: e.Type, Source: e.Source, Subject: e.Subject, Sequence: e.Sequence, Time: e.Time}
		if err := json.Unmarshal(e.Data, &got.Data); err != nil {
			t.Fatal(err)
		}
		out = append(out, got)
	}
	return out
}

// noPersonalData fails t if any event of db mentions h's name, document
// number or date of birth.
func noPersonalData(t *testing.T, db *dynamotest.Env, h Holder) {
	t.Helper()
	for _, e := range outboxtest.Recorded(t, db.Client, db.Tables["EventsTable"]) {
		b, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		for _, secret := range []string{h.Name, h.DocumentNumber, h.DateOfBirth} {
			if strings.Contains(string(b), secret) {
				t.Errorf("event %s carries %q", e.Type, secret)
			}
		}
	}
}

func seq(n int) string { return strings.Repeat("0", 19) + string(rune('0'+n)) }

func TestEnrollmentWritesItsEventInTheSameTransaction(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, db := newEventedStore(t)
	h, err := s.Enroll(ctx, "sub-ev", adult(11))
	if err != nil {
		t.Fatal(err)
	}
	want := []event{{Type: "city.holder.enrolled.v1", Source: "/citycode/holders", Subject: h.ID, Sequence: seq(1), Time: h.CreatedAt,
		Data: map[string]any{"holder_id": h.ID, "kind": "resident", "document_type": "resident_id", "nationality": "CHN",
			"enrolled_at": h.CreatedAt.Format(time.RFC3339Nano)}}}
	if diff := cmp.Diff(want, recorded(t, db)); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	noPersonalData(t, db, h)

	// Refused enrollments write no event.
	if _, err := s.Enroll(ctx, "sub-ev", adult(12)); !errors.Is(err, ErrAlreadyEnrolled) {
		t.Fatalf("same login again: %v", err)
	}
	if _, err := s.Enroll(ctx, "sub-ev-2", adult(11)); !errors.Is(err, ErrDocumentTaken) {
		t.Fatalf("same document again: %v", err)
	}
	if got := recorded(t, db); len(got) != 1 {
		t.Errorf("%d events after two refused enrollments, want 1", len(got))
	}
}

func TestDependantWritesTwoEventsInTheSameTransaction(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, db := newEventedStore(t)
	g, err := s.Enroll(ctx, "sub-ev-guardian", adult(13))
	if err != nil {
		t.Fatal(err)
	}
	d, err := s.AddDependant(ctx, g.ID, child(13))
	if err != nil {
		t.Fatal(err)
	}
	got := recorded(t, db)
	if len(got) != 3 {
		t.Fatalf("%d events, want the guardian's and two for the dependant: %+v", len(got), got)
	}
	want := []event{
		{Type: "city.holder.enrolled.v1", Source: "/citycode/holders", Subject: d.ID, Sequence: seq(1), Time: d.CreatedAt,
			Data: map[string]any{"holder_id": d.ID, "kind": "dependant", "document_type": "resident_id", "nationality": "CHN",
				"enrolled_at": d.CreatedAt.Format(time.RFC3339Nano)}},
		{Type: "city.holder.dependant_added.v1", Source: "/citycode/holders", Subject: d.ID, Sequence: seq(2), Time: d.CreatedAt,
			Data: map[string]any{"holder_id": d.ID, "guardian_id": g.ID, "relationship": "child", "document_type": "resident_id",
				"nationality": "CHN"}},
	}
	if diff := cmp.Diff(want, got[1:]); diff != "" {
		t.Errorf("dependant's events (-want +got):\n%s", diff)
	}
	noPersonalData(t, db, d)

	// Refused dependants write no event.
	if _, err := s.AddDependant(ctx, g.ID, child(13)); !errors.Is(err, ErrDocumentTaken) {
		t.Fatalf("same document again: %v", err)
	}
	if _, err := s.AddDependant(ctx, "hdr_nobody", child(14)); !errors.Is(err, ErrNotEnrolled) {
		t.Fatalf("unknown guardian: %v", err)
	}
	if got := recorded(t, db); len(got) != 3 {
		t.Errorf("%d events after two refused dependants, want 3", len(got))
	}
}

// The function reads its events table from the template's EVENTS_TABLE.
func TestConfigReadsTheEventsTable(t *testing.T) {
	t.Parallel()
	db := dynamotest.New(t)
	cfg, err := ConfigFrom(db.AppEnv(t, "HoldersFunction"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Events != (outbox.Config{Table: db.Tables["EventsTable"], Retention: outbox.DefaultRetention}) {
		t.Errorf("events config = %+v, want the test's EventsTable and the default retention", cfg.Events)
	}
}
