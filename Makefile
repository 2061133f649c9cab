# citycode — developer entry points. `make run` and `make test` install what
# they need themselves (Go modules, the DynamoDB Local npm package).
GO ?= go
# Lambda build flags (DESIGN.md): no RPC mode, reproducible paths, stripped.
LAMBDA_FLAGS := -tags lambda.norpc -trimpath -ldflags='-s -w'
# A template function's code lives in functions/<name>: the logical id without
# "Function", in kebab case (HoldersFunction -> holders, QrVerifyFunction ->
# qr-verify). registry.Dir applies the same rule; a test checks both agree.
fn_dir = functions/$(shell echo '$(1)' | sed -E 's/Function$$//; s/([a-z0-9])([A-Z])/\1-\2/g' | tr 'A-Z' 'a-z')
FUNCTIONS := $(shell sed -nE 's/^  ([A-Za-z0-9]+Function):$$/\1/p' template.yaml)

.PHONY: run test lint vet unit bench fuzz build smoke

## run: start DynamoDB Local, create the tables of template.yaml, seed demo data, serve every route on :3000
run:
	$(GO) run ./scripts/cmd/localapi

## test: vet, cfn-lint, unit and integration tests against DynamoDB Local, contract and bootstrap checks
test: vet lint unit

vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }

lint:
	@command -v cfn-lint >/dev/null || { echo "cfn-lint is not installed (it ships with the machine image; pip install cfn-lint elsewhere)"; exit 1; }
	cfn-lint template.yaml

# One DynamoDB Local for the whole run; the bootstrap test runs verbosely so
# that each function's cold init time is in the output.
unit:
	CITYCODE_REQUIRE_MOTO=1 $(GO) run ./scripts/cmd/withdynamo -- sh -c '$(GO) test -count=1 $$($(GO) list ./... | grep -v "/functions$$") && $(GO) test -count=1 -v -run TestBootstraps ./functions'

## bench: the speed targets (verify cost, handler path, PNG, cold init vs hello-world) with ratios; fare and split cost; DynamoDB calls per tap
bench:
	$(GO) run ./scripts/cmd/withdynamo -- $(GO) run ./scripts/cmd/bench

## fuzz: run each fuzz target of outside input for FUZZTIME (default 30s)
FUZZTIME ?= 30s
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME) ./shared/credential
	$(GO) test -run '^$$' -fuzz '^FuzzBase45$$' -fuzztime $(FUZZTIME) ./shared/credential
	$(GO) test -run '^$$' -fuzz '^FuzzPrice$$' -fuzztime $(FUZZTIME) ./shared/fares
	$(GO) test -run '^$$' -fuzz '^FuzzSplit$$' -fuzztime $(FUZZTIME) ./shared/medpolicy
	$(GO) test -run '^$$' -fuzz '^FuzzBillBody$$' -fuzztime $(FUZZTIME) ./shared/medical
	$(GO) test -run '^$$' -fuzz '^FuzzTapChecks$$' -fuzztime $(FUZZTIME) ./shared/transit
	$(GO) test -run '^$$' -fuzz '^FuzzVerify$$' -fuzztime $(FUZZTIME) ./shared/webhooks
	$(GO) test -run '^$$' -fuzz '^FuzzVerifyList$$' -fuzztime $(FUZZTIME) ./shared/trust
	$(GO) test -run '^$$' -fuzz '^FuzzCheckEndpoint$$' -fuzztime $(FUZZTIME) ./shared/subscriptions

## smoke: exercise a running `make run` with curl
smoke:
	scripts/smoke

## build: what `sam build` does, for every function (arm64, provided.al2023)
build: $(addprefix build-,$(FUNCTIONS))

# sam build calls `make build-<LogicalId>` with ARTIFACTS_DIR set.
ARTIFACTS_DIR ?= .aws-sam/build/$*
build-%:
	mkdir -p $(ARTIFACTS_DIR)
	GOOS=linux GOARCH=arm64 CGO_ENABLED=0 $(GO) build $(LAMBDA_FLAGS) -o $(ARTIFACTS_DIR)/bootstrap ./$(call fn_dir,$*)
	# Data files the function names in its environment (values starting with
	# infra/: categories, fares, policies) go beside bootstrap under the same
	# relative path: a Lambda function's working directory is its code folder.
	for f in $$(sed -nE '/^  $*:$$/,/^  [A-Za-z0-9]+:$$/s|^ +[A-Z0-9_]+: (infra/[^ ]+)$$|\1|p' template.yaml); do \
		mkdir -p $(ARTIFACTS_DIR)/$$(dirname $$f) && cp -R $$f $(ARTIFACTS_DIR)/$$f; done
