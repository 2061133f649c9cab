package medpolicy

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strconv"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// shanghai is China Standard Time. China has had no daylight saving time
// since 1991, so a fixed zone is exact and needs no tzdata in the Lambda
// image.
var shanghai = time.FixedZone("CST", 8*60*60)

// YearOf is the calendar year of t in Asia/Shanghai: the policy year and the
// running-totals year of a bill dated t.
func YearOf(t time.Time) int { return t.In(shanghai).Year() }

//go:embed policy.schema.json
var schemaJSON []byte

// basis says whether a deductible is met once a calendar year ("year") or
// on every bill ("admission").
type basis string

const perYear basis = "year"

// component is a part of a line's patient share the personal account may pay.
type component string

const (
	payDeductible component = "deductible"
	payCopay      component = "copay"
	payBSelfPay   component = "b_self_pay"
	payCSelfPay   component = "c_self_pay"
)

// The file format (infra/medical-policy.md, policy.schema.json).
type (
	policyFile struct {
		ID         string                `json:"id"`
		City       string                `json:"city"`
		Year       int                   `json:"year"`
		BSelfPayBP int64                 `json:"b_self_pay_share_bp"`
		Schemes    map[Scheme]schemeFile `json:"schemes"`
	}
	schemeFile struct {
		AnnualFundCapFen int64      `json:"annual_fund_cap_fen"`
		Standard         groupFile  `json:"standard"`
		Retired          *groupFile `json:"retired"`
	}
	groupFile struct {
		Outpatient visitFile `json:"outpatient"`
		Inpatient  visitFile `json:"inpatient"`
		Pharmacy   visitFile `json:"pharmacy"`
	}
	visitFile struct {
		Deductible *struct {
			Basis     basis            `json:"basis"`
			Fen       *int64           `json:"fen"`
			FenByTier map[string]int64 `json:"fen_by_tier"`
		} `json:"deductible"`
		FundShareBP         map[string]int64 `json:"fund_share_bp"`
		PersonalAccountPays []component      `json:"personal_account_pays"`
	}
)

// maxTier is the highest hospital tier; tier 0 is a pharmacy.
const maxTier = 3

// rule is how one kind of member's bills of one visit type are split.
type rule struct {
	basis      basis
	tiers      [maxTier + 1]bool  // which tiers the rule accepts
	deductible [maxTier + 1]int64 // fen, by tier
	shareBP    [maxTier + 1]int64 // the fund's share above the deductible, by tier
	pays       map[component]bool // what the personal account may pay
}

// schemeRules are one scheme's rules, for members in service (standard) and
// retired; retired members follow the standard rules where the file has no
// retired group.
type schemeRules struct {
	capFen            int64
	standard, retired map[VisitType]rule
}

// Policies are all loaded policies, by city and year.
type Policies struct {
	byCity map[string]map[int]*Policy
}

// Policy is one city's policy for one calendar year. It is immutable and safe
// for concurrent use.
type Policy struct {
	ID   string // "<city>-<year>", e.g. "sh-2026"
	City string
	Year int

	bSelfPayBP int64
	schemes    map[Scheme]schemeRules
}

// Load reads and validates every policy file (*.json) in dir: each against
// the policy schema, its id must be "<city>-<year>" and its file name
// "<id>.json". A broken file fails Load, naming the file.
func Load(dir string) (*Policies, error) {
	fsys := os.DirFS(dir)
	schema, err := compileSchema()
	if err != nil {
		return nil, err
	}
	names, err := fs.Glob(fsys, "*.json")
	if err != nil {
		return nil, err
	}
	if len(names) == 0 {
		return nil, errors.New("medpolicy: no policy files (*.json)")
	}
	ps := &Policies{byCity: map[string]map[int]*Policy{}}
	for _, name := range names {
		data, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		p, err := parse(schema, data)
		if err != nil {
			return nil, fmt.Errorf("medpolicy: %s: %w", name, err)
		}
		if want := p.ID + ".json"; path.Base(name) != want {
			return nil, fmt.Errorf("medpolicy: %s: a policy with id %q belongs in %s", name, p.ID, want)
		}
		if ps.byCity[p.City] == nil {
			ps.byCity[p.City] = map[int]*Policy{}
		}
		ps.byCity[p.City][p.Year] = p
	}
	return ps, nil
}

