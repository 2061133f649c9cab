// Package samtemplate reads the parts of template.yaml that the local stack
// needs: functions with their environment and HTTP API routes, and DynamoDB
// tables. The template is the one source of truth, so the local run and the
// tests read routes and tables from it instead of declaring them again.
//
// CloudFormation's intrinsic functions are kept as they are written (short
// form such as !Ref, or long form such as {"Ref": ...}); Value.Resolve
// interprets the few that make sense locally.
package samtemplate

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"gopkg.in/yaml.v3"
)

// Template is a parsed SAM template.
type Template struct {
	// Functions are the AWS::Serverless::Function resources, by logical id.
	Functions []Function
	tables    []Table
	queues    []Queue
	buses     []string
	rules     []Rule
	params    map[string]string
}

// Function is one AWS::Serverless::Function.
type Function struct {
	LogicalID string
	// CodeURI is the function's CodeUri (or the global one) when it is a
	// plain string.
	CodeURI string
	// Environment holds the function's variables merged over
	// Globals.Function.Environment, unresolved.
	Environment map[string]Value
	// Routes are the function's HttpApi events.
	Routes []Route
	// Triggers are its other events: schedules, DynamoDB streams, queues.
	Triggers []Trigger
}

// Trigger is an event source that is not an HTTP route.
type Trigger struct {
	// Name is the event's name in the template.
	Name string
	// Type is the SAM event type: Schedule, ScheduleV2, DynamoDB or SQS.
	Type string
	// Schedule is a Schedule's expression, e.g. "rate(1 hour)".
	Schedule string
	// Source is the logical id of the stream's table or of the queue.
	Source string
}

// Route is one HttpApi event: the API Gateway route that invokes a function.
type Route struct {
	// Method is upper case, or "ANY".
	Method string
	// Path is the route's path, e.g. /v1/holders/me/dependants/{holder_id}.
	Path string
	// Scopes are the route's AuthorizationScopes; a token needs any one.
	Scopes []string
	// Public is true when no authorizer protects the route.
	Public bool
	// Function is the logical id of the function the route invokes.
	Function string
}

// Every answers a Schedule's period when it is a rate expression such as
// "rate(1 hour)" or "rate(5 minutes)"; false for cron expressions and other
// triggers.
func (t Trigger) Every() (time.Duration, bool) {
	inner, ok := strings.CutPrefix(t.Schedule, "rate(")
	if !ok || !strings.HasSuffix(inner, ")") {
		return 0, false
	}
	n, unit, _ := strings.Cut(strings.TrimSuffix(inner, ")"), " ")
	count, err := strconv.Atoi(n)
	if err != nil || count < 1 {
		return 0, false
	}
	units := map[string]time.Duration{"minute": time.Minute, "minutes": time.Minute, "hour": time.Hour, "hours": time.Hour, "day": 24 * time.Hour, "days": 24 * time.Hour}
	d, ok := units[unit]
	return time.Duration(count) * d, ok
}

// Key is the route's API Gateway route key, e.g. "GET /v1/holders/me".
func (r Route) Key() string { return r.Method + " " + r.Path }

// Table is one AWS::DynamoDB::Table.
type Table struct {
	LogicalID string
	// TTLAttribute names the table's time-to-live attribute, or is empty.
	TTLAttribute string
	props        tableProps
}

// Value is a template value as written: a literal or an intrinsic function.
type Value struct{ node *yaml.Node }

// Load reads and parses the template at path.
func Load(path string) (*Template, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read template: %w", err)
	}
	t, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

