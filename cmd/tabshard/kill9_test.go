package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tabshard/tabshard/e2e"
)

// runMainEnv makes the test binary run as the tabshard command, so that
// tests can start real tabshard processes without building one.
const runMainEnv = "TABSHARD_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		main()
	}
	os.Exit(m.Run())
}

// process is a tabshard process the test started.
type process struct {
	name string
	cmd  *exec.Cmd
	log  string
}

// startProcess runs `tabshard args...` with its output in dir/name.log;
// the test stops it at the end.
func startProcess(t *testing.T, dir, name string, env []string, args ...string) *process {
	t.Helper()
	p := &process{name: name, log: filepath.Join(dir, name+".log")}
	f, err := os.OpenFile(p.log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p.cmd = exec.Command(os.Args[0], args...)
	p.cmd.Env = append(append(os.Environ(), runMainEnv+"=1"), env...)
	p.cmd.Stdout, p.cmd.Stderr = f, f
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.stop)
	return p
}

// kill9 ends the process with SIGKILL: no goodbye, nothing flushed.
func (p *process) kill9() {
	p.cmd.Process.Kill()
	p.cmd.Wait()
}

// stop interrupts the process and waits for it, killing it after 10s.
func (p *process) stop() {
	if p.cmd.ProcessState != nil {
		return
	}
	p.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-done
	}
}

// freePorts picks n free loopback ports.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close() // held until all are picked, so none repeats
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports
}

// killCluster is three `tabshard up` processes whose embedded NATS servers
// form one cluster, and four `tabshard worker` processes.
type killCluster struct {
	dir    string
	env    []string
	args   [3][]string // each coordinator's command line
	coords [3]*process
	urls   [3]string
}

func startKillCluster(t *testing.T) *killCluster {
	t.Helper()
	k := &killCluster{dir: t.TempDir()} // the routes' secret derived from the replicated one
	ports := freePorts(t, 12)
	var peers, routes []string
	for i := range 3 {
		peers = append(peers, fmt.Sprintf("c%d=127.0.0.1:%d", i+1, ports[4*i+2]))
		routes = append(routes, fmt.Sprintf("c%d=127.0.0.1:%d", i+1, ports[4*i+3]))
	}
	for i := range 3 {
		http, nats, raft := ports[4*i], ports[4*i+1], ports[4*i+2]
		k.urls[i] = fmt.Sprintf("http://127.0.0.1:%d", http)
		k.args[i] = []string{"up", "--node-id", fmt.Sprintf("c%d", i+1), "--data-dir", filepath.Join(k.dir, fmt.Sprintf("c%d", i+1)),
			"--local-workers", "0", "--min-workers", "4", "--stages", "3", "--standbys", "1",
			"--http", fmt.Sprintf("127.0.0.1:%d", http), "--nats-port", strconv.Itoa(nats), "--nats-ws-port", "-1",
			"--raft-bind", fmt.Sprintf("127.0.0.1:%d", raft), "--raft-peers", strings.Join(peers, ","),
			"--nats-routes", strings.Join(routes, ","), "--join-token", "kill9-join-token"}
	}
	for i := range 3 {
		k.start(t, i)
	}
	for i := range 3 {
		k.waitHealthy(t, i)
	}
	for i := range 4 {
		startProcess(t, k.dir, fmt.Sprintf("w%d", i+1), nil, "worker", "--coordinator", k.urls[i%3],
			"--join-token", "kill9-join-token", "--name", fmt.Sprintf("p%d", i+1))
	}
	return k
}

func (k *killCluster) start(t *testing.T, i int) {
	k.coords[i] = startProcess(t, k.dir, fmt.Sprintf("c%d", i+1), k.env, k.args[i]...)
}

func (k *killCluster) waitHealthy(t *testing.T, i int) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(k.urls[i] + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	b, _ := os.ReadFile(k.coords[i].log)
	t.Fatalf("c%d not healthy after 60s; its log:\n%s", i+1, b)
}

// sseStream reads a completion's server-sent events.
type sseStream struct {
	sc   *bufio.Scanner
	body io.Closer
	id   int
}

// next returns the next event's id, text and whether it was the final
// chunk; done after [DONE]; an error when the stream broke.
func (s *sseStream) next() (id int, text string, final, done bool, err error) {
	for s.sc.Scan() {
		line := s.sc.Text()
		switch {
		case strings.HasPrefix(line, "id: "):
			if s.id, err = strconv.Atoi(strings.TrimPrefix(line, "id: ")); err != nil {
				return 0, "", false, false, err
			}
		case line == "data: [DONE]":
			return 0, "", false, true, nil
		case strings.HasPrefix(line, "data: "):
			var ch struct {
				Choices []struct {
					Text         string  `json:"text"`
					FinishReason *string `json:"finish_reason"`
				} `json:"choices"`
			}
			if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &ch); err != nil || len(ch.Choices) != 1 {
				return 0, "", false, false, fmt.Errorf("event %d: %q: %v", s.id, line, err)
			}
			return s.id, ch.Choices[0].Text, ch.Choices[0].FinishReason != nil, false, nil
		}
	}
	if err := s.sc.Err(); err != nil {
		return 0, "", false, false, err
	}
	return 0, "", false, false, io.ErrUnexpectedEOF
}