func compileSchema() (*jsonschema.Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schemaJSON))
	if err != nil {
		return nil, fmt.Errorf("medpolicy: schema: %w", err)
	}
	c := jsonschema.NewCompiler()
	const url = "https://citycode.example/schemas/medical-policy.json"
	if err := c.AddResource(url, doc); err != nil {
		return nil, fmt.Errorf("medpolicy: schema: %w", err)
	}
	return c.Compile(url)
}

// parse validates one file against the schema and builds its Policy.
func parse(schema *jsonschema.Schema, data []byte) (*Policy, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	if err := schema.Validate(doc); err != nil {
		return nil, err
	}
	var f policyFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, err
	}
	if want := fmt.Sprintf("%s-%d", f.City, f.Year); f.ID != want {
		return nil, fmt.Errorf("id %q must be %q (city-year)", f.ID, want)
	}
	p := &Policy{ID: f.ID, City: f.City, Year: f.Year, bSelfPayBP: f.BSelfPayBP, schemes: map[Scheme]schemeRules{}}
	for scheme, sf := range f.Schemes {
		sr := schemeRules{capFen: sf.AnnualFundCapFen}
		if sr.standard, err = sf.Standard.rules(); err != nil {
			return nil, fmt.Errorf("%s standard: %w", scheme, err)
		}
		sr.retired = sr.standard
		if sf.Retired != nil {
			if sr.retired, err = sf.Retired.rules(); err != nil {
				return nil, fmt.Errorf("%s retired: %w", scheme, err)
			}
		}
		p.schemes[scheme] = sr
	}
	return p, nil
}

func (g groupFile) rules() (map[VisitType]rule, error) {
	out := map[VisitType]rule{}
	for vt, vf := range map[VisitType]visitFile{Outpatient: g.Outpatient, Inpatient: g.Inpatient, Pharmacy: g.Pharmacy} {
		r, err := vf.rule()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", vt, err)
		}
		out[vt] = r
	}
	return out, nil
}

// rule builds one visit type's rule, checking what the schema cannot: a
// deductible by tier names exactly the tiers that have a fund share.
func (v visitFile) rule() (rule, error) {
	r := rule{basis: perYear, pays: map[component]bool{}}
	for key, bp := range v.FundShareBP {
		t, _ := strconv.Atoi(key) // the schema allows only "0".."3"
		r.tiers[t], r.shareBP[t] = true, bp
	}
	if d := v.Deductible; d != nil {
		r.basis = d.Basis
		for t, ok := range r.tiers {
			switch {
			case !ok:
			case d.Fen != nil:
				r.deductible[t] = *d.Fen
			default:
				fen, found := d.FenByTier[strconv.Itoa(t)]
				if !found {
					return rule{}, fmt.Errorf("deductible: no fen_by_tier for tier %d", t)
				}
				r.deductible[t] = fen
			}
		}
		if len(d.FenByTier) > 0 && len(d.FenByTier) != len(v.FundShareBP) {
			return rule{}, errors.New("deductible: fen_by_tier names a tier without a fund share")
		}
	}
	for _, c := range v.PersonalAccountPays {
		r.pays[c] = true
	}
	return r, nil
}

// For returns city's policy for the calendar year (Asia/Shanghai) of on.
// There is no fallback to an earlier year: a year without a file is
// ErrNoPolicy.
func (p *Policies) For(city string, on time.Time) (*Policy, error) {
	if pol, ok := p.byCity[city][YearOf(on)]; ok {
		return pol, nil
	}
	return nil, fmt.Errorf("%w: %s %d", ErrNoPolicy, city, YearOf(on))
}
