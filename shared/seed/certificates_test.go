package seed_test

import (
	"encoding/json"
	"maps"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/citycode/citycode/shared/apitest"
	"github.com/citycode/citycode/shared/certificates"
	"github.com/citycode/citycode/shared/dynamotest"
	"github.com/citycode/citycode/shared/holders"
	"github.com/citycode/citycode/shared/seed"
)

// TestDemoCertificatesSeedOnce: the demo resident gets an ID card and a
// driving licence, valid and active, whose fields the categories file
// accepts; a second seed finds them and changes nothing (same ids,
// versions, documents).
func TestDemoCertificatesSeedOnce(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db := dynamotest.New(t)
	demo := readDemo(t)
	if err := seed.Load(ctx, db.AppEnv(t, "HoldersFunction"), demo); err != nil {
		t.Fatal(err)
	}
	env := db.FunctionEnv(t, "CertificatesFunction")
	maps.Copy(env, apitest.Secrets(t, db).Env)
	appEnv := func(k string) string { return env[k] }
	cfg, err := certificates.ConfigFrom(appEnv)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := certificates.LoadDocumentKeys(ctx, appEnv, nil)
	if err != nil {
		t.Fatal(err)
	}
	store := certificates.NewStore(db.Client, cfg.CertificatesTable, cfg.HoldersTable, cfg.CodeUsesTable, nil, keys)
	holderID, err := holders.NewStore(db.Client, db.Tables["HoldersTable"], nil).HolderIDForLogin(ctx, "demo-resident-1")
	if err != nil {
		t.Fatal(err)
	}

	var runs [2][]certificates.Certificate
	for i := range runs {
		if err := seed.LoadCertificates(ctx, appEnv, demo); err != nil {
			t.Fatalf("run %d: %v", i+1, err)
		}
		page, err := store.ByHolder(ctx, holderID, "", 100, "")
		if err != nil {
			t.Fatal(err)
		}
		if runs[i], err = store.Full(ctx, page.Items); err != nil {
			t.Fatal(err)
		}
	}
	if diff := cmp.Diff(runs[0], runs[1]); diff != "" {
		t.Errorf("a second seed changed the certificates (-first +second):\n%s", diff)
	}
	got := map[string]certificates.Certificate{}
	for _, c := range runs[0] {
		got[c.Category] = c
	}
	if len(got) != 2 || len(runs[0]) != 2 {
		t.Fatalf("certificates of demo-resident-1: %+v; want one ID card and one driving licence", runs[0])
	}
	now := time.Now()
	for _, category := range []string{"resident_id_card", "driving_licence"} {
		c, ok := got[category]
		if !ok {
			t.Errorf("no %s", category)
			continue
		}
		var fields map[string]any
		if err := json.Unmarshal(c.Fields, &fields); err != nil || fields["id_number"] != "31010119850612001X" {
			t.Errorf("%s fields %s (%v): want demo-resident-1's id number", category, c.Fields, err)
		}
		if c.StatusAt(now) != certificates.StatusActive || c.Version != 1 || c.IssuerOrg != "police-demo" || c.Document == "" {
			t.Errorf("%s: status %s, version %d, issuer %s, document %d bytes; want an active v1 of police-demo, signed",
				category, c.StatusAt(now), c.Version, c.IssuerOrg, len(c.Document))
		}
	}
	if want := "2030-05-01"; got["driving_licence"].ValidUntil != want {
		t.Errorf("driving licence valid until %q; want %q (the category's six years)", got["driving_licence"].ValidUntil, want)
	}
}
