// Package citycode_test checks that the places which describe the API agree:
// template.yaml (the one source of routes and functions), the capability
// registry, the function folders, the sample events and infra/openapi.yaml.
package citycode_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/getkin/kin-openapi/openapi3"
	"github.com/google/go-cmp/cmp"
	"gopkg.in/yaml.v3"

	"github.com/citycode/citycode/shared/httpapi"
	"github.com/citycode/citycode/shared/registry"
	"github.com/citycode/citycode/shared/samtemplate"
)

func loadTemplate(t *testing.T) *samtemplate.Template {
	t.Helper()
	tmpl, err := samtemplate.Load("template.yaml")
	if err != nil {
		t.Fatalf("load template: %v", err)
	}
	return tmpl
}

func routeKeys(tmpl *samtemplate.Template) []string {
	var keys []string
	for _, r := range tmpl.Routes() {
		keys = append(keys, r.Key())
	}
	sort.Strings(keys)
	return keys
}

func TestEveryTemplateFunctionHasCodeAndCapability(t *testing.T) {
	t.Parallel()
	tmpl := loadTemplate(t)
	var inTemplate []string
	for _, f := range tmpl.Functions {
		inTemplate = append(inTemplate, f.LogicalID)
		if _, err := os.Stat(filepath.Join("functions", registry.Dir(f.LogicalID), "main.go")); err != nil {
			t.Errorf("%s: no functions/%s/main.go", f.LogicalID, registry.Dir(f.LogicalID))
		}
		_, api := registry.Functions[f.LogicalID]
		_, job := registry.Jobs[f.LogicalID]
		switch {
		case api && (len(f.Routes) == 0 || len(f.Triggers) > 0):
			t.Errorf("%s is an API function in the registry: it needs routes and no other triggers", f.LogicalID)
		case job && (len(f.Triggers) == 0 || len(f.Routes) > 0):
			t.Errorf("%s is a job in the registry: it needs triggers and no routes", f.LogicalID)
		}
	}
	var inRegistry []string
	for id := range registry.Functions {
		inRegistry = append(inRegistry, id)
	}
	for id := range registry.Jobs {
		inRegistry = append(inRegistry, id)
	}
	sort.Strings(inTemplate)
	sort.Strings(inRegistry)
	if diff := cmp.Diff(inTemplate, inRegistry); diff != "" {
		t.Errorf("template functions (-) vs registry.Functions and registry.Jobs (+):\n%s", diff)
	}
}

func TestEveryRouteHasASampleEvent(t *testing.T) {
	t.Parallel()
	tmpl := loadTemplate(t)
	for _, f := range tmpl.Functions {
		covered := map[string]bool{}
		files, _ := filepath.Glob(filepath.Join("events", registry.Dir(f.LogicalID), "*.json"))
		for _, file := range files {
			b, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			var e events.APIGatewayV2HTTPRequest
			if err := json.Unmarshal(b, &e); err != nil {
				t.Errorf("%s: %v", file, err)
				continue
			}
			if len(f.Routes) == 0 {
				continue // a job's event: a schedule tick, stream records, …
			}
			if e.RouteKey != e.RequestContext.RouteKey || e.Version != "2.0" {
				t.Errorf("%s: routeKey %q / requestContext.routeKey %q / version %q", file, e.RouteKey, e.RequestContext.RouteKey, e.Version)
			}
			covered[e.RouteKey] = true
		}
		if len(f.Triggers) > 0 && len(files) == 0 {
			t.Errorf("%s has triggers but no sample event in events/%s/", f.LogicalID, registry.Dir(f.LogicalID))
		}
		for _, r := range f.Routes {
			if !covered[r.Key()] {
				t.Errorf("route %q of %s has no sample event in events/%s/", r.Key(), f.LogicalID, registry.Dir(f.LogicalID))
			}
		}
	}
}

func TestOpenAPIDocumentCoversExactlyTheTemplateRoutes(t *testing.T) {
	t.Parallel()
	doc, err := openapi3.NewLoader().LoadFromFile("infra/openapi.yaml")
	if err != nil {
		t.Fatalf("load openapi: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("openapi document is invalid: %v", err)
	}
	var documented []string
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			documented = append(documented, strings.ToUpper(method)+" "+path)
		}
	}
	sort.Strings(documented)
	if diff := cmp.Diff(routeKeys(loadTemplate(t)), documented); diff != "" {
		t.Errorf("template routes (-) vs OpenAPI operations (+):\n%s", diff)
	}
}

func TestEveryProtectedRouteNamesScopes(t *testing.T) {
	t.Parallel()
	known := resourceServerScopes(t)
	for _, r := range loadTemplate(t).Routes() {
		if r.Public {
			continue
		}
		if len(r.Scopes) == 0 {
			t.Errorf("%s: neither public nor scoped", r.Key())
		}
		for _, s := range r.Scopes {
			plain, prefixed := strings.CutPrefix(s, httpapi.ResourceServer+"/")
			switch {
			case !slices.Contains(known, plain):
				t.Errorf("%s: unknown scope %q", r.Key(), s)
			case !prefixed && !slices.Contains(r.Scopes, httpapi.ResourceServer+"/"+s):
				// Cognito issues resource-server scopes as citycode/<scope>.
				t.Errorf("%s: scope %q without its Cognito form %q", r.Key(), s, httpapi.ResourceServer+"/"+s)
			}
		}
	}
}

