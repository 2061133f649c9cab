package holders

import (
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/citycode/citycode/shared/httpapi"
)

// Document types a holder may enroll with (DESIGN.md, fixed).
const (
	DocResidentID      = "resident_id"
	DocPassport        = "passport"
	DocHKMacauPermit   = "hk_macau_permit"
	DocTaiwanPermit    = "taiwan_permit"
	DocForeignResident = "foreign_permanent_residence"
)

// Relationships of a dependant to the guardian.
var relationships = map[string]bool{"child": true, "parent": true, "other": true}

// Enrollment is the body of POST /v1/holders (fixed shape) and, with
// Relationship, of POST /v1/holders/me/dependants.
type Enrollment struct {
	Name           string `json:"name"`
	DocumentType   string `json:"document_type"`
	DocumentNumber string `json:"document_number"`
	DateOfBirth    string `json:"date_of_birth"`
	Nationality    string `json:"nationality"`
}

// DependantEnrollment enrolls a dependant.
type DependantEnrollment struct {
	Enrollment
	Relationship string `json:"relationship"`
}

// Document-number shapes. Plain character checks rather than regular
// expressions: package-level regexps are compiled at every cold start of
// every function that links this package.
func isDigit(c rune) bool       { return c >= '0' && c <= '9' }
func isUpperAlnum(c rune) bool  { return isDigit(c) || (c >= 'A' && c <= 'Z') }
func isUpperLetter(c rune) bool { return c >= 'A' && c <= 'Z' }

// all reports whether s is made of n characters of class, for one of ns.
func all(s string, class func(rune) bool, ns ...int) bool {
	ok := false
	for _, n := range ns {
		ok = ok || len(s) == n
	}
	for _, c := range s {
		ok = ok && class(c)
	}
	return ok
}

func validNationality(s string) bool { return all(s, isUpperLetter, 3) }
func validPassport(s string) bool {
	return all(s, isUpperAlnum, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20)
}
func validHKMacau(s string) bool {
	return len(s) > 1 && (s[0] == 'H' || s[0] == 'M') && all(s[1:], isDigit, 8, 10)
}
func validTaiwan(s string) bool    { return all(s, isDigit, 8, 10) }
func validForeignPR(s string) bool { return all(s, isUpperAlnum, 15, 18) }

// normalize trims and upper-cases what is case-insensitive.
func (e *Enrollment) normalize() {
	e.Name = strings.TrimSpace(e.Name)
	e.DocumentType = strings.TrimSpace(e.DocumentType)
	e.DocumentNumber = strings.ToUpper(strings.TrimSpace(e.DocumentNumber))
	e.DateOfBirth = strings.TrimSpace(e.DateOfBirth)
	e.Nationality = strings.ToUpper(strings.TrimSpace(e.Nationality))
}

// Validate normalizes e and checks every field and reports all problems at once.
func (e *Enrollment) Validate(today time.Time) []httpapi.FieldError {
	e.normalize()
	var errs []httpapi.FieldError
	add := func(field, code, detail string) {
		errs = append(errs, httpapi.FieldError{Field: field, Code: code, Detail: detail})
	}
	if e.Name == "" {
		add("name", "required", "must not be empty")
	} else if utf8.RuneCountInString(e.Name) > 64 || strings.ContainsFunc(e.Name, unicode.IsControl) {
		add("name", "invalid", "must be at most 64 characters without control characters")
	}
	dob, dobErr := time.Parse(time.DateOnly, e.DateOfBirth)
	switch {
	case e.DateOfBirth == "":
		add("date_of_birth", "required", "must be a date, YYYY-MM-DD")
	case dobErr != nil:
		add("date_of_birth", "invalid", "must be a date, YYYY-MM-DD")
	case dob.After(today) || dob.Year() < 1900:
		add("date_of_birth", "out_of_range", "must be between 1900-01-01 and today")
	}
	if !validNationality(e.Nationality) {
		add("nationality", "invalid", "must be an ISO 3166-1 alpha-3 code such as CHN")
	}
	if e.DocumentNumber == "" {
		add("document_number", "required", "must not be empty")
	}
	switch e.DocumentType {
	case DocResidentID:
		if e.DocumentNumber != "" && !validResidentID(e.DocumentNumber) {
			add("document_number", "invalid", "must be an 18-character resident ID with a valid check digit")
		} else if e.DocumentNumber != "" && dobErr == nil && e.DocumentNumber[6:14] != dob.Format("20060102") {
			add("date_of_birth", "mismatch", "must match the birth date in the resident ID")
		}
		if e.Nationality != "" && e.Nationality != "CHN" {
			add("nationality", "mismatch", "a resident ID holder's nationality is CHN")
		}
	case DocPassport:
		checkPattern(e.DocumentNumber, validPassport, "5 to 20 letters and digits", add)
	case DocHKMacauPermit:
		checkPattern(e.DocumentNumber, validHKMacau, "H or M followed by 8 or 10 digits", add)
	case DocTaiwanPermit:
		checkPattern(e.DocumentNumber, validTaiwan, "8 or 10 digits", add)
	case DocForeignResident:
		checkPattern(e.DocumentNumber, validForeignPR, "15 or 18 letters and digits", add)
	case "":
		add("document_type", "required", "must be one of resident_id, passport, hk_macau_permit, taiwan_permit, foreign_permanent_residence")
	default:
		add("document_type", "invalid", "must be one of resident_id, passport, hk_macau_permit, taiwan_permit, foreign_permanent_residence")
	}
	return errs
}

func checkPattern(number string, valid func(string) bool, want string, add func(field, code, detail string)) {
	if number != "" && !valid(number) {
		add("document_number", "invalid", "must be "+want)
	}
}

// validResidentID checks an 18-character PRC resident ID: digits, a real
// birth date, and the GB 11643-1999 check character (ISO 7064 MOD 11-2).
func validResidentID(id string) bool {
	if len(id) != 18 || !all(id[:17], isDigit, 17) || !(isDigit(rune(id[17])) || id[17] == 'X') {
		return false
	}
	if _, err := time.Parse("20060102", id[6:14]); err != nil {
		return false
	}
	return id[17] == ResidentIDCheck(id[:17])
}

// ResidentIDCheck computes the check character of the first 17 digits of a
// resident ID.
func ResidentIDCheck(first17 string) byte {
	weights := [17]int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}
	sum := 0
	for i := 0; i < 17; i++ {
		sum += int(first17[i]-'0') * weights[i]
	}
	return "10X98765432"[sum%11]
}

// Validate adds the dependant's own rules.
func (d *DependantEnrollment) Validate(today time.Time) []httpapi.FieldError {
	errs := d.Enrollment.Validate(today)
	d.Relationship = strings.TrimSpace(d.Relationship)
	if !relationships[d.Relationship] {
		errs = append(errs, httpapi.FieldError{Field: "relationship", Code: "invalid", Detail: "must be child, parent or other"})
	} else if d.Relationship == "child" {
		if dob, err := time.Parse(time.DateOnly, d.DateOfBirth); err == nil && !dob.AddDate(18, 0, 0).After(today) {
			errs = append(errs, httpapi.FieldError{Field: "date_of_birth", Code: "not_a_minor", Detail: "a child dependant must be under 18"})
		}
	}
	return errs
}
