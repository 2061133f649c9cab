package outbox

import (
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/go-cmp/cmp"
)

// day is 2099-03-DD: far enough ahead that DynamoDB Local's time to live
// never deletes the test's events while it runs.
func day(d, h, m, s, ms int) time.Time {
	return time.Date(2099, 3, d, h, m, s, ms*int(time.Millisecond), time.UTC)
}

func ids(envs []Envelope) []string {
	out := []string{}
	for _, e := range envs {
		out = append(out, e.ID)
	}
	return out
}

func TestReplay(t *testing.T) {
	t.Parallel()
	o := newTestOutbox(t)
	ev := func(typ, subject string) Event {
		return Event{Type: typ, Source: "/test", Subject: subject, Data: map[string]string{"x": subject}}
	}
	record := func(at time.Time, e Event) Envelope { return recordAt(t, o, at, e)[0] }
	// Older than the 30-day retention on 4 March: never replayed, even
	// before time to live deletes it.
	old := record(time.Date(2099, 1, 15, 0, 0, 0, 0, time.UTC), ev("city.a.v1", "s1"))
	e1 := record(day(1, 23, 59, 59, 500), ev("city.a.v1", "s1"))
	e2 := record(day(2, 0, 0, 0, 0), ev("city.b.v1", "s2"))
	e3 := record(day(2, 0, 0, 0, 1), ev("city.a.v1", "s1"))
	e3b := record(day(2, 0, 0, 0, 2), ev("city.b.v1", "s2")) // back to e2's shard
	// Nothing on 3 March.
	e4 := record(day(4, 10, 0, 0, 0), ev("city.b.v1", "s2"))
	e5 := record(day(4, 10, 0, 1, 0), ev("city.a.v1", "s3"))
	all := []string{e1.ID, e2.ID, e3.ID, e3b.ID, e4.ID, e5.ID}
	if dayKey("d", "s1") == dayKey("d", "s2") || dayKey("d", "s2") == dayKey("d", "s3") {
		t.Fatal("the subjects share a shard: the test would not check that replay merges shards")
	}

	settled := o.at(day(4, 10, 5, 0, 0)) // every event is a minute old
	after := func(id string) Position {
		p, err := settled.After(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct {
		name  string
		from  Position
		limit int
		keep  func(Envelope) bool
		want  []string
	}{
		{"from before retention", At(time.Date(2098, 12, 1, 0, 0, 0, 0, time.UTC)), 100, nil, all},
		{"from the old event", after(old.ID), 100, nil, all},
		{"from a time between events", At(day(1, 23, 59, 59, 600)), 100, nil, all[1:]},
		{"from an event's exact time", At(day(2, 0, 0, 0, 0)), 100, nil, all[1:]},
		{"from an event id", after(e2.ID), 100, nil, all[2:]},
		{"across an empty day", after(e3b.ID), 100, nil, all[4:]},
		{"from the last event", after(e5.ID), 100, nil, []string{}},
		{"limited", At(day(1, 0, 0, 0, 0)), 2, nil, all[:2]},
		{"filtered by type", At(day(1, 0, 0, 0, 0)), 100, func(e Envelope) bool { return e.Type == "city.a.v1" }, []string{e1.ID, e3.ID, e5.ID}},
		{"filtered and limited", At(day(1, 0, 0, 0, 0)), 2, func(e Envelope) bool { return e.Subject == "s2" }, []string{e2.ID, e3b.ID}},
	} {
		got, _, err := settled.Since(t.Context(), tc.from, tc.limit, tc.keep)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if diff := cmp.Diff(tc.want, ids(got)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tc.name, diff)
		}
	}

	t.Run("pages", func(t *testing.T) {
		var got []string
		pos, pages := At(day(1, 0, 0, 0, 0)), 0
		for ; pages < 10; pages++ {
			page, next, err := settled.Since(t.Context(), pos, 2, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(page) == 0 {
				if next != At(day(4, 10, 4, 0, 0)) {
					t.Errorf("final position %s, want the settle horizon", next)
				}
				break
			}
			got, pos = append(got, ids(page)...), next
		}
		if diff := cmp.Diff(all, got); diff != "" || pages != 3 {
			t.Errorf("%d pages (-want +got):\n%s", pages, diff)
		}
	})

	t.Run("young events wait for the settle horizon", func(t *testing.T) {
		early := o.at(day(4, 10, 1, 0, 500)) // e5 is 59.5 s old
		got, next, err := early.Since(t.Context(), after(e3b.ID), 100, nil)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{e4.ID}, ids(got)); diff != "" {
			t.Errorf("before e5 settled (-want +got):\n%s", diff)
		}
		got, _, err = settled.Since(t.Context(), next, 100, nil)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{e5.ID}, ids(got)); diff != "" {
			t.Errorf("continuing once e5 settled (-want +got):\n%s", diff)
		}
	})

	t.Run("refusals", func(t *testing.T) {
		if _, err := settled.After(t.Context(), "0199a8f0-0000-7000-8000-000000000000"); !errors.Is(err, ErrUnknownEvent) {
			t.Errorf("After(unknown id) = %v, want ErrUnknownEvent", err)
		}
		for _, p := range []Position{"", "yesterday", "2099-03-01T00:00:00Z", Position(string(At(day(1, 0, 0, 0, 0))) + "x")} {
			if _, _, err := settled.Since(t.Context(), p, 10, nil); !errors.Is(err, ErrBadPosition) {
				t.Errorf("Since(%q) = %v, want ErrBadPosition", p, err)
			}
		}
		if _, _, err := settled.Since(t.Context(), At(day(1, 0, 0, 0, 0)), 0, nil); err == nil {
			t.Error("Since accepted limit 0")
		}
	})
}

