package main

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/tabshard/tabshard/model/gguf"
	tabshardv1 "github.com/tabshard/tabshard/proto/tabshard/v1"
)

// measureConfig is what `tabshard measure` runs.
type measureConfig struct {
	coordinator  string
	promptTokens int
	tokens       int
	runs         int
	bandwidth    float64 // bytes/s of a plain read, for the bound; 0: none
	wait         time.Duration
	seed         uint64
}

func runMeasure(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("measure", flag.ContinueOnError)
	c := measureConfig{}
	fs.StringVar(&c.coordinator, "coordinator", "http://127.0.0.1:8080", "the coordinator's HTTP address")
	fs.IntVar(&c.promptTokens, "prompt-tokens", 0, "tokens of each run's prompt (random ids); 0: 512, or a quarter of the model's context if that is less")
	fs.IntVar(&c.tokens, "tokens", 0, "tokens each run generates (greedy, past end-of-text); 0: 128, or what fits the model's context after the prompt")
	fs.IntVar(&c.runs, "runs", 3, "runs; medians are reported")
	gbs := fs.Float64("read-bandwidth", 0, "the device's plain read bandwidth in GB/s (e.g. from make bench-gpu), for the decode bound; 0: no bound")
	fs.DurationVar(&c.wait, "wait", 15*time.Minute, "how long to wait for the cluster to answer a first request (workers loading), and for each run")
	fs.Uint64Var(&c.seed, "seed", 1, "seed of the prompts' token ids")
	streams := fs.Int("streams", 0, "run this many greedy completions at once and report the aggregate decode rate (measure_streams.go); 0: one at a time, with the per-stage breakdown")
	rest, err := parseFlags(fs, e, args)
	if err != nil {
		return err
	}
	switch {
	case len(rest) > 0:
		return usageErr("unexpected argument %q", rest[0])
	case c.promptTokens < 0 || c.tokens < 0 || c.tokens == 1 || c.runs < 1:
		return usageErr("want --prompt-tokens >= 1, --tokens >= 2, --runs >= 1 (0: fit the model)")
	case *streams < 0 || *streams > maxStreams:
		return usageErr("want --streams from 0 to %d", maxStreams)
	}
	c.bandwidth = *gbs * 1e9
	c.coordinator = strings.TrimRight(c.coordinator, "/")
	if *streams > 0 {
		r, err := measureStreams(ctx, c, *streams, e.stderr)
		if err != nil {
			return err
		}
		r.print(e.stdout)
		return nil
	}
	r, err := measure(ctx, c, e.stderr)
	if err != nil {
		return err
	}
	r.print(e.stdout)
	return nil
}

// measureReport is what one `tabshard measure` found.
type measureReport struct {
	Model         string    `json:"model"`
	Stages        int       `json:"stages"`
	PromptTokens  int       `json:"prompt_tokens"`
	Tokens        int       `json:"tokens"`
	Runs          int       `json:"runs"`
	TTFTms        []float64 `json:"ttft_ms"`
	DecodeTPS     []float64 `json:"decode_tokens_per_second"`
	BytesPerToken float64   `json:"bytes_per_token"`
	Bandwidth     float64   `json:"read_bandwidth_bytes_per_second,omitempty"`
	// StageMs is each stage's mean compute time per decoded token; StepMs
	// the whole step (issue to commit); the rest of a step is hops.
	StageMs []float64 `json:"stage_ms"`
	StepMs  float64   `json:"step_ms"`
	// StageHostMs is each stage's mean time per token outside its compute
	// (queueing, decoding, encoding).
	StageHostMs []float64 `json:"stage_host_ms"`
	// Loop is the median of each part of closing the loop, in ms.
	Loop loopTimes `json:"loop_ms"`
	// Plan is the committed plan, one line per stage.
	Plan []string `json:"plan"`
}

