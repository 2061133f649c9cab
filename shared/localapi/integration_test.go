package localapi_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/citycode/citycode/shared/devauth"
	"github.com/citycode/citycode/shared/dynamotest"
	"github.com/citycode/citycode/shared/localapi"
	"github.com/citycode/citycode/shared/registry"
	"github.com/citycode/citycode/shared/samtemplate"
)

// TestRealTemplate serves template.yaml with the registry's functions on
// DynamoDB Local, as `make run` does, and enrolls a resident through it.
func TestRealTemplate(t *testing.T) {
	t.Parallel()
	db := dynamotest.New(t)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	auth, err := devauth.New(key)
	if err != nil {
		t.Fatal(err)
	}
	h, err := localapi.New(t.Context(), localapi.Options{
		Template:  db.Template,
		Functions: registry.Functions,
		Env:       func(fn samtemplate.Function) map[string]string { return db.FunctionEnv(t, fn.LogicalID) },
		Auth:      auth,
		Logger:    slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	tok, err := auth.Issue("integration-resident", []string{"resident"}, "", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	do := func(method, path, body string) (int, map[string]any) {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), method, srv.URL+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("%s %s: %d %s: %v", method, path, resp.StatusCode, b, err)
		}
		return resp.StatusCode, m
	}
	status, enrolled := do("POST", "/v1/holders", `{"name":"Test Resident","document_type":"passport","document_number":"IT12345","date_of_birth":"1990-01-02","nationality":"GBR"}`)
	if status != http.StatusCreated {
		t.Fatalf("enroll: %d %v", status, enrolled)
	}
	status, me := do("GET", "/v1/holders/me", "")
	if status != http.StatusOK || me["holder_id"] != enrolled["holder_id"] || me["holder_id"] == nil {
		t.Errorf("profile: %d %v, enrolled %v", status, me, enrolled)
	}
}
