package samtemplate_test

import (
	"errors"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/citycode/citycode/shared/samtemplate"
)

func load(t *testing.T) *samtemplate.Template {
	t.Helper()
	tmpl, err := samtemplate.Load(filepath.Join("testdata", "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return tmpl
}

// resolver resolves tables to "local-<id>", GetAtt to "arn:<id.attr>" and
// parameters to their defaults, like the local run does.
func resolver(tmpl *samtemplate.Template) func(string) (string, bool) {
	return func(ref string) (string, bool) {
		switch {
		case ref == "HoldersTable" || ref == "IdempotencyTable":
			return "local-" + ref, true
		case strings.HasSuffix(ref, ".StreamArn"):
			return "arn:" + ref, true
		}
		return tmpl.ParameterDefault(ref)
	}
}

func TestFunctions(t *testing.T) {
	t.Parallel()
	tmpl := load(t)
	var ids, uris []string
	for _, f := range tmpl.Functions {
		ids = append(ids, f.LogicalID)
		uris = append(uris, f.CodeURI)
	}
	if diff := cmp.Diff([]string{"HoldersFunction", "TrustFunction"}, ids); diff != "" {
		t.Errorf("functions (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"functions/holders", "functions/trust"}, uris); diff != "" {
		t.Errorf("code uris (-want +got):\n%s", diff)
	}
	if _, ok := tmpl.Function("NoSuchFunction"); ok {
		t.Error("Function(NoSuchFunction) found a function")
	}
}

func TestEnv(t *testing.T) {
	t.Parallel()
	tmpl := load(t)
	tests := []struct {
		fn   string
		want map[string]string
	}{
		{"HoldersFunction", map[string]string{
			"LOG_LEVEL":               "info",
			"HOLDERS_TABLE":           "local-HoldersTable", // the function's value wins over Globals
			"IDEMPOTENCY_TABLE":       "local-IdempotencyTable",
			"DOCUMENT_KEY_SECRET_ARN": "", // unresolved
			"STREAM_ARN":              "arn:HoldersTable.StreamArn",
			"TABLE_LABEL":             "local-HoldersTable-label",
			"MODE":                    "", // !If is not evaluated
			"RETRIES":                 "3",
			"STAGE":                   "local",
			"UNSET":                   "",
		}},
		{"TrustFunction", map[string]string{
			"LOG_LEVEL":     "info",
			"HOLDERS_TABLE": "overridden-by-function",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.fn, func(t *testing.T) {
			t.Parallel()
			fn, ok := tmpl.Function(tt.fn)
			if !ok {
				t.Fatalf("no function %s", tt.fn)
			}
			if diff := cmp.Diff(tt.want, fn.Env(resolver(tmpl))); diff != "" {
				t.Errorf("Env (-want +got):\n%s", diff)
			}
		})
	}
}

func TestValueResolve(t *testing.T) {
	t.Parallel()
	known := func(ref string) (string, bool) {
		v, ok := map[string]string{"A": "a", "B.Arn": "b-arn", "AWS::Region": "cn-north-1"}[ref]
		return v, ok
	}
	tests := []struct {
		name, yaml string
		want       string
		wantOK     bool
	}{
		{"literal", `plain`, "plain", true},
		{"number", `42`, "42", true},
		{"short ref", `!Ref A`, "a", true},
		{"long ref", `{Ref: A}`, "a", true},
		{"unknown ref", `!Ref Z`, "", false},
		{"getatt dotted", `!GetAtt B.Arn`, "b-arn", true},
		{"getatt list", `{"Fn::GetAtt": [B, Arn]}`, "b-arn", true},
		{"sub", `!Sub "x-${A}-${AWS::Region}"`, "x-a-cn-north-1", true},
		{"sub literal dollar", `!Sub "${!A}-${A}"`, "${A}-a", true},
		{"sub with unknown var", `!Sub ["${V}/${A}", {V: !Ref Z}]`, "", false},
		{"sub with resolvable vars", `!Sub ["${V}/${A}", {V: !GetAtt B.Arn}]`, "b-arn/a", true},
		{"sub unknown", `!Sub "${Z}-${A}"`, "", false},
		{"if", `!If [C, x, y]`, "", false},
		{"join", `!Join [",", [a, b]]`, "", false},
		{"list", `[a, b]`, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			src := "Resources:\n  F:\n    Type: AWS::Serverless::Function\n    Properties:\n      Environment:\n        Variables:\n          V: " + tt.yaml + "\n"
			tmpl, err := samtemplate.Parse([]byte(src))
			if err != nil {
				t.Fatal(err)
			}
			got, ok := tmpl.Functions[0].Environment["V"].Resolve(known)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("Resolve(%s) = %q, %v; want %q, %v", tt.yaml, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestRoutes(t *testing.T) {
	t.Parallel()
	want := []samtemplate.Route{
		{Method: "ANY", Path: "/v1/files/{path+}", Function: "TrustFunction"}, // default authorizer, no scopes
		{Method: "POST", Path: "/v1/holders", Scopes: []string{"resident"}, Function: "HoldersFunction"},
		{Method: "GET", Path: "/v1/holders/me/dependants/{holder_id}", Scopes: []string{"resident", "scan:government"}, Function: "HoldersFunction"},
		{Method: "GET", Path: "/v1/trust-list", Public: true, Function: "TrustFunction"},
	}
	got := load(t).Routes()
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Routes (-want +got):\n%s", diff)
	}
	if k := got[1].Key(); k != "POST /v1/holders" {
		t.Errorf("Key() = %q", k)
	}
}

func TestPublicWithoutDefaultAuthorizer(t *testing.T) {
	t.Parallel()
	src := `
Resources:
  Api:
    Type: AWS::Serverless::HttpApi
  F:
    Type: AWS::Serverless::Function
    Properties:
      Events:
        Open: {Type: HttpApi, Properties: {ApiId: !Ref Api, Method: get, Path: /open}}
        Implicit: {Type: HttpApi, Properties: {Method: get, Path: /implicit}}
        Named: {Type: HttpApi, Properties: {Method: get, Path: /named, Auth: {Authorizer: Jwt}}}
`
	tmpl, err := samtemplate.Parse([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, r := range tmpl.Routes() {
		got[r.Path] = r.Public
	}
	want := map[string]bool{"/open": true, "/implicit": true, "/named": false}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("public (-want +got):\n%s", diff)
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"not yaml":        "Resources: [",
		"event sans path": "Resources:\n  F:\n    Type: AWS::Serverless::Function\n    Properties:\n      Events:\n        E: {Type: HttpApi, Properties: {Method: GET}}\n",
		"bad table":       "Resources:\n  T:\n    Type: AWS::DynamoDB::Table\n    Properties:\n      KeySchema: !If [C, a, b]\n",
	}
	for name, src := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if _, err := samtemplate.Parse([]byte(src)); err == nil {
				t.Error("Parse succeeded")
			}
		})
	}
	if _, err := samtemplate.Load(filepath.Join("testdata", "missing.yaml")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load(missing) = %v, want fs.ErrNotExist", err)
	}
}

func TestTables(t *testing.T) {
	t.Parallel()
	tables := load(t).Tables()
	var ids, ttls []string
	for _, tbl := range tables {
		ids = append(ids, tbl.LogicalID)
		ttls = append(ttls, tbl.TTLAttribute)
	}
	if diff := cmp.Diff([]string{"HoldersTable", "IdempotencyTable"}, ids); diff != "" {
		t.Fatalf("tables (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"", "expires_at"}, ttls); diff != "" {
		t.Errorf("ttl attributes (-want +got):\n%s", diff)
	}
	key := func(name string, kt types.KeyType) types.KeySchemaElement {
		return types.KeySchemaElement{AttributeName: aws.String(name), KeyType: kt}
	}
	attr := func(name string, at types.ScalarAttributeType) types.AttributeDefinition {
		return types.AttributeDefinition{AttributeName: aws.String(name), AttributeType: at}
	}
	want := []*dynamodb.CreateTableInput{
		{
			TableName:   aws.String("t1"),
			BillingMode: types.BillingModePayPerRequest,
			AttributeDefinitions: []types.AttributeDefinition{
				attr("pk", types.ScalarAttributeTypeS), attr("sk", types.ScalarAttributeTypeS),
				attr("gsi1pk", types.ScalarAttributeTypeS), attr("lsi1sk", types.ScalarAttributeTypeN),
			},
			KeySchema: []types.KeySchemaElement{key("pk", types.KeyTypeHash), key("sk", types.KeyTypeRange)},
			GlobalSecondaryIndexes: []types.GlobalSecondaryIndex{{
				IndexName:  aws.String("gsi1"),
				KeySchema:  []types.KeySchemaElement{key("gsi1pk", types.KeyTypeHash), key("sk", types.KeyTypeRange)},
				Projection: &types.Projection{ProjectionType: types.ProjectionTypeInclude, NonKeyAttributes: []string{"holder_id"}},
			}},
			LocalSecondaryIndexes: []types.LocalSecondaryIndex{{
				IndexName:  aws.String("lsi1"),
				KeySchema:  []types.KeySchemaElement{key("pk", types.KeyTypeHash), key("lsi1sk", types.KeyTypeRange)},
				Projection: &types.Projection{ProjectionType: types.ProjectionTypeKeysOnly},
			}},
			StreamSpecification: &types.StreamSpecification{StreamEnabled: aws.Bool(true), StreamViewType: types.StreamViewTypeNewAndOldImages},
		},
		{
			TableName:             aws.String("t2"),
			BillingMode:           types.BillingModeProvisioned,
			ProvisionedThroughput: &types.ProvisionedThroughput{ReadCapacityUnits: aws.Int64(2), WriteCapacityUnits: aws.Int64(3)},
			AttributeDefinitions:  []types.AttributeDefinition{attr("pk", types.ScalarAttributeTypeS)},
			KeySchema:             []types.KeySchemaElement{key("pk", types.KeyTypeHash)},
		},
	}
	for i, tbl := range tables {
		got := tbl.CreateTableInput("t" + string(rune('1'+i)))
		if diff := cmp.Diff(want[i], got, cmpopts.IgnoreUnexported(types.AttributeDefinition{}, types.KeySchemaElement{},
			types.GlobalSecondaryIndex{}, types.LocalSecondaryIndex{}, types.Projection{}, types.StreamSpecification{},
			types.ProvisionedThroughput{}, dynamodb.CreateTableInput{})); diff != "" {
			t.Errorf("%s CreateTableInput (-want +got):\n%s", tbl.LogicalID, diff)
		}
	}
}

// TestRealTemplate checks that the project's template.yaml parses and holds
// what the local run relies on.
func TestRealTemplate(t *testing.T) {
	t.Parallel()
	path := filepath.Join("..", "..", "template.yaml")
	tmpl, err := samtemplate.Load(path)
	if errors.Is(err, fs.ErrNotExist) {
		t.Skipf("%s does not exist yet; only the testdata template was checked", path)
	}
	if err != nil {
		t.Fatal(err)
	}
	if len(tmpl.Functions) == 0 {
		t.Fatal("template.yaml has no functions")
	}
	tableIDs := map[string]bool{}
	for _, tbl := range tmpl.Tables() {
		tableIDs[tbl.LogicalID] = true
		in := tbl.CreateTableInput("x")
		defined := map[string]bool{}
		for _, a := range in.AttributeDefinitions {
			defined[aws.ToString(a.AttributeName)] = true
		}
		if len(in.KeySchema) == 0 {
			t.Errorf("table %s has no key schema", tbl.LogicalID)
		}
		for _, k := range in.KeySchema {
			if !defined[aws.ToString(k.AttributeName)] {
				t.Errorf("table %s: key %s has no attribute definition", tbl.LogicalID, aws.ToString(k.AttributeName))
			}
		}
	}
	for _, id := range []string{"HoldersTable", "IdempotencyTable"} {
		if !tableIDs[id] {
			t.Errorf("template.yaml has no table %s", id)
		}
	}
	keys := map[string]samtemplate.Route{}
	for _, r := range tmpl.Routes() {
		if _, dup := keys[r.Key()]; dup {
			t.Errorf("route %s is declared twice", r.Key())
		}
		keys[r.Key()] = r
		if !r.Public && len(r.Scopes) == 0 {
			t.Errorf("route %s is protected but names no scope", r.Key())
		}
	}
	for _, k := range []string{"POST /v1/holders", "GET /v1/holders/me"} {
		r, ok := keys[k]
		if !ok {
			t.Errorf("template.yaml has no route %s", k)
			continue
		}
		if r.Public || !slices.Equal(r.Scopes, []string{"resident", "citycode/resident"}) || r.Function != "HoldersFunction" {
			t.Errorf("route %s = %+v, want HoldersFunction needing scope resident", k, r)
		}
	}
	fn, ok := tmpl.Function("HoldersFunction")
	if !ok {
		t.Fatal("template.yaml has no HoldersFunction")
	}
	env := fn.Env(func(ref string) (string, bool) {
		if tableIDs[ref] {
			return "local-" + ref, true
		}
		return tmpl.ParameterDefault(ref)
	})
	for k, want := range map[string]string{"HOLDERS_TABLE": "local-HoldersTable", "IDEMPOTENCY_TABLE": "local-IdempotencyTable"} {
		if env[k] != want {
			t.Errorf("HoldersFunction env %s = %q, want %q", k, env[k], want)
		}
	}
}

func TestTriggers(t *testing.T) {
	t.Parallel()
	tmpl, err := samtemplate.Parse([]byte(`
Transform: AWS::Serverless-2016-10-31
Resources:
  Jobs:
    Type: AWS::Serverless::Function
    Properties:
      Events:
        Hourly:
          Type: Schedule
          Properties:
            Schedule: rate(1 hour)
        Outbox:
          Type: DynamoDB
          Properties:
            Stream: !GetAtt EventsTable.StreamArn
            StartingPosition: TRIM_HORIZON
        Deliveries:
          Type: SQS
          Properties:
            Queue: !GetAtt [DeliveryQueue, Arn]
`))
	if err != nil {
		t.Fatal(err)
	}
	want := []samtemplate.Trigger{
		{Name: "Deliveries", Type: "SQS", Source: "DeliveryQueue"},
		{Name: "Hourly", Type: "Schedule", Schedule: "rate(1 hour)"},
		{Name: "Outbox", Type: "DynamoDB", Source: "EventsTable"},
	}
	if diff := cmp.Diff(want, tmpl.Functions[0].Triggers); diff != "" {
		t.Errorf("triggers (-want +got):\n%s", diff)
	}
}

func TestTriggerEvery(t *testing.T) {
	t.Parallel()
	for expr, want := range map[string]time.Duration{
		"rate(1 hour)": time.Hour, "rate(5 minutes)": 5 * time.Minute, "rate(2 days)": 48 * time.Hour,
		"cron(0 7 ? * MON-FRI *)": 0, "rate(0 hours)": 0, "rate(1 fortnight)": 0, "": 0,
	} {
		got, ok := samtemplate.Trigger{Schedule: expr}.Every()
		if got != want || ok != (want != 0) {
			t.Errorf("%q: %v %v, want %v", expr, got, ok, want)
		}
	}
}

func TestMessaging(t *testing.T) {
	t.Parallel()
	tmpl, err := samtemplate.Parse([]byte(`
Resources:
  Bus:
    Type: AWS::Events::EventBus
    Properties: {Name: city}
  Deliveries:
    Type: AWS::SQS::Queue
    Properties:
      VisibilityTimeout: 60
      RedrivePolicy:
        deadLetterTargetArn: !GetAtt DeliveriesDLQ.Arn
        maxReceiveCount: 5
  DeliveriesDLQ:
    Type: AWS::SQS::Queue
  Everything:
    Type: AWS::Events::Rule
    Properties:
      EventBusName: !Ref Bus
      EventPattern:
        source: [{prefix: /citycode/}]
      Targets:
        - Id: deliveries
          Arn: !GetAtt [Deliveries, Arn]
`))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"Bus"}, tmpl.Buses()); diff != "" {
		t.Errorf("buses (-want +got):\n%s", diff)
	}
	wantQueues := []samtemplate.Queue{
		{LogicalID: "Deliveries", VisibilityTimeout: 60, DeadLetter: "DeliveriesDLQ", MaxReceiveCount: 5},
		{LogicalID: "DeliveriesDLQ"},
	}
	if diff := cmp.Diff(wantQueues, tmpl.Queues()); diff != "" {
		t.Errorf("queues (-want +got):\n%s", diff)
	}
	wantRules := []samtemplate.Rule{{LogicalID: "Everything", Bus: "Bus", Queues: []string{"Deliveries"},
		EventPattern: map[string]any{"source": []any{map[string]any{"prefix": "/citycode/"}}}}}
	if diff := cmp.Diff(wantRules, tmpl.Rules()); diff != "" {
		t.Errorf("rules (-want +got):\n%s", diff)
	}
}
