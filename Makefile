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
	./model/tokenizer:FuzzBPERoundTrip \
	./modelauth:FuzzGrantCheck \
	./wasmworker/link:FuzzDecodeActivation \
	./wasmworker/link:FuzzReassembler

.DEFAULT_GOAL := help
.PHONY: help build wasm proto check-proto run test test-unit fuzz bench lint fmt clean

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-18s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

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
	@echo "make run: building tabshard (the first build on a cold Go cache takes a few minutes)"
	$(GO) run ./cmd/tabshard up

test: lint check-proto test-unit test-gpu-node test-wasm-node test-gpu-chromium fuzz ## everything CI runs: lint, proto check, race tests (browser tests included), WebGPU conformance, wasm tests under Node, bounded fuzzing

test-unit: ## go test -race over every package
	$(GO) test -race -count=1 ./...

fuzz: ## run each fuzz target for FUZZTIME
	@set -e; for t in $(FUZZ_TARGETS); do \
	  pkg=$${t%%:*}; fn=$${t##*:}; \
	  echo "fuzz $$pkg $$fn ($(FUZZTIME))"; \
	  $(GO) test -run='^$$' -fuzz="^$$fn\$$" -fuzztime=$(FUZZTIME) $$pkg; \
	done

bench: ## run the benchmarks of BENCHMARKS.md that need no GPU (RUNC=path/to/llama2.c/run adds the run.c comparison)
	$(GO) test -run='^$$' -bench='MatVec|Memcpy|MatMulBatch' -benchtime=1s ./kernels/
	$(GO) test -run='^$$' -bench=Decode -benchtime=3x ./model/synth/
	$(GO) test -run='^$$' -bench=Plan -benchtime=200x ./planner/
	$(GO) test -run TestCompareExo -v ./planner/ | grep -v '^=== RUN'
	$(GO) test -run='^$$' -bench=Hop -benchtime=2000x ./bus/
	$(GO) test -run='^$$' -bench=Failover -benchtime=1x ./e2e/
	$(GO) test -run='^$$' -bench=ConcurrentStreams -benchtime=1x -timeout=30m ./e2e/
	@if [ -n "$(RUNC)" ]; then bench/llama2c/compare.sh "$(RUNC)"; else echo "bench: set RUNC=path/to/llama2.c/run for the run.c comparison (bench/llama2c/compare.sh)"; fi

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

# --- browser: the tab worker, its pages and real-browser tests -------------

WASM_OUT := web/dist

.PHONY: wasm-worker wasm-tab test-browser

wasm-worker: ## build the tab worker into web/dist (worker.wasm.gz, wasm_exec.js), embedded by build
	@echo "building the tab worker (GOOS=js GOARCH=wasm) into $(WASM_OUT)"
	GOOS=js GOARCH=wasm $(GO) build -trimpath -ldflags="-s -w" -o $(WASM_OUT)/worker.wasm ./wasmworker/cmd/worker
	gzip -9 -f $(WASM_OUT)/worker.wasm
	cp "$$($(GO) env GOROOT)/lib/wasm/wasm_exec.js" $(WASM_OUT)/wasm_exec.js

wasm-tab: ## build the tab worker as a Node.js process (bin/tab.wasm; run by scripts/tab-worker)
	GOOS=js GOARCH=wasm $(GO) build -trimpath -ldflags="-s -w" -o bin/tab.wasm ./wasmworker/cmd/tab

# The binary embeds the tab worker: build it first.
build run wasm: wasm-worker

test-browser: ## run the real-browser tests alone (headless Chromium; TABSHARD_SKIP_BROWSER=1 skips)
	$(GO) test -count=1 -v ./e2e/browser/

# WebGPU backend (gpu/, kernels/wgsl/): the conformance suite and benchmarks
# run as a GOOS=js GOARCH=wasm test binary, under Node.js with Dawn (npm
# "webgpu", pinned in tools/node) and in headless Chromium. Without a GPU
# both use SwiftShader. On the GPU machine: bash ../shared/gpu/prepare.sh
# here, scripts/bench-gpu --build-only, carry .gpu/, then make bench-gpu.
.PHONY: test-gpu-node test-gpu-chromium bench-gpu

test-gpu-node: ## WebGPU conformance suite under Node.js + Dawn (SwiftShader here)
	scripts/install-test-deps.sh
	GOOS=js GOARCH=wasm $(GO) test -count=1 -timeout 30m -exec $(CURDIR)/scripts/wasm-webgpu-exec ./gpu/

test-gpu-chromium: ## the same suite in headless Chromium (WebGPU on SwiftShader)
	scripts/install-test-deps.sh
	scripts/test-gpu-chromium

bench-gpu: ## WebGPU kernel benchmarks, Node + Dawn (BENCH=regexp, SMALL=1: small shapes)
	scripts/bench-gpu

.PHONY: bench-load chromium-bundle
bench-load: ## a 5 GB stage of random Llama-3-70B bytes through the Range server into a Node.js tab and a Chromium tab: rate, wasm heap, reload from Cache Storage (PRESET, LAYERS, POLICY, TABS)
	scripts/bench-load

chromium-bundle: ## Debian's headless Chromium in three carryable pieces for the GPU machine (.gpu/chromium-parts)
	scripts/chromium-bundle build

# The browser tests in test-unit need Chromium: install it first (CI runs
# as root; TABSHARD_SKIP_BROWSER=1 skips the browser tests and this).
.PHONY: test-deps
test-deps: ## install the test dependencies (Debian's Chromium, Node + Dawn) with scripts/install-test-deps.sh
	@if [ "$$TABSHARD_SKIP_BROWSER" = 1 ]; then echo "TABSHARD_SKIP_BROWSER=1: not installing Chromium"; else scripts/install-test-deps.sh; fi

test-unit: test-deps

.PHONY: bench-browser
bench-browser: ## activation hops inside headless Chromium: BroadcastChannel, WebRTC, NATS over WebSocket (root: a netns)
	TABSHARD_BENCH=1 $(GO) test -count=1 -run '^TestLinkBench$$' -v ./e2e/browser/

.PHONY: test-wasm-node
test-wasm-node: ## GOOS=js tests of non-GPU packages under Node.js (bus: a tab's publish is written before Send returns)
	scripts/install-test-deps.sh
	GOOS=js GOARCH=wasm $(GO) test -count=1 -exec "$$($(GO) env GOROOT)/lib/wasm/go_js_wasm_exec" ./bus/

.PHONY: bench-node-hop
bench-node-hop: ## where a NATS WebSocket hop between two Go wasm tab workers under Node.js goes, step by step, against native and plain-JavaScript floors (scripts/bench-node-hop; --build-only to carry it to the GPU machine)
	scripts/bench-node-hop

bench: bench-browser