func measure(ctx context.Context, c measureConfig, progress io.Writer) (*measureReport, error) {
	cl := &http.Client{}
	var models struct {
		Data []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	deadline := time.Now().Add(c.wait)
	for { // the coordinator may be starting
		err := getJSON(ctx, cl, c.coordinator+"/v1/models", &models)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
	if len(models.Data) != 1 {
		return nil, fmt.Errorf("%s serves %d models, want 1", c.coordinator, len(models.Data))
	}
	r := &measureReport{Model: models.Data[0].ID, PromptTokens: c.promptTokens, Tokens: c.tokens, Runs: c.runs, Bandwidth: c.bandwidth}
	f, err := remoteHeader(ctx, cl, c.coordinator+"/model/"+r.Model)
	if err != nil {
		return nil, err
	}
	toks, err := f.Strings("tokenizer.ggml.tokens")
	if err != nil || len(toks) < 4 {
		return nil, fmt.Errorf("the served model has no usable vocabulary: %v", err)
	}
	vocab := len(toks)
	if err := r.fitContext(f); err != nil {
		return nil, err
	}
	fmt.Fprintf(progress, "measure: %s; waiting for the cluster to answer (up to %v)\n", r.Model, c.wait)
	if err := warmUp(ctx, cl, c.coordinator, deadline); err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(c.seed, 0))
	var before, after map[string]float64
	for run := range c.runs {
		prompt := make([]int, r.PromptTokens)
		for i := range prompt {
			prompt[i] = 3 + rng.IntN(vocab-3)
		}
		type scrape struct {
			m   map[string]float64
			err error
		}
		snap := make(chan scrape, 1)
		rctx, cancel := context.WithTimeout(ctx, c.wait)
		times, err := completeTimed(rctx, cl, c.coordinator, prompt, r.Tokens, func() { // first token: decode starts
			m, err := scrapeMetrics(ctx, cl, c.coordinator+"/metrics")
			snap <- scrape{m, err}
		})
		cancel()
		if err != nil {
			return nil, fmt.Errorf("run %d: %w", run+1, err)
		}
		first, last := times[0], times[len(times)-1]
		if last <= first {
			return nil, fmt.Errorf("run %d: all %d tokens arrived at once; measure more tokens", run+1, len(times))
		}
		r.TTFTms = append(r.TTFTms, ms(first))
		r.DecodeTPS = append(r.DecodeTPS, float64(len(times)-1)/(last-first).Seconds())
		sc := <-snap
		if run == c.runs-1 {
			if sc.err != nil {
				return nil, fmt.Errorf("metrics as decoding began: %w", sc.err)
			}
			before = sc.m
			if after, err = scrapeMetrics(ctx, cl, c.coordinator+"/metrics"); err != nil {
				return nil, err
			}
		}
		fmt.Fprintf(progress, "measure: run %d: first token after %.0f ms, then %.2f tokens/s\n", run+1, ms(first), r.DecodeTPS[run])
	}
	r.perStage(before, after)
	if r.Plan, err = planSummary(ctx, cl, c.coordinator); err != nil {
		return nil, err
	}
	r.BytesPerToken = bytesPerToken(f, r.PromptTokens+r.Tokens/2)
	return r, nil
}

// perStage fills the per-token stage and step times from two scrapes of
// the coordinator's histograms, taken around the last run's decoding.
func (r *measureReport) perStage(before, after map[string]float64) {
	mean := func(stage string) float64 {
		k := `tabshard_stage_latency_seconds_%s{stage="` + stage + `"}`
		n := after[fmt.Sprintf(k, "count")] - before[fmt.Sprintf(k, "count")]
		if n <= 0 {
			return 0
		}
		return 1000 * (after[fmt.Sprintf(k, "sum")] - before[fmt.Sprintf(k, "sum")]) / n
	}
	for i := 0; ; i++ {
		if _, ok := after[`tabshard_stage_latency_seconds_count{stage="`+strconv.Itoa(i)+`"}`]; !ok {
			break
		}
		r.StageMs = append(r.StageMs, mean(strconv.Itoa(i)))
	}
	r.Stages = len(r.StageMs)
	r.StepMs = mean("step")
	for i := range r.StageMs {
		k := `tabshard_stage_host_seconds_%s{stage="` + strconv.Itoa(i) + `"}`
		if n := after[fmt.Sprintf(k, "count")] - before[fmt.Sprintf(k, "count")]; n > 0 {
			r.StageHostMs = append(r.StageHostMs, 1000*(after[fmt.Sprintf(k, "sum")]-before[fmt.Sprintf(k, "sum")])/n)
		}
	}
	p50 := func(name, labels string) float64 { return 1000 * histogramQuantile(before, after, name, labels, 0.5) }
	r.Loop = loopTimes{
		Overhead:   p50("tabshard_step_overhead_seconds", ""),
		RaftCommit: p50("tabshard_raft_apply_seconds", `command="append_token"`),
		RaftBatch:  p50("tabshard_raft_apply_seconds", `command="append_tokens"`),
		Commit:     p50("tabshard_token_issue_seconds", `phase="commit"`),
		Issue:      p50("tabshard_token_issue_seconds", `phase="issue"`),
		Publish:    p50("tabshard_log_publish_seconds", `by="leader"`),
	}
	if r.Stages > 0 {
		r.Loop.PerHop = r.Loop.Overhead / float64(r.hops())
	}
}

// hops is how many messages a decode step takes: one into each stage, the
// first stage's from the last (the coordinator, when it issues each step,
// adds the token's way to it).
func (r *measureReport) hops() int {
	if r.Loop.Issue > 0 {
		return r.Stages + 1
	}
	return r.Stages
}

// loopTimes are the medians, in ms, of a decode step's parts outside
// compute, from the coordinator's histograms.
type loopTimes struct {
	// Overhead is a step's time less its stages' compute; PerHop is that
	// over the step's hops (stages + 1: the token's way back).
	Overhead float64 `json:"step_overhead"`
	PerHop   float64 `json:"per_hop"`
	// RaftCommit is an AppendToken's time through Raft; Commit the
	// leader's time from a token's receipt to its commit; Issue to the
	// next step's publication; Publish that publication's wait for the
	// activation log's acknowledgement.
	RaftCommit float64 `json:"raft_commit"`
	RaftBatch  float64 `json:"raft_commit_batch"`
	Commit     float64 `json:"token_to_commit"`
	Issue      float64 `json:"token_to_issue"`
	Publish    float64 `json:"issue_publish_ack"`
}

// histogramQuantile estimates quantile q of the observations a Prometheus
// histogram (name, with the label pairs labels, e.g. `phase="commit"`)
// gained between two scrapes, interpolating linearly within the bucket
// that holds it, as Prometheus's histogram_quantile does; 0 when nothing
// was observed.
func histogramQuantile(before, after map[string]float64, name, labels string, q float64) float64 {
	prefix := name + "_bucket{"
	if labels != "" {
		prefix += labels + ","
	}
	type bucket struct{ le, n float64 }
	var bs []bucket
	for k, v := range after {
		rest, ok := strings.CutPrefix(k, prefix)
		if !ok || !strings.HasPrefix(rest, `le="`) {
			continue
		}
		le, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimPrefix(rest, `le="`), `"}`), 64)
		if err != nil {
			continue
		}
		bs = append(bs, bucket{le, v - before[k]})
	}
	slices.SortFunc(bs, func(a, b bucket) int { return cmp.Compare(a.le, b.le) })
	if len(bs) == 0 || bs[len(bs)-1].n <= 0 {
		return 0
	}
	rank := q * bs[len(bs)-1].n
	lower, below := 0.0, 0.0
	for _, b := range bs {
		if b.n >= rank {
			if math.IsInf(b.le, 1) {
				return lower
			}
			if b.n == below {
				return b.le
			}
			return lower + (b.le-lower)*(rank-below)/(b.n-below)
		}
		lower, below = b.le, b.n
	}
	return lower
}

