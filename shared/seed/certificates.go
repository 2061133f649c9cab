package seed

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/citycode/citycode/shared/app"
	"github.com/citycode/citycode/shared/awsclient"
	"github.com/citycode/citycode/shared/certificates"
	"github.com/citycode/citycode/shared/holders"
	"github.com/citycode/citycode/shared/outbox"
	"github.com/citycode/citycode/shared/secretstore"
)

// Certificate is a demo certificate (demo.json's "certificates"), issued
// by its category's issuer to the resident enrolled as Sub, or with
// DependantName to the dependant of that name they enrolled. Name is
// unique in the file: the certificate's id derives from it.
type Certificate struct {
	Name          string          `json:"name"`
	Sub           string          `json:"sub"`
	DependantName string          `json:"dependant_name"`
	Category      string          `json:"category"`
	Fields        json.RawMessage `json:"fields"`
	ValidFrom     string          `json:"valid_from"`
	ValidUntil    string          `json:"valid_until"`
}

// LoadCertificates issues the demo certificates, as their issuing agencies
// would through the API (the same store, fields and term checked against
// the categories file), with env's configuration (the certificates
// function's environment), after Load has enrolled the residents. Each
// certificate's id derives from its name, so a second run finds them all
// issued and changes nothing.
func LoadCertificates(ctx context.Context, env app.Env, d Demo) error {
	cfg, err := certificates.ConfigFrom(env)
	if err != nil {
		return err
	}
	cats, err := certificates.LoadCatalogue(cfg.CategoriesFile)
	if err != nil {
		return err
	}
	awsCfg, err := awsclient.Config(ctx, env)
	if err != nil {
		return err
	}
	keys, err := certificates.LoadDocumentKeys(ctx, env, secretstore.New(awsCfg).Read)
	if err != nil {
		return err
	}
	db := awsclient.DynamoDB(awsCfg, env)
	people := holders.NewStore(db, cfg.HoldersTable, nil)
	store := certificates.NewStore(db, cfg.CertificatesTable, cfg.HoldersTable, cfg.CodeUsesTable,
		outbox.New(db, cfg.Events.Table, cfg.Events.Retention), keys)
	for _, in := range d.Certificates {
		cat, ok := cats.Category(in.Category)
		if !ok {
			return fmt.Errorf("seed certificate %s: no category %q", in.Name, in.Category)
		}
		from, until, errs := cat.Term(in.ValidFrom, in.ValidUntil, time.Now())
		if errs = append(errs, cat.ValidateFields(in.Fields)...); len(errs) > 0 {
			return fmt.Errorf("seed certificate %s: invalid: %+v", in.Name, errs)
		}
		id, err := people.HolderIDForLogin(ctx, in.Sub)
		if err != nil {
			return fmt.Errorf("seed certificate %s of %s: %w", in.Name, in.Sub, err)
		}
		if in.DependantName != "" {
			if id, err = dependantNamed(ctx, people, id, in.DependantName); err != nil {
				return fmt.Errorf("seed certificate %s of %s's %s: %w", in.Name, in.Sub, in.DependantName, err)
			}
		}
		var fields bytes.Buffer
		if err := json.Compact(&fields, in.Fields); err != nil {
			return fmt.Errorf("seed certificate %s: %w", in.Name, err)
		}
		c := certificates.Certificate{ID: certificates.SeedID(in.Name), Category: cat.ID, HolderID: id, IssuerOrg: cat.IssuerOrg,
			ValidFrom: from, ValidUntil: until, Fields: fields.Bytes()}
		if _, err := store.Issue(ctx, c, cat.OnePerHolder); err != nil {
			return fmt.Errorf("seed certificate %s: %w", in.Name, err)
		}
	}
	return nil
}
