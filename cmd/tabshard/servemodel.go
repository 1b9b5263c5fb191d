package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tabshard/tabshard/coordinator"
	"github.com/tabshard/tabshard/model"
	"github.com/tabshard/tabshard/model/bundled"
	"github.com/tabshard/tabshard/modelauth"
)

func runServeModel(ctx context.Context, e *env, args []string) error {
	fset := flag.NewFlagSet("serve-model", flag.ContinueOnError)
	addr := fset.String("http", "127.0.0.1:8090", "address to serve the model file at")
	path := fset.String("model", "", "GGUF model to serve (default: the bundled stories260K); the coordinator must be given the same file")
	keyFile := fset.String("key-file", "", "the key grants are signed with, shared with the coordinator's --model-key-file (required; created with a new random key when it does not exist)")
	var origins repeated
	fset.Var(&origins, "allow-origin", "the `origin` of pages whose tabs may read the model, e.g. the coordinator's http://127.0.0.1:8080 (repeatable or comma-separated; native workers need none)")
	rest, err := parseFlags(fset, e, args)
	if err != nil {
		return err
	}
	switch {
	case len(rest) > 0:
		return usageErr("unexpected argument %q", rest[0])
	case *keyFile == "":
		return usageErr("want --key-file PATH (the key shared with the coordinator)")
	}
	allowed, err := parseOrigins(origins)
	if err != nil {
		return err
	}
	served, err := openServed(*path)
	if err != nil {
		return err
	}
	key, created, err := ensureModelKey(*keyFile)
	if err != nil {
		return err
	}
	signer, err := modelauth.NewSigner(key)
	if err != nil {
		return fmt.Errorf("--key-file %s: %w", *keyFile, err)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("--http %s: %w", *addr, err)
	}
	log := slog.New(slog.NewTextHandler(e.stderr, nil)) // refused requests, with why
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: &modelauth.FileServer{Signer: signer, Origins: allowed, Open: served.open, Log: log}}
	printServing(e.stdout, served, ln.Addr().String(), *keyFile, created, allowed)
	return serveUntilDone(ctx, srv, ln)
}

// servedModel is the one file serve-model serves, at /<name>.
type servedModel struct {
	name string // the last element of its URL's path: what grants name
	path string // "" for the bundled model
	size int64
	mod  time.Time
}

// openServed checks that path is a GGUF model, as the coordinator will.
func openServed(path string) (servedModel, error) {
	if path == "" {
		return servedModel{name: bundled.Name + ".gguf", size: int64(len(bundled.Bytes())), mod: time.Unix(0, 0)}, nil
	}
	m, err := model.Open(path)
	if err != nil {
		return servedModel{}, err
	}
	m.Close()
	st, err := os.Stat(path)
	if err != nil {
		return servedModel{}, err
	}
	return servedModel{name: filepath.Base(path), path: path, size: st.Size(), mod: st.ModTime()}, nil
}

// open is the FileServer's Opener: the file, by its name only.
func (s servedModel) open(name string) (io.ReadSeeker, int64, time.Time, error) {
	if name != s.name {
		return nil, 0, time.Time{}, fmt.Errorf("this server serves %q only, not %q", s.name, name)
	}
	if s.path == "" {
		return bytes.NewReader(bundled.Bytes()), s.size, s.mod, nil
	}
	f, err := os.Open(s.path)
	if err != nil {
		return nil, 0, time.Time{}, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, time.Time{}, err
	}
	return f, st.Size(), st.ModTime(), nil
}

// parseOrigins reads --allow-origin values: each scheme://host[:port],
// several to a flag separated by commas.
func parseOrigins(values []string) ([]string, error) {
	var out []string
	for _, v := range values {
		for _, o := range strings.Split(v, ",") {
			if o = strings.TrimSpace(o); o == "" {
				continue
			}
			u, err := url.Parse(o)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || strings.TrimSuffix(u.Path, "/") != "" || u.RawQuery != "" || u.User != nil {
				return nil, usageErr("--allow-origin %q: want an origin, scheme://host[:port], such as the coordinator's http://127.0.0.1:8080", o)
			}
			out = append(out, u.Scheme+"://"+u.Host)
		}
	}
	return out, nil
}