// Parse parses a template's YAML (or JSON) text.
func Parse(b []byte) (*Template, error) {
	var doc document
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("parse template: %w", err)
	}
	t := &Template{params: map[string]string{}}
	for name, p := range doc.Parameters {
		if p.Default != nil {
			t.params[name] = *p.Default
		}
	}
	for _, id := range sortedKeys(doc.Resources) {
		res := doc.Resources[id]
		switch res.Type {
		case "AWS::Serverless::Function":
			fn, err := doc.function(id, res.Properties)
			if err != nil {
				return nil, fmt.Errorf("function %s: %w", id, err)
			}
			t.Functions = append(t.Functions, fn)
		case "AWS::DynamoDB::Table":
			var p tableProps
			if err := res.Properties.Decode(&p); err != nil {
				return nil, fmt.Errorf("table %s: %w", id, err)
			}
			tbl := Table{LogicalID: id, props: p}
			if ttl := p.TimeToLiveSpecification; ttl != nil && ttl.Enabled {
				tbl.TTLAttribute = ttl.AttributeName
			}
			t.tables = append(t.tables, tbl)
		default:
			if err := t.addMessaging(id, res); err != nil {
				return nil, err
			}
		}
	}
	return t, nil
}

// Function returns the function with the given logical id.
func (t *Template) Function(logicalID string) (Function, bool) {
	i := slices.IndexFunc(t.Functions, func(f Function) bool { return f.LogicalID == logicalID })
	if i < 0 {
		return Function{}, false
	}
	return t.Functions[i], true
}

// ParameterDefault returns the Default of the template parameter name.
func (t *Template) ParameterDefault(name string) (string, bool) {
	v, ok := t.params[name]
	return v, ok
}

// Routes returns every function's routes, ordered by path then method.
func (t *Template) Routes() []Route {
	var rs []Route
	for _, f := range t.Functions {
		rs = append(rs, f.Routes...)
	}
	slices.SortFunc(rs, func(a, b Route) int {
		if c := strings.Compare(a.Path, b.Path); c != 0 {
			return c
		}
		return strings.Compare(a.Method, b.Method)
	})
	return rs
}

// Tables returns the template's DynamoDB tables, ordered by logical id.
func (t *Template) Tables() []Table { return slices.Clone(t.tables) }

// Env resolves the function's environment. resolve is asked for the value of
// a logical id or pseudo parameter (for !Ref) or of "LogicalID.Attribute"
// (for !GetAtt); a value it cannot resolve becomes the empty string.
func (f Function) Env(resolve func(ref string) (string, bool)) map[string]string {
	env := make(map[string]string, len(f.Environment))
	for k, v := range f.Environment {
		env[k], _ = v.Resolve(resolve)
	}
	return env
}

// String shows the value in the template's short form, for messages.
func (v Value) String() string {
	if v.node == nil {
		return ""
	}
	if v.node.Kind == yaml.ScalarNode {
		if strings.HasPrefix(v.node.Tag, "!") && !strings.HasPrefix(v.node.Tag, "!!") {
			return v.node.Tag + " " + v.node.Value
		}
		return v.node.Value
	}
	b, err := yaml.Marshal(v.node)
	if err != nil {
		return "<unprintable>"
	}
	return strings.TrimSpace(string(b))
}

// Resolve interprets the value: literals as they are, !Ref and !GetAtt
// through resolve, !Sub by substituting each ${...}. Anything else, or a
// reference resolve does not know, gives ok == false.
func (v Value) Resolve(resolve func(ref string) (string, bool)) (string, bool) {
	if v.node == nil {
		return "", false
	}
	name, arg, ok := intrinsic(v.node)
	if !ok {
		if v.node.Kind != yaml.ScalarNode {
			return "", false
		}
		return v.node.Value, true
	}
	switch name {
	case "Ref":
		if arg.Kind != yaml.ScalarNode {
			return "", false
		}
		return resolve(arg.Value)
	case "Fn::GetAtt":
		switch arg.Kind {
		case yaml.ScalarNode:
			return resolve(arg.Value)
		case yaml.SequenceNode:
			if len(arg.Content) == 2 && arg.Content[0].Kind == yaml.ScalarNode && arg.Content[1].Kind == yaml.ScalarNode {
				return resolve(arg.Content[0].Value + "." + arg.Content[1].Value)
			}
		}
		return "", false
	case "Fn::Sub":
		return sub(arg, resolve)
	}
	return "", false
}

var subVar = regexp.MustCompile(`\$\{([^}]*)\}`)

