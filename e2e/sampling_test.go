package e2e

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tabshard/tabshard/coordinator/state"
	"github.com/tabshard/tabshard/model/bundled"
	tabshardv1 "github.com/tabshard/tabshard/proto/tabshard/v1"
	"github.com/tabshard/tabshard/worker"
)

// penalised is a sampled request with every penalty and a bias: what the
// last stage draws depends on the recent tokens the leader sends with
// each step.
func penalised(name string, extra map[string]any) Request {
	return Request{Name: name, Prompt: "Once upon a time", MaxTokens: 60, Temperature: 0.8, TopP: 0.95, Seed: 5, Extra: extra}
}

var penalties = map[string]any{"repetition_penalty": 1.3, "presence_penalty": 0.5, "frequency_penalty": 0.3, "logit_bias": map[string]float64{"13": -100}}

// TestPenaltiesSurviveFailover: the penalties' window travels with each
// step, so a standby that takes the last stage over mid-generation draws
// what the first primary would have: the text equals a fault-free run's.
func TestPenaltiesSurviveFailover(t *testing.T) {
	calm, err := Run(context.Background(), Scenario{Options: Options{Seed: 41},
		Requests: []Request{penalised("penalised", penalties), penalised("plain", nil)}})
	if err != nil {
		t.Fatal(err)
	}
	faulty, err := Run(context.Background(), Scenario{Options: Options{Seed: 42},
		Requests: []Request{penalised("penalised", penalties)}, Faults: faults(t, "kill:stage=last@token=20")})
	if err != nil {
		t.Fatal(err)
	}
	want, got, plain := calm.Results[0], faulty.Results[0], calm.Results[1]
	if got.Text != want.Text || len(want.Violations)+len(got.Violations) > 0 {
		t.Fatalf("text after a failover of the last stage differs:\n got: %q\nwant: %q (violations %v %v)", got.Text, want.Text, got.Violations, want.Violations)
	}
	if faulty.Faults[0].Err != nil || faulty.Faults[0].Recovery == 0 {
		t.Fatalf("fault %+v", faulty.Faults[0])
	}
	if want.Text == plain.Text {
		t.Fatalf("penalties changed nothing: %q", want.Text)
	}
	for _, id := range state.Session(calm.Final, want.Session).GetGenerated() {
		if id == 13 {
			t.Fatalf("token 13, biased by -100, was generated")
		}
	}
}

// TestStopAndLogprobsThroughCluster: a stop string ends the session at
// the leader (finish_reason stop, fewer tokens than max_tokens) and the
// text before it is llama2.c's; logprobs are the log-softmax of the
// reference CPU logits.
func TestStopAndLogprobsThroughCluster(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := Start(ctx, Options{Coordinators: 1, Stages: 2, Seed: 43})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	oracle, err := GreedyOracle(oracleDir)
	if err != nil {
		t.Fatal(err)
	}
	// A stop string from the middle of llama2.c's text.
	cut := len(oracle.Text) / 2
	stop := oracle.Text[cut : cut+6]
	var whole struct {
		ID      string
		Choices []struct {
			Text         string `json:"text"`
			FinishReason string `json:"finish_reason"`
			Logprobs     struct {
				Tokens        []string             `json:"tokens"`
				TokenLogprobs []float64            `json:"token_logprobs"`
				TopLogprobs   []map[string]float64 `json:"top_logprobs"`
			} `json:"logprobs"`
		} `json:"choices"`
		Usage struct {
			CompletionTokens int `json:"completion_tokens"`
		} `json:"usage"`
	}
	body, _ := json.Marshal(map[string]any{"prompt": "Once upon a time", "max_tokens": len(oracle.IDs), "temperature": 0, "stop": stop, "logprobs": 3})
	resp, err := http.Post(c.URLs()[0]+"/v1/completions", "application/json", strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&whole); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %v", resp.StatusCode, err)
	}
	ch := whole.Choices[0]
	if want := oracle.Text[:strings.Index(oracle.Text, stop)]; ch.Text != want || ch.FinishReason != "stop" {
		t.Fatalf("text %q finish %q, want %q stop", ch.Text, ch.FinishReason, want)
	}
	// The API answers as the stop string completes; the leader ends the
	// session on the same token.
	var s *tabshardv1.Session
	for s = state.Session(c.State(), strings.TrimPrefix(whole.ID, "cmpl-")); s.GetState() == tabshardv1.SessionState_SESSION_STATE_ACTIVE && ctx.Err() == nil; {
		time.Sleep(10 * time.Millisecond)
		s = state.Session(c.State(), strings.TrimPrefix(whole.ID, "cmpl-"))
	}
	if s.GetFinishReason() != "stop" || len(s.GetGenerated()) != whole.Usage.CompletionTokens || len(s.GetGenerated()) >= len(oracle.IDs) {
		t.Fatalf("session %s ended %q after %d tokens (usage %d, max %d)", s.GetId(), s.GetFinishReason(), len(s.GetGenerated()), whole.Usage.CompletionTokens, len(oracle.IDs))
	}
	checkLogprobs(t, s, ch.Logprobs.TokenLogprobs)
}

// checkLogprobs holds the logprobs the API reported for s to the
// log-softmax of the unsharded CPU logits at each generated token.
func checkLogprobs(t *testing.T, s *tabshardv1.Session, got []float64) {
	t.Helper()
	m, err := bundled.Open()
	if err != nil {
		t.Fatal(err)
	}
	prompt := make([]int, len(s.GetPrompt()))
	for i, id := range s.GetPrompt() {
		prompt[i] = int(id)
	}
	gen := s.GetGenerated()
	steps := len(prompt) + len(gen) - 1
	p, err := worker.Load(m, steps)
	if err != nil {
		t.Fatal(err)
	}
	var want []float64
	err = worker.Generate(context.Background(), p, worker.GenerateConfig{Prompt: prompt, Steps: steps, Sampler: worker.NewSampler(0, 0, 1), BOS: -1, AllLogits: true},
		func(ev worker.Event) error {
			if !ev.Forced {
				want = append(want, logSoftmaxAt(ev.Logits, int(gen[len(want)])))
			}
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(gen) || len(want) != len(gen) {
		t.Fatalf("%d logprobs and %d reference ones for %d tokens", len(got), len(want), len(gen))
	}
	for i := range got {
		if math.Abs(got[i]-want[i]) > 1e-5 {
			t.Fatalf("token %d: logprob %g, reference log-softmax %g", i, got[i], want[i])
		}
	}
}

func logSoftmaxAt(logits []float32, id int) float64 {
	hi := math.Inf(-1)
	for _, v := range logits {
		hi = math.Max(hi, float64(v))
	}
	var sum float64
	for _, v := range logits {
		sum += math.Exp(float64(v) - hi)
	}
	return float64(logits[id]) - hi - math.Log(sum)
}
