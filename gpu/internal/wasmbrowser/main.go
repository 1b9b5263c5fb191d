//go:build !js

// Command wasmbrowser runs a GOOS=js GOARCH=wasm test binary in headless
// Chromium (real WebGPU: SwiftShader on a machine without a GPU) and
// relays its output: the page loads Go's wasm_exec.js, runs the binary
// with the given arguments, and reports its exit code, which becomes this
// command's. It drives /usr/bin/chromium through the DevTools protocol
// (chromedp) and serves the page on a loopback port.
//
//	GOOS=js GOARCH=wasm go test -c -o gpu.test.wasm ./gpu/
//	go run ./gpu/internal/wasmbrowser -wasm gpu.test.wasm -- -test.v
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

func main() {
	wasm := flag.String("wasm", "", "the wasm test binary")
	browser := flag.String("chromium", "/usr/bin/chromium", "the browser")
	timeout := flag.Duration("timeout", 20*time.Minute, "give up after")
	flag.Parse()
	if *wasm == "" {
		fmt.Fprintln(os.Stderr, "usage: wasmbrowser -wasm FILE [-- test flags]")
		os.Exit(2)
	}
	code, err := run(*wasm, *browser, flag.Args(), *timeout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "wasmbrowser:", err)
		os.Exit(2)
	}
	os.Exit(code)
}

// page runs the binary and prints "__EXIT__ <code>" when it exits.
const page = `<!doctype html><meta charset="utf-8"><title>wasm test</title>
<script src="/wasm_exec.js"></script>
<script>
(async () => {
  const go = new Go();
  go.argv = ["test.wasm"].concat(JSON.parse(decodeURIComponent(location.hash.slice(1) || "%5B%5D")));
  go.exit = (code) => console.log("__EXIT__ " + code);
  try {
    const r = await WebAssembly.instantiateStreaming(fetch("/test.wasm"), go.importObject);
    await go.run(r.instance);
  } catch (e) {
    console.log("wasm run failed: " + e);
    console.log("__EXIT__ 3");
  }
})();
</script>`

func run(wasm, browser string, args []string, timeout time.Duration) (int, error) {
	execJS, err := wasmExec()
	if err != nil {
		return 0, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, page) })
	mux.HandleFunc("/wasm_exec.js", func(w http.ResponseWriter, r *http.Request) { http.ServeFile(w, r, execJS) })
	mux.HandleFunc("/test.wasm", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/wasm")
		http.ServeFile(w, r, wasm)
	})
	go http.Serve(ln, mux)

	dir, err := os.MkdirTemp("", "wasmbrowser-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(browser), chromedp.UserDataDir(dir),
		chromedp.Flag("headless", "new"), chromedp.NoSandbox, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.Flag("enable-unsafe-webgpu", true),
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	exit := make(chan int, 1)
	listen := func(ev any) {
		switch e := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			line := consoleText(e.Args)
			if c, ok := strings.CutPrefix(line, "__EXIT__ "); ok {
				n, _ := strconv.Atoi(c)
				select {
				case exit <- n:
				default:
				}
				return
			}
			fmt.Println(line)
		case *runtime.EventExceptionThrown:
			fmt.Fprintln(os.Stderr, "page exception:", e.ExceptionDetails.Text, e.ExceptionDetails.URL, e.ExceptionDetails.LineNumber)
		}
	}
	bctx, cancelBrowser := chromedp.NewContext(actx, chromedp.WithListener(listen))
	defer cancelBrowser()
	quoted, _ := json.Marshal(args)
	url := fmt.Sprintf("http://%s/#%s", ln.Addr(), strings.ReplaceAll(urlEscape(string(quoted)), "#", "%23"))
	if _, err := chromedp.Run(bctx, chromedp.Navigate(url)); err != nil {
		return 0, fmt.Errorf("%s: %w", browser, err)
	}
	select {
	case code := <-exit:
		return code, nil
	case <-ctx.Done():
		return 0, errors.New("timed out waiting for the test binary to exit")
	}
}

// consoleText joins a console call's arguments as console.log prints them.
func consoleText(args []*runtime.RemoteObject) string {
	parts := make([]string, 0, len(args))
	for _, a := range args {
		var s string
		if err := json.Unmarshal([]byte(a.Value), &s); err == nil {
			parts = append(parts, s)
			continue
		}
		if len(a.Value) > 0 {
			parts = append(parts, string(a.Value))
		} else {
			parts = append(parts, a.Description)
		}
	}
	return strings.Join(parts, " ")
}

func urlEscape(s string) string {
	var b strings.Builder
	for _, c := range []byte(s) {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-_.~", c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// wasmExec finds Go's wasm_exec.js.
func wasmExec() (string, error) {
	if p := os.Getenv("WASM_EXEC_JS"); p != "" {
		return p, nil
	}
	out, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOROOT: %w", err)
	}
	return filepath.Join(strings.TrimSpace(string(out)), "lib", "wasm", "wasm_exec.js"), nil
}