// sub interprets Fn::Sub: "text ${Name}" or ["text ${Var}", {Var: value}].
func sub(arg *yaml.Node, resolve func(string) (string, bool)) (string, bool) {
	text, vars := arg, map[string]Value{}
	if arg.Kind == yaml.SequenceNode {
		if len(arg.Content) != 2 || arg.Content[1].Kind != yaml.MappingNode {
			return "", false
		}
		text = arg.Content[0]
		m := arg.Content[1].Content
		for i := 0; i+1 < len(m); i += 2 {
			vars[m[i].Value] = Value{m[i+1]}
		}
	}
	if text.Kind != yaml.ScalarNode {
		return "", false
	}
	ok := true
	out := subVar.ReplaceAllStringFunc(text.Value, func(m string) string {
		name := m[2 : len(m)-1]
		if strings.HasPrefix(name, "!") {
			return "${" + name[1:] + "}"
		}
		var s string
		var found bool
		if v, isVar := vars[name]; isVar {
			s, found = v.Resolve(resolve)
		} else {
			s, found = resolve(name)
		}
		ok = ok && found
		return s
	})
	if !ok {
		return "", false
	}
	return out, true
}

// intrinsic recognises an intrinsic function in short form (a tag such as
// !Ref or !GetAtt) or long form (a mapping with the single key Ref or
// Fn::Name), and returns its name in long form and its argument.
func intrinsic(n *yaml.Node) (name string, arg *yaml.Node, ok bool) {
	if strings.HasPrefix(n.Tag, "!") && !strings.HasPrefix(n.Tag, "!!") {
		name = strings.TrimPrefix(n.Tag, "!")
		if name != "Ref" && name != "Condition" {
			name = "Fn::" + name
		}
		plain := *n
		plain.Tag = ""
		return name, &plain, true
	}
	if n.Kind == yaml.MappingNode && len(n.Content) == 2 {
		k := n.Content[0].Value
		if k == "Ref" || strings.HasPrefix(k, "Fn::") {
			return k, n.Content[1], true
		}
	}
	return "", nil, false
}

// CreateTableInput is what creates the table under the given name, from the
// template's keys, indexes, billing mode and stream. Time to live is set
// separately, once the table exists (see TTLAttribute).
func (t Table) CreateTableInput(name string) *dynamodb.CreateTableInput {
	p := t.props
	in := &dynamodb.CreateTableInput{
		TableName:   aws.String(name),
		BillingMode: types.BillingModePayPerRequest,
		KeySchema:   keySchema(p.KeySchema),
	}
	provisioned := p.BillingMode == string(types.BillingModeProvisioned) ||
		(p.BillingMode == "" && p.ProvisionedThroughput != nil)
	if provisioned {
		in.BillingMode = types.BillingModeProvisioned
		in.ProvisionedThroughput = p.ProvisionedThroughput.sdk()
	}
	for _, a := range p.AttributeDefinitions {
		in.AttributeDefinitions = append(in.AttributeDefinitions, types.AttributeDefinition{
			AttributeName: aws.String(a.AttributeName),
			AttributeType: types.ScalarAttributeType(a.AttributeType),
		})
	}
	for _, ix := range p.GlobalSecondaryIndexes {
		g := types.GlobalSecondaryIndex{
			IndexName:  aws.String(ix.IndexName),
			KeySchema:  keySchema(ix.KeySchema),
			Projection: ix.Projection.sdk(),
		}
		if provisioned {
			g.ProvisionedThroughput = ix.ProvisionedThroughput.sdk()
		}
		in.GlobalSecondaryIndexes = append(in.GlobalSecondaryIndexes, g)
	}
	for _, ix := range p.LocalSecondaryIndexes {
		in.LocalSecondaryIndexes = append(in.LocalSecondaryIndexes, types.LocalSecondaryIndex{
			IndexName:  aws.String(ix.IndexName),
			KeySchema:  keySchema(ix.KeySchema),
			Projection: ix.Projection.sdk(),
		})
	}
	if s := p.StreamSpecification; s != nil && s.StreamViewType != "" {
		in.StreamSpecification = &types.StreamSpecification{
			StreamEnabled:  aws.Bool(true),
			StreamViewType: types.StreamViewType(s.StreamViewType),
		}
	}
	return in
}

