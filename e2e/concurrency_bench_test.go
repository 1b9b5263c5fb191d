package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tabshard/tabshard/model/quantize"
	"github.com/tabshard/tabshard/model/synth"
)

// BenchmarkConcurrentStreams measures aggregate decode tokens/s of N
// concurrent greedy sessions (TABSHARD_STREAMS, default 1,4,16,32,64) on
// one coordinator and 3 CPU workers over loopback, serving a synthetic
// model of stories110M's shape (F32 weights, seeded random values;
// TABSHARD_BENCH_MODEL names another GGUF file). Each session has an
// 8-token prompt and generates TABSHARD_STREAM_TOKENS (default 32) tokens
// past end-of-text. The cluster admits 64 sessions at once.
// TABSHARD_BENCH_POLICY (a `tabshard quantize` policy such as q8_0)
// quantizes the synthetic model first. TABSHARD_ROUND_WAIT sets the
// workers' --round-wait (a duration; 0: never wait, every group runs as it
// comes).
//
//	go test -run '^$' -bench ConcurrentStreams -benchtime 1x ./e2e/
func BenchmarkConcurrentStreams(b *testing.B) {
	path := os.Getenv("TABSHARD_BENCH_MODEL")
	if path == "" {
		path = filepath.Join(b.TempDir(), "stories110m.gguf")
		if err := synth.Write(path, synth.Stories110M, 1); err != nil {
			b.Fatal(err)
		}
		if name := os.Getenv("TABSHARD_BENCH_POLICY"); name != "" {
			path = quantized(b, path, name)
		}
	}
	streams := []int{1, 4, 16, 32, 64}
	if s := os.Getenv("TABSHARD_STREAMS"); s != "" {
		streams = nil
		for _, f := range strings.Split(s, ",") {
			n, err := strconv.Atoi(f)
			if err != nil || n < 1 {
				b.Fatalf("TABSHARD_STREAMS=%q: want counts like 1,4,16", s)
			}
			streams = append(streams, n)
		}
	}
	tokens := 32
	if s := os.Getenv("TABSHARD_STREAM_TOKENS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			b.Fatalf("TABSHARD_STREAM_TOKENS=%q", s)
		}
		tokens = n
	}
	var roundWait time.Duration
	if s := os.Getenv("TABSHARD_ROUND_WAIT"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			b.Fatalf("TABSHARD_ROUND_WAIT=%q: %v", s, err)
		}
		roundWait = d
		if d <= 0 {
			roundWait = -1
		}
	}
	ctx := context.Background()
	c, err := Start(ctx, Options{Coordinators: 1, Stages: 3, Standbys: 0, ModelPath: path, MaxSessions: 64, Context: 256,
		WorkerMemory: 4 << 30, Lease: 3 * time.Second, Heartbeat: 200 * time.Millisecond, StepTimeout: 10 * time.Second,
		LinkDelay: -1, RoundWait: roundWait}) // throughput, not faults: loopback as it is
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	if err := c.WaitReady(ctx); err != nil {
		b.Fatal(err)
	}
	url := c.URLs()[0]
	if _, err := complete(ctx, url, 0, 4); err != nil { // warm up
		b.Fatal(err)
	}
	var single float64
	metrics0 := scrapeText(ctx, url)
	for _, n := range streams {
		cpu0 := cpuTime()
		waits0, waited0 := roundWaits(c)
		rate, err := concurrentRate(ctx, url, n, tokens)
		if err != nil {
			b.Fatalf("%d streams: %v", n, err)
		}
		cpuPerToken := (cpuTime() - cpu0) / time.Duration(n*tokens)
		b.ReportMetric(float64(cpuPerToken.Microseconds())/1000, fmt.Sprintf("cpu-ms/tok@%d", n))
		if n == 1 {
			single = rate
		}
		b.ReportMetric(rate, fmt.Sprintf("tok/s@%d", n))
		speedup := ""
		if single > 0 {
			speedup = fmt.Sprintf(" (%.1f× one stream)", rate/single)
		}
		metrics := scrapeText(ctx, url)
		waits, waited := roundWaits(c)
		b.Logf("%2d streams × %d tokens: %.1f tokens/s aggregate, %.1f per stream%s; %.1f CPU ms per token (the whole process: coordinator, NATS, 3 workers); stages' mean batch (time) this run: %s; %d round waits, %.0f ms",
			n, tokens, rate, rate/float64(n), speedup, float64(cpuPerToken.Microseconds())/1000, meanBatches(metrics0, metrics), waits-waits0, float64((waited-waited0).Microseconds())/1000)
		metrics0 = metrics
	}
}

