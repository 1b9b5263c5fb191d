package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"time"
)

// `tabshard measure --streams N` runs N greedy completions at once, as N
// users would, and reports the aggregate decode rate: what batching
// stages buy (issue 12). The rest of measure's flags mean what they mean
// alone; --streams 1 is the single-stream figure of the same definition.

// streamsReport is what one `tabshard measure --streams N` found.
type streamsReport struct {
	Model        string `json:"model"`
	Streams      int    `json:"streams"`
	PromptTokens int    `json:"prompt_tokens"`
	Tokens       int    `json:"tokens"`
	Runs         int    `json:"runs"`
	// AggregateTPS is, per run, the tokens every stream decoded after its
	// first, over the time from the first first token to the last token.
	AggregateTPS []float64 `json:"aggregate_tokens_per_second"`
	// StreamTPS is the median stream's decode rate, per run.
	StreamTPS []float64 `json:"stream_tokens_per_second"`
	// TTFTms and LastTTFTms are the median and the slowest stream's time
	// to first token, per run.
	TTFTms     []float64 `json:"ttft_ms"`
	LastTTFTms []float64 `json:"last_ttft_ms"`
	// WallMs is, per run, the time until the last stream ended.
	WallMs []float64 `json:"wall_ms"`
}

// streamStats sums up one run: times[i] are stream i's token arrival
// times from the common start.
type streamStats struct {
	aggregate, stream, ttft, lastTTFT, wall float64
}

func summarizeStreams(times [][]time.Duration) (streamStats, error) {
	if len(times) == 0 {
		return streamStats{}, fmt.Errorf("no streams")
	}
	var decoded int
	var firsts, rates []float64
	begin, end := times[0][0], time.Duration(0)
	for i, ts := range times {
		if len(ts) < 2 || ts[len(ts)-1] <= ts[0] {
			return streamStats{}, fmt.Errorf("stream %d: %d tokens, all at once; measure more tokens", i, len(ts))
		}
		first, last := ts[0], ts[len(ts)-1]
		decoded += len(ts) - 1
		begin, end = min(begin, first), max(end, last)
		firsts = append(firsts, ms(first))
		rates = append(rates, float64(len(ts)-1)/(last-first).Seconds())
	}
	return streamStats{
		aggregate: float64(decoded) / (end - begin).Seconds(),
		stream:    median(rates),
		ttft:      median(firsts),
		lastTTFT:  slices.Max(firsts),
		wall:      ms(end),
	}, nil
}

// measureStreams runs c.runs rounds of streams concurrent completions.
func measureStreams(ctx context.Context, c measureConfig, streams int, progress io.Writer) (*streamsReport, error) {
	cl := &http.Client{}
	base, err := measure0(ctx, c, cl, progress)
	if err != nil {
		return nil, err
	}
	r := &streamsReport{Model: base.Model, Streams: streams, PromptTokens: base.PromptTokens, Tokens: base.Tokens, Runs: c.runs}
	rng := rand.New(rand.NewPCG(c.seed, 0))
	for run := range c.runs {
		prompts := make([][]int, streams)
		for i := range prompts {
			prompts[i] = make([]int, r.PromptTokens)
			for j := range prompts[i] {
				prompts[i][j] = 3 + rng.IntN(base.vocab-3)
			}
		}
		times, err := runStreams(ctx, cl, c, prompts, r.Tokens)
		if err != nil {
			return nil, fmt.Errorf("run %d: %w", run+1, err)
		}
		st, err := summarizeStreams(times)
		if err != nil {
			return nil, fmt.Errorf("run %d: %w", run+1, err)
		}
		r.AggregateTPS = append(r.AggregateTPS, st.aggregate)
		r.StreamTPS = append(r.StreamTPS, st.stream)
		r.TTFTms = append(r.TTFTms, st.ttft)
		r.LastTTFTms = append(r.LastTTFTms, st.lastTTFT)
		r.WallMs = append(r.WallMs, st.wall)
		fmt.Fprintf(progress, "measure: run %d: %d streams, %.2f tokens/s in all, %.2f the median stream; first tokens after %.0f ms (median), %.0f (last)\n",
			run+1, streams, st.aggregate, st.stream, st.ttft, st.lastTTFT)
	}
	return r, nil
}