// readModelKey reads a grant-signing key file: its bytes without a
// trailing line break, at least modelauth.MinKeyBytes of them.
func readModelKey(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("model key: %w", err)
	}
	key := bytes.TrimRight(b, "\r\n")
	if len(key) < modelauth.MinKeyBytes {
		return nil, fmt.Errorf("model key %s: %d bytes, want at least %d (make one with `head -c 32 /dev/urandom | xxd -p -c 64 > %s`, or let `tabshard serve-model --key-file %s` write it)",
			path, len(key), modelauth.MinKeyBytes, path, path)
	}
	return key, nil
}

// ensureModelKey reads the key file, first writing a new random key
// there when there is none.
func ensureModelKey(path string) (key []byte, created bool, err error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	switch {
	case errors.Is(err, fs.ErrExist):
		key, err = readModelKey(path)
		return key, false, err
	case err != nil:
		return nil, false, fmt.Errorf("model key: %w", err)
	}
	raw := make([]byte, modelauth.MinKeyBytes)
	rand.Read(raw) // never fails (crypto/rand)
	_, err = fmt.Fprintln(f, hex.EncodeToString(raw))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, false, fmt.Errorf("model key %s: %w", path, err)
	}
	key, err = readModelKey(path)
	return key, true, err
}

func printServing(w io.Writer, s servedModel, addr, keyFile string, created bool, origins []string) {
	u := (&url.URL{Scheme: "http", Host: addr, Path: "/" + s.name}).String()
	fmt.Fprintf(w, "tabshard model server\n  model URL:    %s (%.1f MiB)\n", u, float64(s.size)/(1<<20))
	if host, _, _ := net.SplitHostPort(addr); net.ParseIP(host).IsUnspecified() {
		fmt.Fprintf(w, "                (on every interface: give the coordinator an address its workers reach this machine at)\n")
	}
	note := ""
	if created {
		note = " (new: give the coordinator this file)"
	}
	fmt.Fprintf(w, "  key file:     %s%s\n", keyFile, note)
	if len(origins) == 0 {
		fmt.Fprintf(w, "  page origins: none: native workers only (tabs need --allow-origin <the coordinator's http address>)\n")
	} else {
		fmt.Fprintf(w, "  page origins: %s\n", strings.Join(origins, ", "))
	}
	model := ""
	if s.path != "" {
		model = " --model " + s.path
	}
	fmt.Fprintf(w, "  coordinator:  tabshard up --model-server %s --model-key-file %s%s\n", u, keyFile, model)
}

// serveUntilDone serves on ln until ctx ends, then shuts srv down.
func serveUntilDone(ctx context.Context, srv *http.Server, ln net.Listener) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}

// modelServerFlags checks up's --model-server and --model-key-file and
// puts the key in cfg.
func modelServerFlags(cfg *coordinator.Config, keyFile string) error {
	switch {
	case cfg.ModelServerURL == "" && keyFile == "":
		return nil
	case cfg.ModelServerURL == "":
		return usageErr("--model-key-file needs --model-server URL")
	case keyFile == "":
		return usageErr("--model-server needs --model-key-file PATH: the key grants are signed with, the model server's --key-file")
	}
	u, err := url.Parse(cfg.ModelServerURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || modelauth.FileName(cfg.ModelServerURL) == "" || u.RawQuery != "" {
		return usageErr("--model-server %q: want the model file's URL, such as http://models.example:8090/stories260K.gguf (`tabshard serve-model` prints it)", cfg.ModelServerURL)
	}
	key, err := readModelKey(keyFile)
	if err != nil {
		return err
	}
	cfg.ModelKey = key
	return nil
}

// checkModelServer asks the model server, with a grant signed here, for
// the size of the file it serves: a wrong key, another file or a server
// that is not up is worth a warning now rather than workers' load errors.
func checkModelServer(ctx context.Context, cfg coordinator.Config) error {
	want := int64(len(bundled.Bytes()))
	if cfg.ModelPath != "" {
		st, err := os.Stat(cfg.ModelPath)
		if err != nil {
			return err
		}
		want = st.Size()
	}
	signer, err := modelauth.NewSigner(cfg.ModelKey)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, cfg.ModelServerURL, nil)
	if err != nil {
		return err
	}
	grant := modelauth.Grant{File: modelauth.FileName(cfg.ModelServerURL), Expires: time.Now().Add(time.Minute)} // HEAD reads no bytes
	req.Header.Set("Authorization", "Bearer "+signer.Sign(grant))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if err := modelauth.Refusal(resp); err != nil {
		return err
	}
	if resp.ContentLength != want {
		return fmt.Errorf("it serves %d bytes, this coordinator's model has %d: give both the same file", resp.ContentLength, want)
	}
	return nil
}
