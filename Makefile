# citycode — developer entry points. `make run` and `make test` install what
# they need themselves (Go modules, the DynamoDB Local npm package).
GO ?= go
# Lambda build flags (DESIGN.md): no RPC mode, reproducible paths, stripped.
LAMBDA_FLAGS := -tags lambda.norpc -trimpath -ldflags='-s -w'
# Where each template function's main package lives (logical id -> folder).
PKG_HoldersFunction := functions/holders

.PHONY: run test lint vet unit bench build smoke tidy-check

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

unit:
	$(GO) run ./scripts/cmd/withdynamo -- $(GO) test -count=1 ./...

## bench: benchmarks with DynamoDB Local available
bench:
	$(GO) run ./scripts/cmd/withdynamo -- $(GO) test -run '^$$' -bench . -benchmem ./...

## smoke: exercise a running `make run` with curl
smoke:
	scripts/smoke

## build: what `sam build` does, for every function (arm64, provided.al2023)
build: $(addprefix build-,$(patsubst PKG_%,%,$(filter PKG_%,$(.VARIABLES))))

# sam build calls `make build-<LogicalId>` with ARTIFACTS_DIR set.
ARTIFACTS_DIR ?= .aws-sam/build/$*
build-%:
	@test -n "$(PKG_$*)" || { echo "no package for function $* (add PKG_$* to the Makefile)"; exit 1; }
	mkdir -p $(ARTIFACTS_DIR)
	GOOS=linux GOARCH=arm64 CGO_ENABLED=0 $(GO) build $(LAMBDA_FLAGS) -o $(ARTIFACTS_DIR)/bootstrap ./$(PKG_$*)