// runStreams starts one streamed completion per prompt at once and
// returns each one's token times from the common start.
func runStreams(ctx context.Context, cl *http.Client, c measureConfig, prompts [][]int, tokens int) ([][]time.Duration, error) {
	rctx, cancel := context.WithTimeout(ctx, c.wait)
	defer cancel()
	start := time.Now()
	times := make([][]time.Duration, len(prompts))
	errs := make([]error, len(prompts))
	var wg sync.WaitGroup
	for i, p := range prompts {
		wg.Go(func() {
			at := time.Since(start) // completeTimed's clock starts at its own request
			ts, err := completeTimed(rctx, cl, c.coordinator, p, tokens, func() {})
			if err != nil {
				errs[i] = fmt.Errorf("stream %d: %w", i, err)
				cancel() // the others would only wait
				return
			}
			for j := range ts {
				ts[j] += at
			}
			times[i] = ts
		})
	}
	wg.Wait()
	var first error
	for _, err := range errs { // the cause, not the others' cancellation
		if err != nil && (first == nil || errors.Is(first, context.Canceled) && !errors.Is(err, context.Canceled)) {
			first = err
		}
	}
	if first != nil {
		return nil, first
	}
	return times, nil
}

// measured0 is what measure's setup found: the model, its vocabulary and
// the lengths fitted to its context.
type measured0 struct {
	Model                string
	vocab                int
	PromptTokens, Tokens int
}

// measure0 waits for the coordinator, reads the served model's header,
// fits the lengths and waits for a first completion (workers loaded), as
// measure does before its runs.
func measure0(ctx context.Context, c measureConfig, cl *http.Client, progress io.Writer) (*measured0, error) {
	var models struct {
		Data []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	deadline := time.Now().Add(c.wait)
	for {
		err := getJSON(ctx, cl, c.coordinator+"/v1/models", &models)
		if err == nil {
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return nil, err
		}
		time.Sleep(500 * time.Millisecond)
	}
	if len(models.Data) != 1 {
		return nil, fmt.Errorf("%s serves %d models, want 1", c.coordinator, len(models.Data))
	}
	f, err := remoteHeader(ctx, cl, c.coordinator+"/model/"+models.Data[0].ID)
	if err != nil {
		return nil, err
	}
	toks, err := f.Strings("tokenizer.ggml.tokens")
	if err != nil || len(toks) < 4 {
		return nil, fmt.Errorf("the served model has no usable vocabulary: %v", err)
	}
	fit := &measureReport{PromptTokens: c.promptTokens, Tokens: c.tokens}
	if err := fit.fitContext(f); err != nil {
		return nil, err
	}
	fmt.Fprintf(progress, "measure: %s; waiting for the cluster to answer (up to %v)\n", models.Data[0].ID, c.wait)
	if err := warmUp(ctx, cl, c.coordinator, deadline); err != nil {
		return nil, err
	}
	return &measured0{Model: models.Data[0].ID, vocab: len(toks), PromptTokens: fit.PromptTokens, Tokens: fit.Tokens}, nil
}

func (r *streamsReport) print(w io.Writer) {
	fmt.Fprintf(w, "model %s; %d concurrent greedy streams, %d-token prompts, %d tokens each, %d runs (medians)\n",
		r.Model, r.Streams, r.PromptTokens, r.Tokens, r.Runs)
	fmt.Fprintf(w, "aggregate decode      %.2f tokens/s\n", median(r.AggregateTPS))
	fmt.Fprintf(w, "per stream            %.2f tokens/s (the median stream)\n", median(r.StreamTPS))
	fmt.Fprintf(w, "time to first token   %.0f ms (median stream), %.0f ms (slowest)\n", median(r.TTFTms), median(r.LastTTFTms))
	fmt.Fprintf(w, "all streams done      %.0f ms\n", median(r.WallMs))
	b, _ := json.Marshal(r)
	fmt.Fprintf(w, "json %s\n", b)
}

// maxStreams bounds --streams (each is a connection and a session).
const maxStreams = 1024
