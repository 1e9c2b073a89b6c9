# llm-proxy — build, run, test, lint and package.
#
#   make demo          run with a simulated upstream: no key needed
#   make test          the whole test suite (race detector) plus short fuzz runs
#   make help          every target
#
# `make build` is the exact command the Dockerfile runs (packaging/ checks it).

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

# Output of `make build`, and the version stamped into it (`llm-proxy -version`),
# computed once per make run.
BIN ?= ./llm-proxy
ifeq ($(origin VERSION),undefined)
VERSION := $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
endif

# Fuzz time per target: short in `make test`, longer in `make fuzz`.
TEST_FUZZTIME ?= 5s
FUZZTIME      ?= 60s

# Linters, installed with `go install` at these versions when missing.
STATICCHECK_VERSION := v0.8.2
ACTIONLINT_VERSION  := v1.7.12
TOOLS_BIN = $(or $(shell go env GOBIN),$(shell go env GOPATH)/bin)
STATICCHECK = $(TOOLS_BIN)/staticcheck
ACTIONLINT  = $(TOOLS_BIN)/actionlint

# Claude Code, for its end-to-end test (claude_code_test.go): the npm package
# at a pinned version (the last whose engines accept node 18 and 20; it ships
# a native binary), installed into a git-ignored folder.
CLAUDE_CODE_VERSION := 2.1.197
CLAUDE_CODE_DIR     := .tools/claude-code
CLAUDE_CODE         := $(CLAUDE_CODE_DIR)/node_modules/.bin/claude

.PHONY: help build run demo test fuzz bench profile lint tools claude-code docker-check screenshot clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-13s %s\n", $$1, $$2}'

build: ## static binary ./llm-proxy, built exactly as in the Dockerfile
	CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=$(VERSION)" -o $(BIN) .

run: build ## run the proxy; configure it with PROXY_URL, API_KEY, MY_ACCESS_KEY (see README)
	$(BIN)

demo: build ## run with a simulated upstream and demo traffic, no key needed (data in ./data)
	DB_PATH="$${DB_PATH:-./data/demo.db}" $(BIN) -demo

test: ## go test -race on every package, then every fuzz target for 5s (TEST_FUZZTIME=…)
	@$(MAKE) claude-code || echo "make test: Claude Code could not be installed (npm or its registry unreachable?): its test is skipped"
	go test -race -count=1 ./...
	cd translate/testdata/sdkbench && go test -count=1 ./... # the official SDKs read the translated goldens (its own module)
	bash .ci/fuzz $(TEST_FUZZTIME)

fuzz: ## every fuzz target for 60s (FUZZTIME=…)
	bash .ci/fuzz $(FUZZTIME)

bench: ## the benchmark: simulated upstream, the proxy, a Go load generator (ARGS=-h for flags)
	go run ./cmd/bench $(ARGS)

profile: ## CPU + allocation profiles of the proxy under load (bench-results/*.prof)
	go run ./cmd/bench -profile $(ARGS)

lint: tools ## gofmt, go vet, staticcheck, actionlint (all run; any finding fails)
	@status=0; \
	echo "gofmt -l ."; unformatted="$$(gofmt -l .)"; \
	if [ -n "$$unformatted" ]; then echo "these files need gofmt -w:"; echo "$$unformatted"; status=1; fi; \
	echo "go vet ./..."; go vet ./... || status=1; \
	echo "staticcheck ./..."; "$(STATICCHECK)" ./... || status=1; \
	echo "actionlint"; "$(ACTIONLINT)" || status=1; \
	exit $$status

tools: ## install staticcheck and actionlint at the pinned versions if missing
	@if ! "$(STATICCHECK)" -version 2>/dev/null | grep -qF "($(STATICCHECK_VERSION:v%=%))"; then \
		echo "installing staticcheck $(STATICCHECK_VERSION)"; \
		go install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION); fi
	@if ! "$(ACTIONLINT)" -version 2>/dev/null | grep -qxF "$(ACTIONLINT_VERSION)"; then \
		echo "installing actionlint $(ACTIONLINT_VERSION)"; \
		go install github.com/rhysd/actionlint/cmd/actionlint@$(ACTIONLINT_VERSION); fi

claude-code: ## install Claude Code (npm, pinned version) into .tools/ for its end-to-end test
	@if "$(CLAUDE_CODE)" --version 2>/dev/null | grep -qF "$(CLAUDE_CODE_VERSION) "; then exit 0; fi; \
	command -v npm >/dev/null || { echo "claude-code: npm not found (apt-get install nodejs npm)" >&2; exit 1; }; \
	echo "installing @anthropic-ai/claude-code@$(CLAUDE_CODE_VERSION) into $(CLAUDE_CODE_DIR)"; \
	npm install --prefix "$(CLAUDE_CODE_DIR)" --no-save --no-audit --no-fund --loglevel=error \
		--fetch-timeout=30000 --fetch-retries=1 "@anthropic-ai/claude-code@$(CLAUDE_CODE_VERSION)"; \
	"$(CLAUDE_CODE)" --version | grep -qF "$(CLAUDE_CODE_VERSION) " || { \
		echo "claude-code: $(CLAUDE_CODE) does not run (did npm skip its postinstall script?)" >&2; exit 1; }

docker-check: build ## without Docker: check the Dockerfile, the static binary, -version and -healthcheck
	go test -count=1 ./packaging/
	bash .ci/docker-check $(BIN) $(VERSION)

screenshot: ## docs/dashboard.png from the browser test (needs /usr/bin/chromium)
	mkdir -p docs
	CI=1 LLMPROXY_SCREENSHOT="$(CURDIR)/docs/dashboard.png" go test -count=1 -run 'Browser' ./...

clean: ## remove build and profiling output (never ./data)
	rm -f $(BIN) *.prof *.test
	rm -rf ./bin ./bench-results