// image turns an item as DynamoDB stores it into a stream record's image.
func image(t *testing.T, it map[string]types.AttributeValue) map[string]events.DynamoDBAttributeValue {
	t.Helper()
	img := map[string]events.DynamoDBAttributeValue{}
	for k, v := range it {
		switch v := v.(type) {
		case *types.AttributeValueMemberS:
			img[k] = events.NewStringAttribute(v.Value)
		case *types.AttributeValueMemberN:
			img[k] = events.NewNumberAttribute(v.Value)
		default:
			t.Fatalf("attribute %s has an unexpected type %T", k, v)
		}
	}
	return img
}

func TestDecode(t *testing.T) {
	t.Parallel()
	o := newTestOutbox(t)
	at := day(5, 8, 0, 0, 0)
	e := recordAt(t, o, at, Event{Type: "city.a.v1", Source: "/test", Subject: "s1", Data: map[string]int{"n": 1}})[0]

	got, ok, err := Decode(image(t, getItem(t, o, dayKey("2099-03-05", "s1"), string(At(at))+"#"+e.ID)))
	if err != nil || !ok {
		t.Fatalf("Decode(event item) = %v, %v", ok, err)
	}
	if diff := cmp.Diff(e, got); diff != "" {
		t.Errorf("decoded envelope (-want +got):\n%s", diff)
	}
	for name, it := range map[string]map[string]types.AttributeValue{
		"index":   getItem(t, o, "EVENT#"+e.ID, "EVENT"),
		"counter": getItem(t, o, "SEQ#s1", "SEQ"),
	} {
		if _, ok, err := Decode(image(t, it)); ok || err != nil {
			t.Errorf("Decode(%s item) = %v, %v; want skipped", name, ok, err)
		}
	}
	for name, img := range map[string]map[string]events.DynamoDBAttributeValue{
		"no envelope":  {"pk": events.NewStringAttribute("DAY#2099-03-05")},
		"bad envelope": {"pk": events.NewStringAttribute("DAY#2099-03-05"), "event": events.NewStringAttribute("{")},
	} {
		if _, _, err := Decode(img); err == nil {
			t.Errorf("Decode(%s) accepted it", name)
		}
	}
}