// resourceServerScopes are the scopes the template's Cognito resource server
// declares: the one list of scopes a route may require.
func resourceServerScopes(t *testing.T) []string {
	t.Helper()
	raw, err := os.ReadFile("template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Resources struct {
			UserPoolResourceServer struct {
				Properties struct {
					Scopes []struct {
						ScopeName string `yaml:"ScopeName"`
					} `yaml:"Scopes"`
				} `yaml:"Properties"`
			} `yaml:"UserPoolResourceServer"`
		} `yaml:"Resources"`
	}
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	var scopes []string
	for _, s := range doc.Resources.UserPoolResourceServer.Properties.Scopes {
		scopes = append(scopes, s.ScopeName)
	}
	if len(scopes) == 0 {
		t.Fatal("template.yaml's UserPoolResourceServer declares no scopes")
	}
	return scopes
}

// TestFunctionDataFilesExist: a function's data (an environment value
// naming infra/…) is copied beside its bootstrap by make build-<Fn>, so it
// must exist in the repository.
func TestFunctionDataFilesExist(t *testing.T) {
	t.Parallel()
	tmpl := loadTemplate(t)
	for _, fn := range tmpl.Functions {
		for name, v := range fn.Env(func(string) (string, bool) { return "", false }) {
			if strings.HasPrefix(v, "infra/") {
				if _, err := os.Stat(v); err != nil {
					t.Errorf("%s %s: %v", fn.LogicalID, name, err)
				}
			}
		}
	}
}

// TestBuildCopiesDataFiles runs each data-using function's make target
// (with GO=true, so nothing is compiled) and checks that what it names in
// its environment lands beside bootstrap under the same relative path,
// where the function finds it in Lambda.
func TestBuildCopiesDataFiles(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make is not installed")
	}
	for _, fn := range loadTemplate(t).Functions {
		var files []string
		for _, v := range fn.Env(func(string) (string, bool) { return "", false }) {
			if strings.HasPrefix(v, "infra/") {
				files = append(files, v)
			}
		}
		if len(files) == 0 {
			continue
		}
		out := t.TempDir()
		cmd := exec.Command("make", "--no-print-directory", "build-"+fn.LogicalID, "GO=true", "ARTIFACTS_DIR="+out)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("make build-%s: %v\n%s", fn.LogicalID, err, b)
		}
		for _, f := range files {
			if _, err := os.Stat(filepath.Join(out, f)); err != nil {
				t.Errorf("%s: %s is not beside bootstrap: %v", fn.LogicalID, f, err)
			}
		}
	}
}

// TestEveryAlarmNotifies: an alarm nobody hears is no alarm; every one
// notifies the AlarmTopicArn parameter's topic when it is given.
func TestEveryAlarmNotifies(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Resources map[string]struct {
			Type       string `yaml:"Type"`
			Properties struct {
				AlarmActions yaml.Node `yaml:"AlarmActions"`
				OKActions    yaml.Node `yaml:"OKActions"`
			} `yaml:"Properties"`
		} `yaml:"Resources"`
	}
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	alarms := 0
	for id, r := range doc.Resources {
		if r.Type != "AWS::CloudWatch::Alarm" {
			continue
		}
		alarms++
		for name, n := range map[string]yaml.Node{"AlarmActions": r.Properties.AlarmActions, "OKActions": r.Properties.OKActions} {
			if n.Tag != "!If" || !strings.Contains(fmt.Sprint(nodeScalars(&n)), "AlarmTopicArn") {
				t.Errorf("%s: %s does not notify AlarmTopicArn", id, name)
			}
		}
	}
	if alarms == 0 {
		t.Error("template.yaml has no alarms")
	}
}

// nodeScalars lists the scalar values under n.
func nodeScalars(n *yaml.Node) []string {
	if n.Kind == yaml.ScalarNode {
		return []string{n.Value}
	}
	var out []string
	for _, c := range n.Content {
		out = append(out, nodeScalars(c)...)
	}
	return out
}

// TestQrVerifyLinksNoAWSSDK guards qr-verify's cold start (make bench): the
// SDK's service packages cost milliseconds of initialisation each, so the
// function reaches DynamoDB through shared/dynamolite instead.
func TestQrVerifyLinksNoAWSSDK(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("go", "list", "-deps", "./functions/qr-verify").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if strings.HasPrefix(pkg, "github.com/aws/aws-sdk-go-v2") || strings.HasPrefix(pkg, "github.com/aws/smithy-go") {
			t.Errorf("qr-verify links %s", pkg)
		}
	}
}
