package certificates_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/citycode/citycode/shared/apitest"
)

// TestIssuingByHolderDocument: an issuer names the holder by the document
// they enrolled with (spelt as the clerk typed it), the certificate is the
// holder's, and the number is stored nowhere in the certificates table;
// an unknown document is holder_not_found, and a request names its holder
// exactly one way.
func TestIssuingByHolderDocument(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	library := w.token("library-demo-certs", "certs:issue", "library-demo")
	visitor := w.api.Token("holder-document-visitor", "resident")
	enrolled := w.api.Do(apitest.Request{Method: "POST", Path: "/v1/holders", Token: visitor,
		Body: `{"name":"Emma Demo","document_type":"passport","document_number":"DEMOPASS77","date_of_birth":"1990-11-02","nationality":"GBR"}`})
	if enrolled.Status != http.StatusCreated {
		t.Fatalf("enroll: %d %s", enrolled.Status, enrolled.Body)
	}
	holderID := enrolled.JSON["holder_id"].(string)
	card := w.example("library_card")

	issue := func(key, holder string) apitest.Response {
		return w.api.Do(apitest.Request{Method: "POST", Path: "/v1/certificates", Token: library,
			Header: map[string]string{"Idempotency-Key": key},
			Body:   fmt.Sprintf(`{"category":"library_card",%s,"fields":%s}`, holder, card)})
	}
	r := issue("by-document", `"holder_document":{"document_type":"passport","document_number":" demopass77 "}`)
	if r.Status != http.StatusCreated || r.JSON["holder_id"] != holderID {
		t.Fatalf("issue by document: %d %s; want 201 to %s", r.Status, r.Body, holderID)
	}
	id := r.JSON["certificate_id"].(string)
	if own := w.api.Do(apitest.Request{Method: "GET", Path: "/v1/holders/me/certificates/" + id, Token: visitor}); own.Status != http.StatusOK {
		t.Errorf("the holder's own read: %d %s", own.Status, own.Body)
	}
	out, err := w.api.DB.Client.Query(t.Context(), &dynamodb.QueryInput{
		TableName:                 aws.String(w.api.DB.Tables["CertificatesTable"]),
		KeyConditionExpression:    aws.String("pk = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: "HOLDER#" + holderID}},
	})
	if err != nil {
		t.Fatal(err)
	}
	cert, err := w.api.DB.Client.GetItem(t.Context(), &dynamodb.GetItemInput{TableName: aws.String(w.api.DB.Tables["CertificatesTable"]),
		Key: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "CERT#" + id}, "sk": &types.AttributeValueMemberS{Value: "CERT"}}})
	if err != nil || cert.Item == nil {
		t.Fatalf("certificate item: %v", err)
	}
	items := append(out.Items, cert.Item)
	if len(items) < 2 {
		t.Fatalf("the holder has %d certificate items", len(out.Items))
	}
	for _, it := range items {
		for name, v := range it {
			if s, ok := v.(*types.AttributeValueMemberS); ok && strings.Contains(strings.ToUpper(s.Value), "DEMOPASS77") {
				t.Errorf("item %v stores the document number in %s", it["sk"], name)
			}
		}
	}

	for _, tc := range []struct {
		name, holder string
		status       int
		code, field  string
	}{
		{"unknown document", `"holder_document":{"document_type":"passport","document_number":"NOSUCH123"}`, 404, "holder_not_found", ""},
		{"another type, same number", `"holder_document":{"document_type":"taiwan_permit","document_number":"DEMOPASS77"}`, 404, "holder_not_found", ""},
		{"both", fmt.Sprintf(`"holder_id":%q,"holder_document":{"document_type":"passport","document_number":"DEMOPASS77"}`, holderID), 422, "validation_failed", "holder_id"},
		{"neither", `"valid_from":"2026-01-01"`, 422, "validation_failed", "holder_id"},
		{"unknown type", `"holder_document":{"document_type":"library_card","document_number":"DEMOPASS77"}`, 422, "validation_failed", "holder_document.document_type"},
		{"empty number", `"holder_document":{"document_type":"passport","document_number":" "}`, 422, "validation_failed", "holder_document.document_number"},
		{"unknown member", `"holder_document":{"document_type":"passport","document_number":"DEMOPASS77","name":"Emma"}`, 400, "unknown_field", "name"},
	} {
		r := issue("case-"+strings.ReplaceAll(tc.name, " ", "-"), tc.holder)
		var field string
		if errs, _ := r.JSON["errors"].([]any); len(errs) == 1 {
			field, _ = errs[0].(map[string]any)["field"].(string)
		}
		if r.Status != tc.status || r.Code() != tc.code || field != tc.field {
			t.Errorf("%s: %d %s, want %d %s %s", tc.name, r.Status, r.Body, tc.status, tc.code, tc.field)
		}
	}
}
