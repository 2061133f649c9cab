package transit

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"

	"github.com/citycode/citycode/shared/fares"
)

// Gate is one reader in the gate registry (infra/transit/gates.json): a
// metro gate at a station, or a bus's on-board reader on a route.
type Gate struct {
	ID   string     `json:"gate_id"`
	Mode fares.Mode `json:"mode"`
	// StopID is a metro gate's station (a GTFS parent station).
	StopID string `json:"stop_id,omitempty"`
	// RouteID is a bus reader's route (flat fare); its taps name the stop.
	RouteID string `json:"route_id,omitempty"`
	// Operator is the organisation (the token's org) that runs the gate.
	Operator string `json:"operator"`
	// Directions the gate reads: in, out or both; a bus reader only in.
	Directions []string `json:"directions"`
	Note       string   `json:"note,omitempty"`
}

// Gates is the registry by gate id.
type Gates map[string]Gate

// LoadGates reads and checks the registry against the network: every gate
// has an operator and known directions, a metro gate a metro station, a bus
// reader a bus route and only tap-in.
func LoadGates(path string, net *fares.Engine) (Gates, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("gates: %w", err)
	}
	var file struct {
		Comment string `json:"_comment"`
		Gates   []Gate `json:"gates"`
	}
	if err := json.Unmarshal(b, &file); err != nil {
		return nil, fmt.Errorf("gates %s: %w", path, err)
	}
	gates := Gates{}
	for _, g := range file.Gates {
		if err := g.check(net); err != nil {
			return nil, fmt.Errorf("gates %s: gate %q: %w", path, g.ID, err)
		}
		if _, dup := gates[g.ID]; dup {
			return nil, fmt.Errorf("gates %s: gate %q twice", path, g.ID)
		}
		gates[g.ID] = g
	}
	if len(gates) == 0 {
		return nil, fmt.Errorf("gates %s: no gates", path)
	}
	return gates, nil
}

func (g Gate) check(net *fares.Engine) error {
	switch {
	case g.ID == "" || g.Operator == "":
		return fmt.Errorf("needs a gate_id and an operator")
	case len(g.Directions) == 0:
		return fmt.Errorf("needs directions")
	}
	for _, d := range g.Directions {
		if d != DirectionIn && d != DirectionOut {
			return fmt.Errorf("direction %q", d)
		}
	}
	switch g.Mode {
	case fares.Metro:
		if s, ok := net.Stop(g.StopID); !ok || s.Mode != fares.Metro || g.RouteID != "" {
			return fmt.Errorf("a metro gate needs a metro station (stop_id %q) and no route", g.StopID)
		}
	case fares.Bus:
		if r, ok := net.Route(g.RouteID); !ok || r.Mode != fares.Bus || g.StopID != "" {
			return fmt.Errorf("a bus reader needs a bus route (route_id %q) and no stop", g.RouteID)
		}
		if !slices.Equal(g.Directions, []string{DirectionIn}) {
			return fmt.Errorf("a bus reader reads tap-ins only")
		}
	default:
		return fmt.Errorf("mode %q", g.Mode)
	}
	return nil
}

// reads reports whether the gate reads taps in direction d.
func (g Gate) reads(d string) bool { return slices.Contains(g.Directions, d) }

// at checks that a tap at stopID can come from the gate: a metro gate's
// own station, a stop on a bus reader's route.
func (g Gate) at(stopID string, net *fares.Engine) (fares.Stop, string) {
	s, ok := net.Stop(stopID)
	switch {
	case !ok:
		return fares.Stop{}, CodeUnknownStop
	case g.Mode == fares.Metro && stopID != g.StopID:
		return fares.Stop{}, CodeStopNotAtGate
	case g.Mode == fares.Bus && !slices.Contains(s.Lines, g.RouteID):
		return fares.Stop{}, CodeStopNotAtGate
	}
	return s, ""
}