// Defaults of measure's prompt and generation lengths, where the model's
// context allows them.
const (
	defaultPromptTokens = 512
	defaultTokens       = 128
)

// fitContext sets the prompt and generation lengths left at 0 to defaults
// that fit the model's context, and refuses lengths that do not fit.
func (r *measureReport) fitContext(f *gguf.File) error {
	arch, _ := f.String("general.architecture")
	ctxLen, err := f.Uint(arch + ".context_length")
	if err != nil || ctxLen < 4 {
		ctxLen = defaultPromptTokens + defaultTokens + 1
	}
	n := int(ctxLen)
	if r.PromptTokens == 0 {
		r.PromptTokens = min(defaultPromptTokens, n/4)
	}
	if r.Tokens == 0 {
		r.Tokens = max(2, min(defaultTokens, n-r.PromptTokens-1))
	}
	if r.PromptTokens+r.Tokens >= n {
		return fmt.Errorf("%w: a %d-token prompt and %d tokens do not fit the model's context of %d; lower --prompt-tokens or --tokens",
			errUsage, r.PromptTokens, r.Tokens, n)
	}
	return nil
}

func (r *measureReport) print(w io.Writer) {
	ttft, tps := median(r.TTFTms), median(r.DecodeTPS)
	fmt.Fprintf(w, "model %s, %d stages; %d-token prompts, %d tokens each, %d runs (medians)\n", r.Model, r.Stages, r.PromptTokens, r.Tokens, r.Runs)
	fmt.Fprintf(w, "time to first token   %.0f ms\n", ttft)
	fmt.Fprintf(w, "decode                %.2f tokens/s (%.2f ms/token)\n", tps, 1000/tps)
	fmt.Fprintf(w, "bytes read per token  %s (weights, one embedding row, KV at the mean position)\n", decimalSize(r.BytesPerToken))
	if r.Bandwidth > 0 {
		bound := r.Bandwidth / r.BytesPerToken
		fmt.Fprintf(w, "bound                 %.1f tokens/s at %s/s: %.0f %% reached\n", bound, decimalSize(r.Bandwidth), 100*tps/bound)
	}
	if r.StepMs > 0 {
		var compute float64
		for i, s := range r.StageMs {
			fmt.Fprintf(w, "stage %d compute       %.3f ms/token (%.1f %% of a step)\n", i, s, 100*s/r.StepMs)
			compute += s
		}
		fmt.Fprintf(w, "hops and coordinator  %.3f ms/token (%.1f %% of a step of %.3f ms; %.3f ms per hop over %d hops)\n",
			r.StepMs-compute, 100*(r.StepMs-compute)/r.StepMs, r.StepMs, (r.StepMs-compute)/float64(r.hops()), r.hops())
		for i, h := range r.StageHostMs {
			fmt.Fprintf(w, "stage %d host          %.3f ms/token outside compute (queueing, decoding, encoding)\n", i, h)
		}
		lp := r.Loop
		fmt.Fprintf(w, "pipeline overhead p50 %.3f ms/token (step less compute), %.3f ms per hop\n", lp.Overhead, lp.PerHop)
		raft := lp.RaftCommit
		if raft == 0 {
			raft = lp.RaftBatch
		}
		if lp.Issue > 0 {
			fmt.Fprintf(w, "leader p50            token to commit %.3f ms (Raft %.3f ms), to next step published %.3f ms (log ack %.3f ms)\n",
				lp.Commit, raft, lp.Issue, lp.Publish)
		} else {
			fmt.Fprintf(w, "leader p50            token to commit %.3f ms (Raft %.3f ms), behind the pipeline: the last stage sends each next step\n", lp.Commit, raft)
		}
	}
	for _, l := range r.Plan {
		fmt.Fprintf(w, "plan: %s\n", l)
	}
	b, _ := json.Marshal(r)
	fmt.Fprintf(w, "json %s\n", b)
}

