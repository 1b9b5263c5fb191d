# tabshard — run `make` for the list of targets.
GO        ?= go
TOOL      := $(GO) tool -modfile=tools/go.mod
FUZZTIME  ?= 15s
BIN       := bin/tabshard
VERSION   := $(shell git describe --always --dirty 2>/dev/null || echo dev)

# Fuzz targets run for FUZZTIME each by `make test`: package:Target.
FUZZ_TARGETS := \
	./model/gguf:FuzzRead \
	./model/tokenizer:FuzzSPMRoundTrip \
	./model/tokenizer:FuzzBPERoundTrip

.DEFAULT_GOAL := help
.PHONY: help build wasm proto check-proto run test test-unit fuzz bench lint fmt clean

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

build: ## build bin/tabshard
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/tabshard

wasm: ## check that the shard runtime compiles for GOOS=js GOARCH=wasm
	GOOS=js GOARCH=wasm $(GO) build ./kernels/... ./model/... ./worker/... ./proto/...

proto: ## regenerate the Go code of proto/ with buf (pinned in tools/go.mod)
	$(TOOL) buf lint
	$(TOOL) buf generate

check-proto: ## fail if regenerating proto/ would change the committed code
	@tmp=$$(mktemp -d) && $(TOOL) buf generate -o $$tmp && \
	  diff -r --exclude='*.proto' $$tmp/proto proto && rm -rf $$tmp && echo "proto: generated code is current"

run: ## start the coordinator with 3 local workers on the bundled model (tabshard up)
	$(GO) run ./cmd/tabshard up

test: lint check-proto test-unit fuzz ## everything CI runs: lint, proto check, race tests, bounded fuzzing

test-unit: ## go test -race over every package
	$(GO) test -race -count=1 ./...

fuzz: ## run each fuzz target for FUZZTIME
	@set -e; for t in $(FUZZ_TARGETS); do \
	  pkg=$${t%%:*}; fn=$${t##*:}; \
	  echo "fuzz $$pkg $$fn ($(FUZZTIME))"; \
	  $(GO) test -run='^$$' -fuzz="^$$fn\$$" -fuzztime=$(FUZZTIME) $$pkg; \
	done

bench: ## run the CPU benchmarks (see BENCHMARKS.md)
	$(GO) test -run='^$$' -bench=. -benchtime=2s ./kernels/ ./worker/

lint: ## gofmt, go vet, staticcheck, buf lint
	@out=$$(gofmt -l $$(git ls-files '*.go' | grep -v '\.pb\.go$$')); \
	  if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(TOOL) staticcheck ./...
	$(TOOL) buf lint

fmt: ## format the Go code
	gofmt -w $$(git ls-files '*.go' | grep -v '\.pb\.go$$')

clean: ## remove build outputs
	rm -rf bin
