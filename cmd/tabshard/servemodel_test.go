package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tabshard/tabshard/e2e"
)

const goodKey = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n"

func TestServeModelAndUpFlagErrors(t *testing.T) {
	short := writeFile(t, "short.key", "tooshort\n")
	good := writeFile(t, "good.key", goodKey)
	const ms = "http://models.example:8090/stories260K.gguf"
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"serve-model"}, 2, "want --key-file PATH"},
		{[]string{"serve-model", "--key-file", short}, 1, "8 bytes, want at least 32"},
		{[]string{"serve-model", "--key-file", good, "--allow-origin", "http://pages.example/app"}, 2, `--allow-origin "http://pages.example/app": want an origin`},
		{[]string{"serve-model", "--key-file", good, "--allow-origin", "http://a.example,pages.example"}, 2, `--allow-origin "pages.example"`},
		{[]string{"serve-model", "--key-file", good, "--model", "/no/such/model.gguf"}, 1, "no such file"},
		{[]string{"serve-model", "--key-file", good, "--http", "nowhere"}, 1, "--http nowhere"},
		{[]string{"serve-model", "--key-file", good, "extra"}, 2, `unexpected argument "extra"`},
		{[]string{"up", "--model-server", ms}, 2, "--model-server needs --model-key-file"},
		{[]string{"up", "--model-key-file", good}, 2, "--model-key-file needs --model-server"},
		{[]string{"up", "--model-server", ms, "--model-key-file", "/no/such.key"}, 1, "no such file"},
		{[]string{"up", "--model-server", ms, "--model-key-file", short}, 1, "8 bytes, want at least 32"},
		{[]string{"up", "--model-server", "models.example:8090", "--model-key-file", good}, 2, "want the model file's URL"},
		{[]string{"up", "--model-server", "http://models.example:8090/", "--model-key-file", good}, 2, "want the model file's URL"},
	}
	for _, c := range cases {
		t.Run(c.args[0]+": "+c.want, func(t *testing.T) {
			_, errOut, code := tabshard(t, c.args...)
			if code != c.code || !strings.Contains(errOut, c.want) {
				t.Fatalf("exit %d, stderr %q; want %d and %q", code, errOut, c.code, c.want)
			}
		})
	}
}

// syncBuffer is the output of a command that runs in a goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// background runs a command until the test ends.
type background struct {
	name           string
	stdout, stderr syncBuffer
	done           chan int
}

func startCmd(t *testing.T, ctx context.Context, args ...string) *background {
	t.Helper()
	b := &background{name: args[0], done: make(chan int, 1)}
	go func() { b.done <- run(ctx, &env{stdout: &b.stdout, stderr: &b.stderr}, args) }()
	return b
}

