// Command localapi is `make run`: the whole API on this machine, without
// Docker or an AWS account. It installs and starts DynamoDB Local, creates
// the tables of template.yaml, loads the demo data, and serves every route
// of the template through the functions' own Lambda handlers, checking dev
// tokens the way API Gateway's JWT authorizer would. See infra/local.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/citycode/citycode/shared/app"
	"github.com/citycode/citycode/shared/awsclient"
	"github.com/citycode/citycode/shared/devauth"
	"github.com/citycode/citycode/shared/dynamolite"
	"github.com/citycode/citycode/shared/localapi"
	"github.com/citycode/citycode/shared/localenv"
	"github.com/citycode/citycode/shared/localstack"
	"github.com/citycode/citycode/shared/logging"
	"github.com/citycode/citycode/shared/registry"
	"github.com/citycode/citycode/shared/samtemplate"
	"github.com/citycode/citycode/shared/seed"
)

type config struct {
	addr         string
	dynamoDBPort int
	template     string
	seed         string
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := realMain(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "localapi:", err)
		stop()
		os.Exit(1)
	}
}

func realMain(ctx context.Context, args []string) error {
	root, err := localstack.RepoRoot(".")
	if err != nil {
		return err
	}
	var cfg config
	fs := flag.NewFlagSet("localapi", flag.ContinueOnError)
	fs.StringVar(&cfg.addr, "addr", "127.0.0.1:3000", "address to serve the API on")
	fs.IntVar(&cfg.dynamoDBPort, "dynamodb-port", 8000, "port for DynamoDB Local (0: any free port)")
	fs.StringVar(&cfg.template, "template", filepath.Join(root, "template.yaml"), "SAM template to serve")
	fs.StringVar(&cfg.seed, "seed", filepath.Join(root, "infra", "seed", "demo.json"), `demo data to load ("" for none)`)
	if err := fs.Parse(args); err != nil {
		return err
	}
	logger := logging.New(os.Stdout, os.Getenv("LOG_LEVEL"))
	slog.SetDefault(logger)

	tmpl, err := samtemplate.Load(cfg.template)
	if err != nil {
		return err
	}
	fmt.Println("Installing DynamoDB Local (once) and starting it…")
	if err := localstack.EnsureInstalled(ctx, root); err != nil {
		return err
	}
	ddb, err := localstack.StartDynamoDB(ctx, localstack.Options{Port: cfg.dynamoDBPort, RepoRoot: root, Stderr: os.Stderr})
	if err != nil {
		return err
	}
	defer ddb.Stop()

	overrides := map[string]string{"DYNAMODB_ENDPOINT": ddb.Endpoint, "AWS_REGION": localstack.Region}
	awsCfg, err := awsclient.Config(ctx, mapEnv(overrides))
	if err != nil {
		return err
	}
	tables := map[string]string{}
	for _, t := range tmpl.Tables() {
		tables[t.LogicalID] = "citycode-" + t.LogicalID
	}
	db := awsclient.DynamoDB(awsCfg, mapEnv(overrides))
	if err := localstack.CreateTables(ctx, db, tmpl, func(id string) string { return tables[id] }); err != nil {
		return err
	}
	queues, stopMoto, err := startMessaging(ctx, tmpl, overrides, tables)
	if err != nil {
		return err
	}
	defer stopMoto()
	liteCfg, err := dynamolite.ConfigFromEnv(mapEnv(overrides))
	if err != nil {
		return err
	}
	lite, err := dynamolite.New(liteCfg)
	if err != nil {
		return err
	}
	secrets, err := localenv.Prepare(ctx, filepath.Join(root, localstack.LocalDir), lite, tables["TrustTable"], time.Now())
	if err != nil {
		return err
	}
	maps.Copy(overrides, secrets.Env)
	// Listen before the functions start, so that certificate documents
	// (the demo seed's too) name this server in their status_url.
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	defer ln.Close()
	overrides["PUBLIC_BASE_URL"] = "http://" + ln.Addr().String()
	envOf := func(fn samtemplate.Function) map[string]string {
		return localstack.FunctionEnv(tmpl, fn, tables, overrides)
	}

	var demo seed.Demo
	if cfg.seed != "" {
		if demo, err = seedDemo(ctx, cfg.seed, tmpl, envOf); err != nil {
			return err
		}
	}

	auth, err := devauth.Open(filepath.Join(root, localstack.LocalDir, "devauth"))
	if err != nil {
		return err
	}
	h, err := localapi.New(ctx, localapi.Options{
		Template: tmpl, Functions: registry.Functions, Env: envOf, Auth: auth, Logger: logger,
	})
	if err != nil {
		return err
	}
	if err := localapi.RunSchedules(ctx, tmpl, registry.Jobs, envOf, logger); err != nil {
		return err
	}
	if queues.Client != nil {
		if err := localapi.RunQueueTriggers(ctx, tmpl, registry.Jobs, envOf, queues, logger); err != nil {
			return err
		}
	}
	streams := dynamodbstreams.NewFromConfig(awsCfg, func(o *dynamodbstreams.Options) { o.BaseEndpoint = aws.String(ddb.Endpoint) })
	if err := localapi.RunStreamTriggers(ctx, tmpl, registry.Jobs, envOf, localapi.Streams{DB: db, Streams: streams, Tables: tables}, logger); err != nil {
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	printWelcome(os.Stdout, "http://"+ln.Addr().String(), ddb.Endpoint, tmpl, tables, demo)

	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	fmt.Println("Stopping…")
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	return errors.Join(srv.Shutdown(shutdownCtx), ddb.Stop())
}

// startMessaging starts moto_server when the template has queues or event
// buses, creates them (named citycode-<LogicalId>), adds their !Ref values
// to refs and aims the functions' SQS and EventBridge clients at moto.
func startMessaging(ctx context.Context, tmpl *samtemplate.Template, overrides, refs map[string]string) (localapi.Queues, func(), error) {
	if len(tmpl.Queues()) == 0 && len(tmpl.Buses()) == 0 {
		return localapi.Queues{}, func() {}, nil
	}
	fmt.Println("Starting moto_server for EventBridge and SQS…")
	moto, err := localstack.StartMoto(ctx, localstack.Options{Stderr: io.Discard})
	if err != nil {
		return localapi.Queues{}, nil, err
	}
	cfg := aws.Config{Region: localstack.Region, BaseEndpoint: aws.String(moto.Endpoint),
		Credentials: credentials.NewStaticCredentialsProvider("local", "local", "")}
	sqsc := sqs.NewFromConfig(cfg)
	m, err := localstack.CreateMessaging(ctx, sqsc, eventbridge.NewFromConfig(cfg), tmpl, func(id string) string { return "citycode-" + id })
	if err != nil {
		_ = moto.Stop()
		return localapi.Queues{}, nil, err
	}
	maps.Copy(refs, m.Refs)
	overrides["SQS_ENDPOINT"], overrides["EVENTBRIDGE_ENDPOINT"] = moto.Endpoint, moto.Endpoint
	// Webhook receivers on this machine (scripts/webhook-receiver), and
	// retries short enough to watch.
	overrides["ALLOW_INSECURE_WEBHOOKS"] = "true"
	overrides["DELIVERY_BACKOFF_BASE"], overrides["DELIVERY_BACKOFF_MAX"] = "1s", "30s"
	return localapi.Queues{Client: sqsc, URLs: m.Refs, ARNs: m.QueueARNs}, func() { _ = moto.Stop() }, nil
}

// seedDemo loads the demo data file (shared/seed), each step with its
// function's environment, and returns it for the welcome text.
func seedDemo(ctx context.Context, path string, tmpl *samtemplate.Template, envOf func(samtemplate.Function) map[string]string) (seed.Demo, error) {
	demo, err := seed.Read(path)
	if err != nil {
		return seed.Demo{}, err
	}
	for _, step := range seed.Steps {
		fn, ok := tmpl.Function(step.Function)
		if !ok {
			return seed.Demo{}, fmt.Errorf("seed: template.yaml has no %s", step.Function)
		}
		if err := step.Load(ctx, mapEnv(envOf(fn)), demo); err != nil {
			return seed.Demo{}, err
		}
	}
	return demo, nil
}

func printWelcome(w io.Writer, base, dynamoDB string, tmpl *samtemplate.Template, tables map[string]string, demo seed.Demo) {
	fmt.Fprintf(w, "\ncitycode local API on %s\n", base)
	fmt.Fprintf(w, "DynamoDB Local on %s, tables:", dynamoDB)
	for _, t := range tmpl.Tables() {
		fmt.Fprintf(w, " %s", tables[t.LogicalID])
	}
	fmt.Fprintln(w, "\n\nRoutes:")
	for _, r := range tmpl.Routes() {
		who := "public"
		if !r.Public {
			who = "scope " + strings.Join(r.Scopes, " | ")
		}
		fmt.Fprintf(w, "  %-48s %-18s %s\n", r.Key(), r.Function, who)
	}
	fmt.Fprintf(w, `
Get a token and make a first call:
  TOKEN=$(scripts/devtoken --sub demo-resident-1 --scope resident)
  curl -s -H "Authorization: Bearer $TOKEN" %[1]s/v1/holders/me

Show a code, and scan it at a hotel's front desk:
  CODE=$(curl -s -X POST -H "Authorization: Bearer $TOKEN" %[1]s/v1/codes | python3 -c 'import json,sys; print(json.load(sys.stdin)["code"])')
  HOTEL=$(scripts/devtoken --sub hotel-demo-front-desk --scope scan:hotel --org hotel-demo)
  curl -s -X POST -H "Authorization: Bearer $HOTEL" -H 'Content-Type: application/json' \
    -d "{\"code\":\"$CODE\",\"purpose\":\"hotel\"}" %[1]s/v1/verify
  curl -s %[1]s/v1/trust-list

Receive events as an agency (signed webhooks):
  POLICE=$(scripts/devtoken --sub police-demo-events --scope events:subscribe --org police-demo)
  curl -s -X POST -H "Authorization: Bearer $POLICE" -H 'Content-Type: application/json' \
    -d '{"endpoint":"http://127.0.0.1:8787/hooks","types":["city.holder.enrolled.v1"]}' %[1]s/v1/subscriptions
  scripts/webhook-receiver --secret <the whsec_ secret answered above> --port 8787
`, base)
	if len(demo.Residents) > 0 {
		fmt.Fprintln(w, "\nDemo residents (--scope resident):")
		for _, r := range demo.Residents {
			fmt.Fprintf(w, "  --sub %s\n", r.Sub)
		}
	}
	if len(demo.Organisations) > 0 {
		fmt.Fprintln(w, "\nDemo machine clients:")
		for _, o := range demo.Organisations {
			for _, c := range o.Clients {
				fmt.Fprintf(w, "  scripts/devtoken --sub %s --scope %s --org %s   # %s\n",
					c.Sub, strconv.Quote(strings.Join(c.Scopes, " ")), o.Org, c.Note)
			}
		}
	}
	fmt.Fprintln(w, "\nChecks: scripts/smoke. Ctrl-C stops the API and DynamoDB Local.")
}

func mapEnv(m map[string]string) app.Env {
	return func(k string) string { return m[k] }
}