func keySchema(ks []keyElement) []types.KeySchemaElement {
	out := make([]types.KeySchemaElement, 0, len(ks))
	for _, k := range ks {
		out = append(out, types.KeySchemaElement{
			AttributeName: aws.String(k.AttributeName),
			KeyType:       types.KeyType(k.KeyType),
		})
	}
	return out
}

// document is the part of a template that Parse reads.
type document struct {
	Globals struct {
		Function functionProps `yaml:"Function"`
		HTTPAPI  apiProps      `yaml:"HttpApi"`
	} `yaml:"Globals"`
	Parameters map[string]struct {
		Default *string `yaml:"Default"`
	} `yaml:"Parameters"`
	Resources map[string]resource `yaml:"Resources"`
}

type resource struct {
	Type       string    `yaml:"Type"`
	Properties yaml.Node `yaml:"Properties"`
}

type functionProps struct {
	CodeURI     yaml.Node `yaml:"CodeUri"`
	Environment struct {
		Variables map[string]yaml.Node `yaml:"Variables"`
	} `yaml:"Environment"`
	Events map[string]struct {
		Type       string    `yaml:"Type"`
		Properties yaml.Node `yaml:"Properties"`
	} `yaml:"Events"`
}

type apiProps struct {
	Auth struct {
		DefaultAuthorizer string `yaml:"DefaultAuthorizer"`
	} `yaml:"Auth"`
}

type httpAPIEvent struct {
	APIID  yaml.Node `yaml:"ApiId"`
	Method string    `yaml:"Method"`
	Path   string    `yaml:"Path"`
	Auth   struct {
		Authorizer          string   `yaml:"Authorizer"`
		AuthorizationScopes []string `yaml:"AuthorizationScopes"`
	} `yaml:"Auth"`
}

// implicitAPI is the logical id SAM gives the HTTP API of events without ApiId.
const implicitAPI = "ServerlessHttpApi"

func (d *document) function(id string, props yaml.Node) (Function, error) {
	var p functionProps
	if err := props.Decode(&p); err != nil {
		return Function{}, err
	}
	fn := Function{LogicalID: id, Environment: map[string]Value{}}
	for _, n := range []yaml.Node{d.Globals.Function.CodeURI, p.CodeURI} {
		if _, _, isIntrinsic := intrinsic(&n); n.Kind == yaml.ScalarNode && !isIntrinsic {
			fn.CodeURI = n.Value
		}
	}
	for _, vars := range []map[string]yaml.Node{d.Globals.Function.Environment.Variables, p.Environment.Variables} {
		for k, n := range vars {
			fn.Environment[k] = Value{&n}
		}
	}
	for _, name := range sortedKeys(p.Events) {
		ev := p.Events[name]
		if ev.Type != "HttpApi" {
			trig, err := trigger(name, ev.Type, ev.Properties)
			if err != nil {
				return Function{}, err
			}
			fn.Triggers = append(fn.Triggers, trig)
			continue
		}
		var e httpAPIEvent
		if err := ev.Properties.Decode(&e); err != nil {
			return Function{}, fmt.Errorf("event %s: %w", name, err)
		}
		if e.Path == "" || e.Method == "" {
			return Function{}, fmt.Errorf("event %s: HttpApi event needs Method and Path", name)
		}
		fn.Routes = append(fn.Routes, Route{
			Method:   strings.ToUpper(e.Method),
			Path:     e.Path,
			Scopes:   e.Auth.AuthorizationScopes,
			Public:   d.public(e),
			Function: id,
		})
	}
	return fn, nil
}

