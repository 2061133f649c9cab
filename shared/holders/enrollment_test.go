package holders

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// residentID builds a valid fictional resident ID from its first 17 digits.
func residentID(first17 string) string { return first17 + string(ResidentIDCheck(first17)) }

func TestEnrollmentValidate(t *testing.T) {
	t.Parallel()
	today := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	valid := Enrollment{Name: "张伟", DocumentType: DocResidentID, DocumentNumber: residentID("11010519900307123"), DateOfBirth: "1990-03-07", Nationality: "CHN"}
	with := func(f func(*Enrollment)) Enrollment { e := valid; f(&e); return e }
	tests := []struct {
		name string
		in   Enrollment
		want []string // field:code
	}{
		{name: "valid resident", in: valid},
		{name: "lower-case x accepted", in: with(func(e *Enrollment) {
			e.DocumentNumber = residentID("11010519900307125")
			if e.DocumentNumber[17] == 'X' {
				e.DocumentNumber = e.DocumentNumber[:17] + "x"
			}
		})},
		{name: "bad check digit", in: with(func(e *Enrollment) { e.DocumentNumber = valid.DocumentNumber[:17] + "0" }), want: []string{"document_number:invalid"}},
		{name: "birth date mismatch", in: with(func(e *Enrollment) { e.DateOfBirth = "1990-03-08" }), want: []string{"date_of_birth:mismatch"}},
		{name: "resident must be CHN", in: with(func(e *Enrollment) { e.Nationality = "USA" }), want: []string{"nationality:mismatch"}},
		{name: "future birth", in: Enrollment{Name: "A", DocumentType: DocPassport, DocumentNumber: "E12345678", DateOfBirth: "2030-01-01", Nationality: "GBR"}, want: []string{"date_of_birth:out_of_range"}},
		{name: "passport", in: Enrollment{Name: "Ann Lee", DocumentType: DocPassport, DocumentNumber: "e1234567", DateOfBirth: "1985-01-31", Nationality: "gbr"}},
		{name: "hk permit", in: Enrollment{Name: "陈大文", DocumentType: DocHKMacauPermit, DocumentNumber: "H12345678", DateOfBirth: "1985-01-31", Nationality: "CHN"}},
		{name: "bad hk permit", in: Enrollment{Name: "陈大文", DocumentType: DocHKMacauPermit, DocumentNumber: "X12345678", DateOfBirth: "1985-01-31", Nationality: "CHN"}, want: []string{"document_number:invalid"}},
		{name: "taiwan permit", in: Enrollment{Name: "林美", DocumentType: DocTaiwanPermit, DocumentNumber: "12345678", DateOfBirth: "1985-01-31", Nationality: "CHN"}},
		{name: "unknown type", in: with(func(e *Enrollment) { e.DocumentType = "library_card" }), want: []string{"document_type:invalid"}},
		{name: "everything missing", in: Enrollment{}, want: []string{"name:required", "date_of_birth:required", "nationality:invalid", "document_number:required", "document_type:required"}},
		{name: "control characters in name", in: with(func(e *Enrollment) { e.Name = "a\x00b" }), want: []string{"name:invalid"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			in := tc.in
			var got []string
			for _, fe := range in.Validate(today) {
				got = append(got, fe.Field+":"+fe.Code)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("validate (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDependantMustBeMinorChild(t *testing.T) {
	t.Parallel()
	today := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	d := DependantEnrollment{Enrollment: Enrollment{Name: "张小明", DocumentType: DocResidentID,
		DocumentNumber: residentID("11010520080101123"), DateOfBirth: "2008-01-01", Nationality: "CHN"}, Relationship: "child"}
	if errs := d.Validate(today); len(errs) != 1 || errs[0].Code != "not_a_minor" {
		t.Errorf("18-year-old child: got %+v, want not_a_minor", errs)
	}
	d.Relationship = "parent"
	if errs := d.Validate(today); len(errs) != 0 {
		t.Errorf("parent of any age: got %+v", errs)
	}
}

func TestMaskedDocumentNumber(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		h    Holder
		want string
	}{
		{Holder{DocumentType: DocResidentID, DocumentNumber: "11010519900307123X"}, "1101**********123X"},
		{Holder{DocumentType: DocPassport, DocumentNumber: "E12345678"}, "*****5678"},
		{Holder{DocumentType: DocPassport, DocumentNumber: "E1234"}, "*****"},
	} {
		if got := tc.h.MaskedDocumentNumber(); got != tc.want {
			t.Errorf("mask(%s) = %s, want %s", tc.h.DocumentNumber, got, tc.want)
		}
	}
}

func TestDocumentShapes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		valid func(string) bool
		in    string
		want  bool
	}{
		{validPassport, "E1234", true}, {validPassport, "E123", false}, {validPassport, "E12345678901234567890", false}, {validPassport, "E12-45", false},
		{validHKMacau, "H12345678", true}, {validHKMacau, "M1234567890", true}, {validHKMacau, "H123456789", false}, {validHKMacau, "H", false},
		{validTaiwan, "12345678", true}, {validTaiwan, "1234567890", true}, {validTaiwan, "123456789", false}, {validTaiwan, "1234567A", false},
		{validForeignPR, "ABC123456789012", true}, {validForeignPR, "ABC1234567890123", false},
		{validNationality, "CHN", true}, {validNationality, "CN", false}, {validNationality, "Chn", false},
		{validResidentID, residentID("11010519900307123"), true}, {validResidentID, "11010519900307123", false},
		{validResidentID, "1101051990030712X9", false}, {validResidentID, "110105199013071234", false},
	} {
		if got := tc.valid(tc.in); got != tc.want {
			t.Errorf("%q: got %v, want %v", tc.in, got, tc.want)
		}
	}
}