// bytesPerToken is what one decoded token reads: every tensor but the
// token embedding, one row of that (all of it when the head reuses it),
// and an f32 KV cache of pos positions.
func bytesPerToken(f *gguf.File, pos int) float64 {
	_, untied := f.Tensor("output.weight")
	var n float64
	for _, t := range f.Tensors {
		if t.Name == "token_embd.weight" && untied {
			n += float64(t.RowBytes())
			continue
		}
		n += float64(t.Size)
	}
	arch, _ := f.String("general.architecture")
	layers, _ := f.Uint(arch + ".block_count")
	heads, _ := f.Uint(arch + ".attention.head_count")
	kvHeads, err := f.Uint(arch + ".attention.head_count_kv")
	if err != nil {
		kvHeads = heads
	}
	headDim, err := f.Uint(arch + ".attention.key_length")
	if dim, _ := f.Uint(arch + ".embedding_length"); err != nil && heads > 0 {
		headDim = dim / heads
	}
	n += float64(2*layers*kvHeads*headDim*4) * float64(pos)
	return n
}

// planSummary describes the committed plan's stages: blocks, worker,
// bytes.
func planSummary(ctx context.Context, cl *http.Client, base string) ([]string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/state", nil)
	if err != nil {
		return nil, err
	}
	resp, err := cl.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	st := &tabshardv1.ClusterState{}
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(b, st); err != nil {
		return nil, fmt.Errorf("/api/state: %w", err)
	}
	names := map[string]string{}
	for _, m := range st.GetMembers() {
		names[m.GetWorkerId()] = m.GetName()
	}
	var out []string
	for _, s := range st.GetPlan().GetStages() {
		extra := ""
		if s.GetEmbedding() {
			extra += " + embedding"
		}
		if s.GetOutputHead() {
			extra += " + output head"
		}
		out = append(out, fmt.Sprintf("stage %d: blocks [%d,%d)%s on %s (%s), %s of weights", s.GetIndex(), s.GetLayerBegin(), s.GetLayerEnd(),
			extra, s.GetDeviceId(), names[s.GetDeviceId()], decimalSize(float64(s.GetWeightBytes()))))
	}
	return out, nil
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

// completionBody is the request measure sends: greedy, past end-of-text.
func completionBody(prompt []int, tokens int, stream bool) []byte {
	b, _ := json.Marshal(map[string]any{"prompt": prompt, "max_tokens": tokens, "temperature": 0, "ignore_eos": true, "stream": stream})
	return b
}

// complete runs a completion and returns its text.
func complete(ctx context.Context, cl *http.Client, base string, prompt []int, tokens int) (string, error) {
	resp, err := post(ctx, cl, base+"/v1/completions", completionBody(prompt, tokens, false))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var out struct {
		Choices []struct {
			Text string `json:"text"`
		} `json:"choices"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || len(out.Choices) != 1 {
		return "", fmt.Errorf("completion answer: %v", err)
	}
	return out.Choices[0].Text, nil
}

// completeTimed streams a completion and returns when each token arrived,
// from the request's start; onFirst runs (on its own goroutine) at the
// first.
func completeTimed(ctx context.Context, cl *http.Client, base string, prompt []int, tokens int, onFirst func()) ([]time.Duration, error) {
	start := time.Now()
	resp, err := post(ctx, cl, base+"/v1/completions", completionBody(prompt, tokens, true))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var times []time.Duration
	seen := map[string]bool{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var id string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "id: "):
			id = strings.TrimPrefix(line, "id: ")
		case strings.HasPrefix(line, "data: {"):
			if strings.Contains(line, `"error"`) {
				return nil, fmt.Errorf("stream: %s", strings.TrimPrefix(line, "data: "))
			}
			if !seen[id] && strings.Contains(line, `"finish_reason":null`) { // a token, not the end
				seen[id] = true
				times = append(times, time.Since(start))
				if len(times) == 1 {
					go onFirst()
				}
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(times) != tokens {
		return nil, fmt.Errorf("stream ended after %d tokens of %d", len(times), tokens)
	}
	return times, nil
}

func post(ctx context.Context, cl *http.Client, url string, body []byte) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := cl.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		return nil, fmt.Errorf("POST %s: %s: %s", url, resp.Status, bytes.TrimSpace(msg))
	}
	return resp, nil
}

func getJSON(ctx context.Context, cl *http.Client, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := cl.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// scrapeMetrics reads the counters, gauges and histogram sums and counts
// of a Prometheus text page, keyed by name{labels}.
func scrapeMetrics(ctx context.Context, cl *http.Client, url string) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := cl.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		i := strings.LastIndexByte(line, ' ')
		if strings.HasPrefix(line, "#") || i < 0 {
			continue
		}
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			out[line[:i]] = v
		}
	}
	return out, sc.Err()
}

// remoteHeader reads the GGUF header of the model a coordinator serves,
// with Range requests.
func remoteHeader(ctx context.Context, cl *http.Client, url string) (*gguf.File, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := cl.Do(req)
	if err != nil {
		return nil, err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.ContentLength <= 0 {
		return nil, fmt.Errorf("HEAD %s: %s", url, resp.Status)
	}
	return gguf.Read(&httpRange{ctx: ctx, cl: cl, url: url, size: resp.ContentLength, blocks: map[int64][]byte{}}, resp.ContentLength)
}

// httpRange reads a file in blocks of rangeBlock bytes, one Range request
// each, kept: a header's many small reads cost a few requests.
type httpRange struct {
	ctx    context.Context
	cl     *http.Client
	url    string
	size   int64
	blocks map[int64][]byte
}

const rangeBlock = 1 << 20

func (h *httpRange) ReadAt(p []byte, off int64) (int, error) {
	n := 0
	for n < len(p) {
		at := off + int64(n)
		if at >= h.size {
			return n, io.EOF
		}
		b, ok := h.blocks[at/rangeBlock]
		if !ok {
			b = make([]byte, min(rangeBlock, h.size-at/rangeBlock*rangeBlock))
			if _, err := h.fetch(b, at/rangeBlock*rangeBlock); err != nil {
				return n, err
			}
			h.blocks[at/rangeBlock] = b
		}
		n += copy(p[n:], b[at%rangeBlock:])
	}
	return n, nil
}

func (h *httpRange) fetch(p []byte, off int64) (int, error) {
	req, err := http.NewRequestWithContext(h.ctx, http.MethodGet, h.url, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", off, off+int64(len(p))-1))
	resp, err := h.cl.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusPartialContent {
		return 0, fmt.Errorf("GET %s range %d+%d: %s", h.url, off, len(p), resp.Status)
	}
	n, err := io.ReadFull(resp.Body, p)
	if errors.Is(err, io.ErrUnexpectedEOF) {
		err = io.EOF
	}
	return n, err
}

// warmUp sends a short completion until one succeeds (a leader has a plan
// and the workers have loaded) or deadline passes.
func warmUp(ctx context.Context, cl *http.Client, coordinator string, deadline time.Time) error {
	for {
		wctx, cancel := context.WithDeadline(ctx, deadline)
		_, err := complete(wctx, cl, coordinator, []int{1, 2, 3}, 2)
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("warm-up request: %w", err)
		}
		time.Sleep(time.Second)
	}
}
