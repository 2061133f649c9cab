package lodging

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/citycode/citycode/shared/localstack"
)

func TestThePolicyFileLoads(t *testing.T) {
	t.Parallel()
	root, err := localstack.RepoRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	p, err := LoadPolicy(filepath.Join(root, "infra", "lodging", "policy.json"))
	if err != nil {
		t.Fatal(err)
	}
	if p.RegistrationDeadline("FRA") != 24*time.Hour || p.RegistrationDeadline("CHN") != 2*time.Hour || p.Retention != 180*24*time.Hour || p.ReportTo != "police-demo" {
		t.Errorf("policy %+v: want 24 h for foreign guests, 2 h for domestic ones, 180 days, reports to police-demo", p)
	}
}

func TestParsePolicyRefusesMistakes(t *testing.T) {
	t.Parallel()
	root, err := localstack.RepoRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	good, err := os.ReadFile(filepath.Join(root, "infra", "lodging", "policy.json"))
	if err != nil {
		t.Fatal(err)
	}
	for name, change := range map[string][2]string{
		"no deadline":     {`"foreign_registration": "24h"`, `"foreign_registration": ""`},
		"bad zone":        {`"Asia/Shanghai"`, `"Asia/Atlantis"`},
		"no police":       {`"report_to": "police-demo"`, `"report_to": ""`},
		"too many guests": {`"max_guests_per_stay": 10`, `"max_guests_per_stay": 11`},
		"no retention":    {`"retention_days": 180`, `"retention_days": 0`},
		"unknown field":   {`"timezone"`, `"time_zone"`},
	} {
		doc := strings.Replace(string(good), change[0], change[1], 1)
		if doc == string(good) {
			t.Fatalf("%s: %q is not in policy.json", name, change[0])
		}
		if _, err := ParsePolicy([]byte(doc)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestMinorOn(t *testing.T) {
	t.Parallel()
	day := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	for dob, want := range map[string]bool{"2008-11-23": true, "2008-11-22": false, "1990-01-01": false, "2020-02-29": true, "": false} {
		if got := minorOn(dob, day); got != want {
			t.Errorf("minorOn(%q) = %v, want %v", dob, got, want)
		}
	}
}
