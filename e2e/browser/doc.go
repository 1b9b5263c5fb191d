// Package browser holds tabshard's real-browser end-to-end tests: an
// in-process coordinator, worker tabs in headless Chromium (Go wasm, NATS
// over WebSocket, WebGPU where SwiftShader gives it), completions compared
// with llama2.c's output, tabs closed mid-generation, bad input.
//
// The tests need Chromium (/usr/bin/chromium, or $TABSHARD_CHROMIUM); they
// fail when it is missing. Developers without it may set
// TABSHARD_SKIP_BROWSER=1 to skip them; CI never does
// (scripts/install-test-deps.sh installs Chromium).
package browser