// trigger reads a non-HTTP event: the schedule expression, or the table
// whose stream (Stream: !GetAtt Table.StreamArn) or the queue (Queue:
// !GetAtt Queue.Arn) it reads.
func trigger(name, typ string, props yaml.Node) (Trigger, error) {
	var p struct {
		Schedule           string    `yaml:"Schedule"`
		ScheduleExpression string    `yaml:"ScheduleExpression"`
		Stream             yaml.Node `yaml:"Stream"`
		Queue              yaml.Node `yaml:"Queue"`
	}
	if err := props.Decode(&p); err != nil {
		return Trigger{}, fmt.Errorf("event %s: %w", name, err)
	}
	t := Trigger{Name: name, Type: typ, Schedule: p.Schedule + p.ScheduleExpression}
	for _, n := range []yaml.Node{p.Stream, p.Queue} {
		if src := getAttTarget(&n); src != "" {
			t.Source = src
		}
	}
	return t, nil
}

// public tells whether an event's route has no authorizer: it says NONE, or
// it names none and its API has no default authorizer.
func (d *document) public(e httpAPIEvent) bool {
	switch e.Auth.Authorizer {
	case "NONE":
		return true
	case "":
	default:
		return false
	}
	api := implicitAPI
	if e.APIID.Kind != 0 {
		name, arg, ok := intrinsic(&e.APIID)
		if !ok || name != "Ref" {
			return false // an API we cannot see: assume it is protected
		}
		api = arg.Value
	}
	var p apiProps
	if res, ok := d.Resources[api]; ok {
		if err := res.Properties.Decode(&p); err != nil {
			return false
		}
	}
	return p.Auth.DefaultAuthorizer == "" && d.Globals.HTTPAPI.Auth.DefaultAuthorizer == ""
}

type keyElement struct {
	AttributeName string `yaml:"AttributeName"`
	KeyType       string `yaml:"KeyType"`
}

type throughput struct {
	ReadCapacityUnits  int64 `yaml:"ReadCapacityUnits"`
	WriteCapacityUnits int64 `yaml:"WriteCapacityUnits"`
}

func (t *throughput) sdk() *types.ProvisionedThroughput {
	if t == nil {
		return &types.ProvisionedThroughput{ReadCapacityUnits: aws.Int64(1), WriteCapacityUnits: aws.Int64(1)}
	}
	return &types.ProvisionedThroughput{
		ReadCapacityUnits:  aws.Int64(t.ReadCapacityUnits),
		WriteCapacityUnits: aws.Int64(t.WriteCapacityUnits),
	}
}

type projection struct {
	ProjectionType   string   `yaml:"ProjectionType"`
	NonKeyAttributes []string `yaml:"NonKeyAttributes"`
}

func (p projection) sdk() *types.Projection {
	return &types.Projection{
		ProjectionType:   types.ProjectionType(p.ProjectionType),
		NonKeyAttributes: p.NonKeyAttributes,
	}
}

type indexProps struct {
	IndexName             string       `yaml:"IndexName"`
	KeySchema             []keyElement `yaml:"KeySchema"`
	Projection            projection   `yaml:"Projection"`
	ProvisionedThroughput *throughput  `yaml:"ProvisionedThroughput"`
}

type tableProps struct {
	BillingMode          string `yaml:"BillingMode"`
	AttributeDefinitions []struct {
		AttributeName string `yaml:"AttributeName"`
		AttributeType string `yaml:"AttributeType"`
	} `yaml:"AttributeDefinitions"`
	KeySchema              []keyElement `yaml:"KeySchema"`
	GlobalSecondaryIndexes []indexProps `yaml:"GlobalSecondaryIndexes"`
	LocalSecondaryIndexes  []indexProps `yaml:"LocalSecondaryIndexes"`
	ProvisionedThroughput  *throughput  `yaml:"ProvisionedThroughput"`
	StreamSpecification    *struct {
		StreamViewType string `yaml:"StreamViewType"`
	} `yaml:"StreamSpecification"`
	TimeToLiveSpecification *struct {
		AttributeName string `yaml:"AttributeName"`
		Enabled       bool   `yaml:"Enabled"`
	} `yaml:"TimeToLiveSpecification"`
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
