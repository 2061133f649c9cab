package medical

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"

	"github.com/citycode/citycode/shared/httpapi"
	"github.com/citycode/citycode/shared/medpolicy"
)

// MaxQuantity bounds a line's quantity.
const MaxQuantity = 100_000

var (
	itemCodePattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)
	billIDPattern   = regexp.MustCompile(`^[A-Za-z0-9._/-]{1,64}$`)
)

// LineRequest is one line of a bill as submitted.
type LineRequest struct {
	ItemCode  string `json:"item_code"`
	Category  string `json:"category"`
	Quantity  *int64 `json:"quantity"`
	AmountFen *int64 `json:"amount_fen"`
}

// Lines are a bill's lines and total as submitted.
type Lines struct {
	Lines    []LineRequest `json:"lines"`
	TotalFen *int64        `json:"total_fen"`
}

// validate checks the lines and that they add up to the total, naming each
// bad field (lines[2].amount_fen), and returns them for the engine.
func (b Lines) validate() ([]medpolicy.Line, []httpapi.FieldError) {
	var errs []httpapi.FieldError
	bad := func(field, code, detail string) {
		errs = append(errs, httpapi.FieldError{Field: field, Code: code, Detail: detail})
	}
	if len(b.Lines) == 0 || len(b.Lines) > medpolicy.MaxLines {
		bad("lines", "out_of_range", fmt.Sprintf("a bill has 1 to %d lines", medpolicy.MaxLines))
	}
	lines := make([]medpolicy.Line, 0, len(b.Lines))
	var sum int64
	for i, l := range b.Lines {
		at := func(f string) string { return fmt.Sprintf("lines[%d].%s", i, f) }
		if !itemCodePattern.MatchString(l.ItemCode) {
			bad(at("item_code"), "invalid", "1 to 64 letters, digits, '.', '_' or '-'")
		}
		switch medpolicy.Category(l.Category) {
		case medpolicy.CategoryA, medpolicy.CategoryB, medpolicy.CategoryC:
		case "":
			bad(at("category"), "required", "the catalogue category: A, B or C")
		default:
			bad(at("category"), "unknown", "the catalogue category must be A, B or C")
		}
		switch {
		case l.Quantity == nil:
			bad(at("quantity"), "required", "how many units")
		case *l.Quantity < 1 || *l.Quantity > MaxQuantity:
			bad(at("quantity"), "out_of_range", fmt.Sprintf("from 1 to %d", MaxQuantity))
		}
		switch {
		case l.AmountFen == nil:
			bad(at("amount_fen"), "required", "the line's total in fen")
		case *l.AmountFen < 1 || *l.AmountFen > medpolicy.MaxLineFen:
			bad(at("amount_fen"), "out_of_range", fmt.Sprintf("an integer number of fen from 1 to %d", int64(medpolicy.MaxLineFen)))
		default:
			sum += *l.AmountFen
		}
		if len(errs) == 0 {
			lines = append(lines, medpolicy.Line{ItemCode: l.ItemCode, Category: medpolicy.Category(l.Category),
				Quantity: *l.Quantity, AmountFen: *l.AmountFen})
		}
	}
	switch {
	case b.TotalFen == nil:
		bad("total_fen", "required", "the bill's total in fen")
	case len(errs) == 0 && *b.TotalFen != sum:
		bad("total_fen", "mismatch", fmt.Sprintf("the lines add up to %d fen, not %d", sum, *b.TotalFen))
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return lines, nil
}

// lineErrors turns the engine's complaint about a line into the field
// error the caller can act on; nil when err is not about a line.
func lineErrors(err error) []httpapi.FieldError {
	var le *medpolicy.LineError
	if !errors.As(err, &le) {
		return nil
	}
	field, code := fmt.Sprintf("lines[%d]", le.Index), "invalid"
	if errors.Is(err, medpolicy.ErrUnknownCategory) {
		field, code = field+".category", "unknown"
	}
	return []httpapi.FieldError{{Field: field, Code: code, Detail: "the policy refuses this line"}}
}

// fingerprint identifies what was billed, so that a bill id settled again
// with the same bill answers the first settlement and with another is
// refused.
func fingerprint(visitID string, lines []medpolicy.Line) string {
	b, _ := json.Marshal(struct {
		V string
		L []medpolicy.Line
	}{visitID, lines})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