// session is a started completion: its id and the resume token its
// creator reads it again with.
type session struct{ id, token string }

// startCompletion starts a streamed completion at url, retrying while the
// cluster has no plan yet.
func startCompletion(t *testing.T, url string, req e2e.Request) (*sseStream, session) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"prompt": req.Prompt, "max_tokens": req.MaxTokens, "temperature": req.Temperature, "stream": true})
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Post(url+"/v1/completions", "application/json", bytes.NewReader(body))
		if err == nil && resp.StatusCode == http.StatusOK {
			return newSSE(resp), session{resp.Header.Get("X-Tabshard-Session"), resp.Header.Get("X-Tabshard-Resume-Token")}
		}
		if err == nil {
			resp.Body.Close()
			err = fmt.Errorf("%s", resp.Status)
		}
		if time.Now().After(deadline) {
			t.Fatalf("completion at %s: %v", url, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func newSSE(resp *http.Response) *sseStream {
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	return &sseStream{sc: sc, body: resp.Body, id: -1}
}

// resume reopens the session's events after event last at url.
func resume(ctx context.Context, url string, s session, last int) (*sseStream, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url+"/v1/sessions/"+s.id+"/events", nil)
	req.Header.Set("Last-Event-ID", strconv.Itoa(last))
	req.Header.Set("X-Tabshard-Resume-Token", s.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("resume at %s: %s", url, resp.Status)
	}
	return newSSE(resp), nil
}

// TestKill9Coordinator: three real coordinator processes with the
// embedded bus (their NATS servers routed into one cluster, the activation
// log in three copies) and four real worker processes. Each coordinator in
// turn, the first started included, is killed with SIGKILL while a greedy
// completion streams from it; the client resumes at another coordinator
// with Last-Event-ID and the text is llama2.c's. The killed coordinator
// restarts from its data before the next one dies.
func TestKill9Coordinator(t *testing.T) {
	if testing.Short() {
		t.Skip("starts seven processes")
	}
	oracle, err := e2e.LongGreedyOracle(oracleDir)
	if err != nil {
		t.Fatal(err)
	}
	k := startKillCluster(t)
	for victim := range 3 {
		text, last, sess := k.streamAndKill(t, victim, oracle.Request)
		other := (victim + 1) % 3
		killed := time.Now()
		rest, err := k.resumeAt(t, other, sess, last)
		if err != nil {
			t.Fatalf("c%d killed after event %d: %v", victim+1, last, err)
		}
		if got := text + rest; got != oracle.Text {
			t.Errorf("c%d killed after event %d, resumed at c%d: text differs from llama2.c\n got: %q\nwant: %q", victim+1, last, other+1, got, oracle.Text)
		}
		t.Logf("c%d killed (SIGKILL) after event %d; resumed at c%d, finished %v later", victim+1, last, other+1, time.Since(killed).Round(time.Millisecond))
		k.start(t, victim)
		k.waitHealthy(t, victim)
	}
}

// streamAndKill streams req from coordinator victim and kills it after
// the tenth event; it returns the text of the complete events before the
// stream broke, the last one's id and the session.
func (k *killCluster) streamAndKill(t *testing.T, victim int, req e2e.Request) (string, int, session) {
	t.Helper()
	s, sess := startCompletion(t, k.urls[victim], req)
	defer s.body.Close()
	var text strings.Builder
	last := -1
	for {
		id, piece, _, done, err := s.next()
		if done || err != nil {
			if last < 10 {
				t.Fatalf("stream from c%d ended after event %d before the kill: %v", victim+1, last, err)
			}
			return text.String(), last, sess
		}
		text.WriteString(piece)
		last = id
		if id == 10 {
			k.coords[victim].kill9()
		}
	}
}

// resumeAt reads session's events after last at coordinator i (retrying
// while it cannot serve them yet) to the end, and returns their text.
func (k *killCluster) resumeAt(t *testing.T, i int, sess session, last int) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var text strings.Builder
	for ctx.Err() == nil {
		s, err := resume(ctx, k.urls[i], sess, last)
		if err != nil {
			t.Logf("%v; retrying", err)
			time.Sleep(200 * time.Millisecond)
			continue
		}
		for {
			id, piece, _, done, err := s.next()
			if done {
				s.body.Close()
				return text.String(), nil
			}
			if err != nil {
				t.Logf("resumed stream broke after event %d: %v", last, err)
				break
			}
			if id != last+1 {
				s.body.Close()
				return "", fmt.Errorf("event %d after event %d", id, last)
			}
			text.WriteString(piece)
			last = id
		}
		s.body.Close()
	}
	return "", fmt.Errorf("session %s not finished at c%d: %w", sess.id, i+1, ctx.Err())
}
