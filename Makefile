# Divine Whispers. `make help` lists the targets.
SHELL := /bin/bash
GO    ?= go
DW    := bin/dw
GOBIN := $(shell $(GO) env GOPATH)/bin
PKGS  := ./...

.DEFAULT_GOAL := help

.PHONY: help
help: ## list the targets
	@grep -E '^[a-zA-Z/_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN{FS=":.*## "}{printf "  %-12s %s\n",$$1,$$2}'

.PHONY: deps
deps: ## install what a fresh machine lacks (PostgreSQL server binaries)
	@scripts/ensure-deps.sh

.PHONY: build
build: web ## build the web app, then bin/dw (which embeds it)
	$(GO) build -o $(DW) ./cmd/dw

# The web app (web/): npm ci when the lockfile changed, then vite build into web/build/app (which
# package web embeds) and the check of the people's JavaScript budget (200 KB gzipped).
web/node_modules/.package-lock.json: web/package-lock.json
	@scripts/ensure-deps.sh --web
	cd web && npm ci --no-audit --no-fund

.PHONY: web
web: web/node_modules/.package-lock.json ## build the web app into web/build/app (npm ci, vite build, JS budget)
	cd web && npm run build

.PHONY: run
run: deps build ## start a one-node cluster on the embedded PostgreSQL with demo accounts
	$(DW) serve --demo --secure-cookies=false --log-format text

.PHONY: test
test: deps ## every test, race detector on, against real PostgreSQL
	$(GO) vet $(PKGS)
	$(GO) test -race -count=1 -timeout 20m $(PKGS)
	@# Several protoactor nodes in one process race inside protoactor and grpc (README, known
	@# issues): the in-process multi-node tests (cluster, and the gateway's tests that start nodes
	@# beside TestGateway's: reset, account lifecycle, payments) run once more without -race.
	$(GO) test -count=1 -timeout 10m ./cluster/
	$(GO) test -count=1 -timeout 10m -run '^(TestPasswordReset.*|TestMailOutboxSurvivesRestart|TestDeleteAccount|TestAdminDeletesUser|TestPayments.*)$$' ./gateway/
	$(MAKE) test/web

.PHONY: test/web
test/web: build ## the web app: type check, Vitest unit tests, end-to-end in headless Chromium against bin/dw
	@scripts/ensure-deps.sh --browser
	cd web && npm run check && npm test && npm run e2e

.PHONY: test/short
test/short: deps ## the fast tests only
	$(GO) test -short -count=1 $(PKGS)

.PHONY: fuzz
fuzz: ## run every fuzz target for FUZZTIME each (default 20s)
	@for f in $$(grep -rl --include='*_test.go' '^func Fuzz' . | xargs -n1 dirname | sort -u); do \
	  for t in $$(grep -ho '^func Fuzz[A-Za-z0-9_]*' $$f/*_test.go | sed 's/func //'); do \
	    echo "== $$f $$t"; $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $${FUZZTIME:-20s} $$f || exit 1; \
	  done; done

.PHONY: bench
bench: deps build ## the benchmarks of the README (wallet ops vs plain SQL, HTTP vs bare fiber, jobs/s and latency at 250, 500 and 1,000 jobs/s, ingest vs one INSERT per record, overview over 10M records, the operators' overview page in Chromium over 1M)
	$(GO) test -run '^$$' -bench 'WalletDeposit|Commit' -benchtime $${BENCHTIME:-5s} -count 1 -timeout 30m ./bench/
	$(GO) test -run '^$$' -bench 'Jobs$$' -benchtime $${JOBS:-16000}x -count 1 -timeout 30m ./bench/
	JOBS_RATE=250 $(GO) test -run '^$$' -bench 'JobsPaced' -benchtime 5000x -count 1 -timeout 30m ./bench/
	JOBS_RATE=500 $(GO) test -run '^$$' -bench 'JobsPaced' -benchtime 7500x -count 1 -timeout 30m ./bench/
	JOBS_RATE=1000 $(GO) test -run '^$$' -bench 'JobsPaced' -benchtime 10000x -count 1 -timeout 30m ./bench/
	$(GO) test -run '^$$' -bench 'Ingest' -benchtime $${INGEST:-1}x -count 1 -timeout 30m ./bench/
	$(GO) test -run '^$$' -bench 'Overview' -benchtime 20x -count 1 -timeout 30m ./bench/
	scripts/ensure-deps.sh --browser && $(GO) test -run '^$$' -bench 'OpsPage' -benchtime 1x -count 1 -timeout 30m ./bench/opspage/
	$(GO) test -run '^$$' -bench 'RateLimit' -benchtime 2s -count 1 -timeout 30m ./bench/
	scripts/bench-http.sh

STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2

.PHONY: lint
lint: ## gofmt, go vet, staticcheck and a tidy go.mod
	@out=$$(gofmt -l $$(git ls-files '*.go' | grep -v '\.pb\.go$$')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	$(GO) run $(STATICCHECK) $(PKGS)
	@$(GO) mod tidy -diff >/dev/null 2>&1 || { echo "go.mod/go.sum are not tidy: run go mod tidy"; $(GO) mod tidy -diff; exit 1; }

.PHONY: proto
proto: ## regenerate the committed protobuf code
	@scripts/ensure-deps.sh --proto
	PATH="$(GOBIN):$$PATH" protoc --go_out=. --go_opt=module=github.com/divinewhispers/dw protos/*.proto

.PHONY: generate
generate: proto ## regenerate all generated code

.PHONY: verify
verify: proto lint ## fail when generated code is stale or the code is not clean
	git diff --exit-code -- protos/

.PHONY: up
up: ## a 3-node cluster on this machine (see README), logs in var/cluster/
	scripts/cluster.sh up

.PHONY: down
down: ## stop the 3-node cluster
	scripts/cluster.sh down
