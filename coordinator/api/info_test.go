package api_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/tabshard/tabshard/coordinator/api"
	tabshardv1 "github.com/tabshard/tabshard/proto/tabshard/v1"
)

func TestModels(t *testing.T) {
	e := newEnv(t)
	var got struct {
		Object string `json:"object"`
		Data   []struct {
			ID            string `json:"id"`
			Object        string `json:"object"`
			Created       int64  `json:"created"`
			OwnedBy       string `json:"owned_by"`
			ContextLength int    `json:"context_length"`
		} `json:"data"`
	}
	readJSON(t, e.do(t, "GET", "/v1/models", ""), 200, &got)
	if got.Object != "list" || len(got.Data) != 1 {
		t.Fatalf("%+v", got)
	}
	m := got.Data[0]
	if m.ID != modelName || m.Object != "model" || m.Created != 1700000000 || m.OwnedBy != "tabshard" || m.ContextLength != 512 {
		t.Errorf("%+v", m)
	}
}

func TestState(t *testing.T) {
	e := newEnv(t)
	var none openAIError
	readJSON(t, e.do(t, "GET", "/api/state", ""), 503, &none)

	e.b.state = &tabshardv1.ClusterState{Epoch: 3, Model: modelName, NextSession: 2,
		Sessions: []*tabshardv1.Session{{Id: "s1", MaxTokens: 8, FinishReason: "stop", CreatedUnixMs: 5}}}
	resp := e.do(t, "GET", "/api/state", "")
	body, _ := io.ReadAll(resp.Body)
	var got map[string]any
	if err := json.Unmarshal(body, &got); err != nil || resp.StatusCode != 200 {
		t.Fatalf("status %d: %v in %s", resp.StatusCode, err, body)
	}
	for _, key := range []string{`"next_session"`, `"created_unix_ms"`, `"finish_reason"`, `"max_tokens"`, `"next_worker"`} {
		if !strings.Contains(string(body), key) {
			t.Errorf("state lacks %s: %s", key, body)
		}
	}
	if strings.Contains(string(body), "nextSession") || got["epoch"] != "3" || got["model"] != modelName {
		t.Errorf("state is not protojson with proto names: %s", body)
	}
}

func TestHealth(t *testing.T) {
	e := newEnv(t)
	resp := e.do(t, "GET", "/healthz", "")
	if body, _ := io.ReadAll(resp.Body); resp.StatusCode != 200 || string(body) != "ok\n" {
		t.Errorf("healthy: %d %q", resp.StatusCode, body)
	}
	e.b.health = fmt.Errorf("no raft leader")
	resp = e.do(t, "GET", "/healthz", "")
	if body, _ := io.ReadAll(resp.Body); resp.StatusCode != 503 || !strings.Contains(string(body), "no raft leader") {
		t.Errorf("unhealthy: %d %q", resp.StatusCode, body)
	}
}

func TestJoin(t *testing.T) {
	var notConfigured openAIError
	readJSON(t, newEnv(t).do(t, "GET", "/api/join", ""), 404, &notConfigured)

	e := newEnv(t, func(o *api.Options) {
		o.JoinInfo = func(*http.Request) api.JoinInfo {
			return api.JoinInfo{NATSURL: "nats://0.0.0.0:4222", NATSWSURL: "ws://:8222", Cluster: "c1",
				NATSURLs:   []string{"nats://0.0.0.0:4222", "nats://10.0.0.2:4222"},
				NATSWSURLs: []string{"ws://:8222", "ws://10.0.0.2:8222"}}
		}
	})
	var got api.JoinInfo
	readJSON(t, e.do(t, "GET", "/api/join", ""), 200, &got)
	host := strings.TrimPrefix(e.srv.URL, "http://")
	ip := host[:strings.LastIndexByte(host, ':')]
	want := api.JoinInfo{NATSURL: "nats://" + ip + ":4222", NATSWSURL: "ws://" + ip + ":8222", Cluster: "c1",
		NATSURLs:   []string{"nats://" + ip + ":4222", "nats://10.0.0.2:4222"},
		NATSWSURLs: []string{"ws://" + ip + ":8222", "ws://10.0.0.2:8222"},
		ModelURL:   e.srv.URL + "/model/" + modelName}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("join info %+v, want %+v", got, want)
	}

	e = newEnv(t, func(o *api.Options) {
		o.JoinInfo = func(*http.Request) api.JoinInfo {
			return api.JoinInfo{NATSURL: "nats://nats.example:4222", ModelURL: "http://cdn.example/m.gguf"}
		}
	})
	readJSON(t, e.do(t, "GET", "/api/join", ""), 200, &got)
	if got.NATSURL != "nats://nats.example:4222" || got.ModelURL != "http://cdn.example/m.gguf" {
		t.Errorf("named hosts changed: %+v", got)
	}
}

