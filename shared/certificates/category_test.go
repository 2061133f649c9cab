package certificates_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/citycode/citycode/shared/apitest"
	"github.com/citycode/citycode/shared/certificates"
	"github.com/citycode/citycode/shared/dynamotest"
	"github.com/citycode/citycode/shared/holders"
	"github.com/citycode/citycode/shared/lambdahttp"
)

// fishingPermit is a category that is not in the shipped file.
const fishingPermit = `{
  "id": "recreational_fishing_permit",
  "name_zh": "休闲垂钓许可证",
  "name_en": "Recreational fishing permit",
  "issuer_org": "parks-demo",
  "one_per_holder": false,
  "validity": "P1Y",
  "fields": {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "properties": {
      "name": {"type": "string", "minLength": 1},
      "waters": {"type": "string", "enum": ["dianshan_lake", "huangpu_river"]}
    },
    "required": ["name", "waters"],
    "additionalProperties": false,
    "examples": [{"name": "样例甲", "waters": "dianshan_lake"}]
  },
  "purposes": {"government": ["name", "waters"], "venue": ["waters"]}
}`

// withCategory writes a copy of the shipped categories file with one more
// category and answers its path.
func withCategory(t *testing.T, shipped, category string) string {
	t.Helper()
	raw, err := os.ReadFile(shipped)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	var cats []json.RawMessage
	if err := json.Unmarshal(doc["categories"], &cats); err != nil {
		t.Fatal(err)
	}
	doc["categories"], _ = json.Marshal(append(cats, json.RawMessage(category)))
	out, _ := json.Marshal(doc)
	path := filepath.Join(t.TempDir(), "categories.json")
	if err := os.WriteFile(path, out, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// call invokes h as API Gateway would, for a caller with claims.
func call(t *testing.T, h lambdahttp.Handler, method, path, body string, claims map[string]string) (int, map[string]any) {
	t.Helper()
	ev := events.APIGatewayV2HTTPRequest{Version: "2.0", RawPath: path, Body: body,
		Headers: map[string]string{"content-type": "application/json", "idempotency-key": fmt.Sprintf("k-%x", sha256.Sum256([]byte(body)))},
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: method, Path: path},
			Authorizer: &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
				JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{Claims: claims}}}}
	resp, err := h(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	_ = json.Unmarshal([]byte(resp.Body), &out)
	return resp.StatusCode, out
}

func TestAddingACategoryIsADataChangeOnly(t *testing.T) {
	t.Parallel()
	db := dynamotest.New(t)
	env := db.FunctionEnv(t, "CertificatesFunction")
	maps.Copy(env, apitest.Secrets(t, db).Env)
	env["CERTIFICATE_CATEGORIES_FILE"] = withCategory(t, env["CERTIFICATE_CATEGORIES_FILE"], fishingPermit)
	h, err := lambdahttp.Build(context.Background(), certificates.New, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	key, _ := hex.DecodeString(env["DOCUMENT_KEY"])
	hs := holders.NewStore(db.Client, db.Tables["HoldersTable"], key)
	holder, err := hs.Enroll(context.Background(), "angler", holders.Enrollment{Name: "钓鱼人", DocumentType: holders.DocPassport,
		DocumentNumber: "E1234567", DateOfBirth: "1980-01-01", Nationality: "SGP"})
	if err != nil {
		t.Fatal(err)
	}

	if status, c := call(t, h, "GET", "/v1/certificate-categories/recreational_fishing_permit", "", nil); status != http.StatusOK || c["issuer_org"] != "parks-demo" {
		t.Fatalf("new category: %d %v", status, c)
	}
	parks := map[string]string{"sub": "parks-demo-certs", "org": "parks-demo", "scope": "certs:issue"}
	status, c := call(t, h, "POST", "/v1/certificates",
		`{"category":"recreational_fishing_permit","holder_id":"`+holder.ID+`","fields":{"name":"钓鱼人","waters":"huangpu_river"},"valid_from":"2026-03-01"}`, parks)
	if status != http.StatusCreated || c["valid_until"] != "2027-03-01" || c["status"] != "active" {
		t.Fatalf("issue: %d %v", status, c)
	}
	// Its schema is enforced like any other's.
	status, c = call(t, h, "POST", "/v1/certificates",
		`{"category":"recreational_fishing_permit","holder_id":"`+holder.ID+`","fields":{"name":"钓鱼人","waters":"the_sea","bait":"worms"}}`, parks)
	if status != http.StatusUnprocessableEntity || len(c["errors"].([]any)) != 2 {
		t.Errorf("invalid fields: %d %v", status, c)
	}
	// And only its issuer issues it.
	police := map[string]string{"sub": "police-demo-certs", "org": "police-demo", "scope": "certs:issue"}
	if status, c := call(t, h, "POST", "/v1/certificates",
		`{"category":"recreational_fishing_permit","holder_id":"`+holder.ID+`","fields":{"name":"x","waters":"dianshan_lake"}}`, police); c["code"] != "not_category_issuer" {
		t.Errorf("another issuer: %d %v", status, c)
	}
}