// await waits for the command's stdout to match re and returns the match.
func (b *background) await(t *testing.T, re string) []string {
	t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if m := rx.FindStringSubmatch(b.stdout.String()); m != nil {
			return m
		}
		select {
		case code := <-b.done:
			t.Fatalf("%s exited %d before printing %q\nstdout:\n%s\nstderr:\n%s", b.name, code, re, b.stdout.String(), b.stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("%s did not print %q\nstdout:\n%s\nstderr:\n%s", b.name, re, b.stdout.String(), b.stderr.String())
	return nil
}

// awaitLog waits for the command to log msg.
func (b *background) awaitLog(t *testing.T, msg string) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(b.stderr.String(), msg); {
		if time.Now().After(deadline) {
			t.Fatalf("%s did not log %q:\n%s", b.name, msg, b.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stopCmds ends the commands and checks that they exit cleanly.
func stopCmds(t *testing.T, cancel context.CancelFunc, cmds ...*background) {
	t.Helper()
	cancel()
	for _, b := range cmds {
		select {
		case code := <-b.done:
			if code != 0 {
				t.Errorf("%s exited %d\nstderr:\n%s", b.name, code, b.stderr.String())
			}
		case <-time.After(15 * time.Second):
			t.Errorf("%s did not stop", b.name)
		}
	}
}

// upArgs are the flags of a coordinator that listens on free ports and
// keeps its data in memory.
var upArgs = []string{"--http", "127.0.0.1:0", "--nats-port", "0", "--nats-ws-port", "-1", "--raft-bind", "127.0.0.1:0", "--data-dir", ""}

// TestServeModelUpAndWorkers: `serve-model` prints the coordinator's
// command line; with it, `up` and three `tabshard worker`s load their
// stages from the model server with grants and generate llama2.c's text.
func TestServeModelUpAndWorkers(t *testing.T) {
	key := filepath.Join(t.TempDir(), "model.key") // serve-model writes it
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	server := startCmd(t, ctx, "serve-model", "--http", "127.0.0.1:0", "--key-file", key, "--allow-origin", "http://127.0.0.1:8080")
	line := server.await(t, `coordinator:  tabshard (up .*)\n`)[1]
	if st, err := os.Stat(key); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("the key file: %v %v", st, err)
	}
	if out := server.stdout.String(); !strings.Contains(out, "/stories260K.gguf (1.1 MiB)") || !strings.Contains(out, "page origins: http://127.0.0.1:8080") {
		t.Errorf("serve-model printed:\n%s", out)
	}
	args := append(strings.Fields(line), upArgs...)
	args = append(args, "--local-workers", "0", "--min-workers", "3", "--stages", "3")
	up := startCmd(t, ctx, args...)
	m := up.await(t, `http:\s+(\S+)\n(?s:.*)join token: (\S+)\n(?s:.*)model:\s+(\S+)`)
	base, token := m[1], m[2]
	if want := strings.Fields(line)[2]; m[3] != want {
		t.Errorf("up reads the model at %s, serve-model serves %s", m[3], want)
	}
	cmds := []*background{server, up}
	for i := range 3 {
		cmds = append(cmds, startCmd(t, ctx, "worker", "--coordinator", base, "--join-token", token, "--name", "native-"+string(rune('a'+i))))
	}
	for _, w := range cmds[2:] {
		w.awaitLog(t, "stage loaded")
	}
	want, err := e2e.GreedyOracle(oracleDir)
	if err != nil {
		t.Fatal(err)
	}
	if got := completeText(t, base, want.Request); got != want.Text {
		t.Errorf("text differs from llama2.c\n got %q\nwant %q", got, want.Text)
	}
	stopCmds(t, cancel, cmds...)
	if s := server.stderr.String(); strings.Contains(s, "refused") {
		t.Errorf("the model server refused requests:\n%s", s)
	}
	if s := up.stderr.String(); strings.Contains(s, "does not serve this coordinator's model") || strings.Contains(s, "loading stage") {
		t.Errorf("up warned:\n%s", s)
	}
	for _, w := range cmds[2:] {
		if s := w.stderr.String(); strings.Contains(s, "loading stage") || !strings.Contains(s, "stage loaded") {
			t.Errorf("%s did not load its stage cleanly:\n%s", w.name, s)
		}
	}
}

// TestUpChecksModelServer: `up` warns when the model server checks grants
// with another key or serves another file.
func TestUpChecksModelServer(t *testing.T) {
	key := writeFile(t, "model.key", goodKey)
	other := writeFile(t, "other.key", strings.Repeat("7", 64))
	for _, c := range []struct {
		name, key string
		extra     []string
		want      string
	}{
		{"another key", other, nil, "grant_invalid"},
		{"another file", key, []string{"--model", modelFiles["v1"]}, "give both the same file"},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			server := startCmd(t, ctx, "serve-model", "--http", "127.0.0.1:0", "--key-file", key)
			url := server.await(t, `model URL:\s+(\S+)`)[1]
			args := append([]string{"up", "--model-server", url, "--model-key-file", c.key, "--local-workers", "0"}, upArgs...)
			up := startCmd(t, ctx, append(args, c.extra...)...)
			up.await(t, `model:`)
			deadline := time.Now().Add(10 * time.Second)
			for !strings.Contains(up.stderr.String(), c.want) && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
			if s := up.stderr.String(); !strings.Contains(s, "does not serve this coordinator's model") || !strings.Contains(s, c.want) {
				t.Errorf("no warning saying %q:\n%s", c.want, s)
			}
			stopCmds(t, cancel, server, up)
		})
	}
}

// completeText asks for req's completion, retrying while the cluster is not
// ready, and returns its text.
func completeText(t *testing.T, base string, req e2e.Request) string {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"prompt": req.Prompt, "max_tokens": req.MaxTokens, "temperature": req.Temperature, "top_p": req.TopP})
	client := &http.Client{Timeout: 60 * time.Second}
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := client.Post(base+"/v1/completions", "application/json", bytes.NewReader(body))
		if err == nil {
			var got struct {
				Choices []struct{ Text string }
				Error   *struct{ Message string }
			}
			err = json.NewDecoder(resp.Body).Decode(&got)
			resp.Body.Close()
			if err == nil && resp.StatusCode == 200 && len(got.Choices) == 1 {
				return got.Choices[0].Text
			}
			if err == nil && got.Error != nil {
				err = fmt.Errorf("%s: %s", resp.Status, got.Error.Message)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("completion: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