func TestModelFile(t *testing.T) {
	e := newEnv(t)
	file := e.b.file
	size := len(file)
	cases := []struct {
		name, rng string
		status    int
		want      string
		contRange string
	}{
		{"whole", "", 200, string(file), ""},
		{"first bytes", "bytes=0-3", 206, "GGUF", fmt.Sprintf("bytes 0-3/%d", size)},
		{"middle", "bytes=1000-1099", 206, string(file[1000:1100]), fmt.Sprintf("bytes 1000-1099/%d", size)},
		{"suffix", "bytes=-16", 206, string(file[size-16:]), fmt.Sprintf("bytes %d-%d/%d", size-16, size-1, size)},
		{"open end", fmt.Sprintf("bytes=%d-", size-5), 206, string(file[size-5:]), fmt.Sprintf("bytes %d-%d/%d", size-5, size-1, size)},
		{"past end", fmt.Sprintf("bytes=%d-", size), 416, "", fmt.Sprintf("bytes */%d", size)},
		{"garbage", "bytes=x-y", 416, "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var headers []string
			if c.rng != "" {
				headers = append(headers, "Range: "+c.rng)
			}
			resp := e.do(t, "GET", "/model/"+modelName, "", headers...)
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != c.status || resp.Header.Get("Content-Range") != c.contRange {
				t.Fatalf("status %d Content-Range %q, want %d %q", resp.StatusCode, resp.Header.Get("Content-Range"), c.status, c.contRange)
			}
			if c.status != 416 && string(body) != c.want {
				t.Errorf("body of %d bytes, want %d", len(body), len(c.want))
			}
			if c.status == 200 && resp.Header.Get("Accept-Ranges") != "bytes" {
				t.Error("no Accept-Ranges: bytes")
			}
		})
	}
	t.Run("multiple ranges", func(t *testing.T) { checkMultiRange(t, e, file) })
	t.Run("head", func(t *testing.T) {
		resp := e.do(t, "HEAD", "/model/"+modelName, "")
		if resp.StatusCode != 200 || resp.ContentLength != int64(size) || resp.Header.Get("Last-Modified") == "" {
			t.Errorf("HEAD: %d, length %d, headers %v", resp.StatusCode, resp.ContentLength, resp.Header)
		}
	})
	t.Run("unknown model", func(t *testing.T) {
		var got openAIError
		readJSON(t, e.do(t, "GET", "/model/llama-9000", ""), 404, &got)
		if got.code() != "model_not_found" {
			t.Errorf("%+v", got.Error)
		}
	})
}

// checkMultiRange asks for two ranges and reads the multipart answer.
func checkMultiRange(t *testing.T, e *env, file []byte) {
	resp := e.do(t, "GET", "/model/"+modelName, "", "Range: bytes=0-3,100-109")
	mediaType, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if resp.StatusCode != 206 || err != nil || mediaType != "multipart/byteranges" {
		t.Fatalf("status %d, Content-Type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	mr := multipart.NewReader(resp.Body, params["boundary"])
	for _, want := range [][]byte{file[0:4], file[100:110]} {
		p, err := mr.NextPart()
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(p)
		if string(got) != string(want) {
			t.Errorf("part %q: %x, want %x", p.Header.Get("Content-Range"), got, want)
		}
	}
}

func TestMetrics(t *testing.T) {
	e := newEnv(t)
	e.metrics.Tokens.Add(7)
	e.metrics.StageLatency.WithLabelValues("0").Observe(0.002)
	e.metrics.HopLatency.WithLabelValues("1").Observe(0.001)
	e.metrics.RejectedMessages.WithLabelValues("stale_epoch").Inc()
	e.metrics.SetRaftStatus(func() api.RaftStatus { return api.RaftStatus{State: 2, Term: 5, CommitIndex: 99} })
	e.do(t, "GET", "/v1/models", "")
	e.do(t, "GET", "/nowhere", "")

	resp := e.do(t, "GET", "/metrics", "")
	body, _ := io.ReadAll(resp.Body)
	for _, name := range []string{"tabshard_tokens_total 7", "tabshard_tokens_per_second", "tabshard_stage_latency_seconds_bucket{stage=\"0\"",
		"tabshard_hop_latency_seconds_count{stage=\"1\"} 1", "tabshard_failovers_total", "tabshard_rejected_messages_total{reason=\"stale_epoch\"} 1",
		"tabshard_raft_state 2", "tabshard_raft_term 5", "tabshard_raft_commit_index 99", "tabshard_sessions_active",
		`tabshard_http_requests_total{code="200",route="/v1/models"} 1`, `tabshard_http_requests_total{code="404",route="other"} 1`,
		"tabshard_http_streams_active", "go_goroutines"} {
		if !strings.Contains(string(body), name) {
			t.Errorf("/metrics lacks %q", name)
		}
	}
	if !strings.Contains(e.logs.String(), "route=/v1/models status=200") {
		t.Errorf("no access log line at Debug:\n%s", e.logs.String())
	}
}

// metricValue scrapes /metrics for the value of an unlabelled metric.
func metricValue(t *testing.T, e *env, name string) string {
	t.Helper()
	resp, err := e.srv.Client().Get(e.srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			return v
		}
	}
	return ""
}
