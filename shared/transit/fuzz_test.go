package transit

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/citycode/citycode/shared/fares"
	"github.com/citycode/citycode/shared/qrverify"
)

// FuzzTapChecks: whatever a gate sends, the checks answer a refusal with a
// code or an input at a known gate and stop, and never panic.
func FuzzTapChecks(f *testing.F) {
	infra := filepath.Join("..", "..", "infra", "transit")
	net, err := fares.Load(filepath.Join(infra, "gtfs"), filepath.Join(infra, "fares.json"))
	if err != nil {
		f.Fatal(err)
	}
	gates, err := LoadGates(filepath.Join(infra, "gates.json"), net)
	if err != nil {
		f.Fatal(err)
	}
	s := &Service{charger: charger{net: net}, gates: gates}
	now := time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)
	f.Add("t1", "gate-demo-l1-people-square-01", "peoples_square", "in", "2026-11-22T08:00:00Z", "CC1:X", "metro-demo")
	f.Add("t2", "bus-demo-route-71-reader", "bus_peoples_square", "out", "2026-11-22T07:59:00+08:00", "", "bus-demo")
	f.Add("", "gate-nowhere", "atlantis", "sideways", "yesterday", "CC1:", "")
	f.Fuzz(func(t *testing.T, id, gate, stop, dir, at, code, org string) {
		tp := Tap{TapID: id, GateID: gate, StopID: stop, Direction: dir, At: at, Code: code}
		if errs := validate(tp); len(errs) > 0 {
			if describe(errs) == "" {
				t.Fatal("a refusal without a detail")
			}
			return
		}
		in, r := s.check(tp, qrverify.Scanner{Subject: "fuzz", Org: org}, now)
		if r != nil {
			if r.Status != StatusRefused || r.Code == "" || r.TapID != id {
				t.Fatalf("refusal %+v", r)
			}
			return
		}
		g, ok := gates[gate]
		if !ok || g.Operator != org || !g.reads(dir) || in.stop.ID != stop || in.fp == "" {
			t.Fatalf("accepted %+v for gate %+v", in, g)
		}
	})
}