// quantized rewrites the model at path with the quantize policy name and
// returns the new file's path.
func quantized(b *testing.B, path, name string) string {
	b.Helper()
	p, err := quantize.Parse(name)
	if err != nil {
		b.Fatalf("TABSHARD_BENCH_POLICY: %v", err)
	}
	out := filepath.Join(b.TempDir(), "stories110m-"+name+".gguf")
	if _, err := quantize.Rewrite(context.Background(), path, out, quantize.Options{Policy: p}); err != nil {
		b.Fatal(err)
	}
	return out
}

// cpuTime is the CPU time this process has used, user and system: on a
// machine others share, CPU per token measures what wall time cannot.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// concurrentRate runs n sessions at once and returns their tokens/s,
// counted from the first request to the last answer.
func concurrentRate(ctx context.Context, url string, n, tokens int) (float64, error) {
	start := time.Now()
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := complete(ctx, url, i, tokens)
			if err == nil && got != tokens {
				err = fmt.Errorf("session %d: %d tokens, want %d", i, got, tokens)
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return 0, err
		}
	}
	return float64(n*tokens) / time.Since(start).Seconds(), nil
}

// complete asks for a greedy completion of an 8-token prompt that differs
// by i and returns how many tokens came.
func complete(ctx context.Context, url string, i, tokens int) (int, error) {
	prompt := make([]int, 8)
	for j := range prompt {
		prompt[j] = 300 + (i*8+j)%30000
	}
	body, _ := json.Marshal(map[string]any{"prompt": prompt, "max_tokens": tokens, "temperature": 0, "ignore_eos": true})
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url+"/v1/completions", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var out struct {
		Usage struct {
			CompletionTokens int `json:"completion_tokens"`
		} `json:"usage"`
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("session %d: %s", i, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return 0, err
	}
	return out.Usage.CompletionTokens, nil
}

// meanBatches reads tabshard_stage_batch_size and
// tabshard_stage_latency_seconds from /metrics: each stage's mean batch
// and mean time of a batch so far, and a step's mean time.
// scrapeText is the coordinator's /metrics text (an error's text if none).
func scrapeText(ctx context.Context, url string) string {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url+"/metrics", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	buf.ReadFrom(resp.Body)
	return buf.String()
}

// roundWaits sums the workers' round waits (agent.Metrics) and their time.
func roundWaits(c *Cluster) (uint64, time.Duration) {
	var n, d uint64
	for _, w := range c.Workers() {
		n += w.Metrics.RoundWaits.Load()
		d += w.Metrics.RoundWaitNanos.Load()
	}
	return n, time.Duration(d)
}

// meanBatches says each stage's mean batch and latency, and the step's,
// between two scrapes of /metrics.
func meanBatches(before, after string) string {
	batch, lat := means(before, after, "tabshard_stage_batch_size"), means(before, after, "tabshard_stage_latency_seconds")
	var out []string
	for i := 0; ; i++ {
		st := strconv.Itoa(i)
		if _, ok := batch[st]; !ok {
			break
		}
		out = append(out, fmt.Sprintf("%.1f (%.1f ms)", batch[st], 1000*lat[st]))
	}
	return strings.Join(out, ", ") + fmt.Sprintf("; step %.1f ms", 1000*lat["step"])
}

// means is the mean of each stage label of histogram name between the
// scrapes before and after.
func means(before, after, name string) map[string]float64 {
	sums0, counts0 := sumsCounts(before, name)
	sums, counts := sumsCounts(after, name)
	out := map[string]float64{}
	for st, c := range counts {
		if c -= counts0[st]; c > 0 {
			out[st] = (sums[st] - sums0[st]) / c
		}
	}
	return out
}

// sumsCounts reads the sum and count of each stage label of histogram name.
func sumsCounts(text, name string) (sums, counts map[string]float64) {
	sums, counts = map[string]float64{}, map[string]float64{}
	for _, line := range strings.Split(text, "\n") {
		for _, kind := range []string{"sum", "count"} {
			if rest, ok := strings.CutPrefix(line, name+"_"+kind+"{stage=\""); ok {
				stage, val, _ := strings.Cut(rest, "\"} ")
				v, _ := strconv.ParseFloat(val, 64)
				if kind == "sum" {
					sums[stage] = v
				} else {
					counts[stage] = v
				}
			}
		}
	}
	return sums, counts
}
