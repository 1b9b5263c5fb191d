package e2e

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tabshard/tabshard/coordinator/state"
	"github.com/tabshard/tabshard/model/bundled"
	tabshardv1 "github.com/tabshard/tabshard/proto/tabshard/v1"
	"github.com/tabshard/tabshard/worker"
)

// TestManySessions runs 40 sessions at once on a cluster that admits 16
// (the rest queue): greedy and seeded sampling, four prompts, lengths from
// 12 to 60 tokens. A primary is killed mid-way and one client leaves after
// five tokens. Every other session's tokens are those it gets alone (the
// CPU reference, one session at a time), its client got them all, the
// session the client left is cancelled, and no step was re-issued except
// once per session for each new epoch.
func TestManySessions(t *testing.T) {
	prompts := []string{"Once upon a time", "The cat", "Lily and Tom went", "One day a big dog"}
	var reqs []Request
	for i := range 40 {
		r := Request{Name: fmt.Sprintf("s%d", i+1), Prompt: prompts[i%4], MaxTokens: 12 + (i*7)%49, TopP: 1}
		if i%2 == 1 {
			r.Temperature, r.TopP, r.Seed = 0.8+0.05*float64(i%3), 0.9, uint64(1000+i)
		}
		reqs = append(reqs, r)
	}
	reqs[0].MaxTokens = 60 // the faults fire on its tokens
	left := 7
	reqs[left].MaxTokens, reqs[left].LeaveAfter = 200, 5
	sc := Scenario{
		Options:  Options{MaxSessions: 16, ResumeWindow: 300 * time.Millisecond, StepTimeout: 20 * time.Second},
		Requests: reqs, Faults: faults(t, "kill:stage=1@token=15"), Timeout: 4 * time.Minute,
	}
	if raceEnabled {
		sc.Lease = 750 * time.Millisecond
	}
	if os.Getenv("E2E_VERBOSE") != "" {
		sc.Log = slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})
	}
	ctx := context.Background()
	c, err := Start(ctx, sc.Options)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	pctx, cancel := context.WithTimeout(ctx, sc.Timeout)
	defer cancel()
	out, err := c.Play(pctx, sc)
	if out != nil {
		t.Cleanup(func() {
			if t.Failed() || os.Getenv("E2E_TIMELINE") != "" {
				printTimeline(t, out)
			}
		})
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range out.Faults {
		if r.Err != nil {
			t.Errorf("fault %s: %v", r.Fault, r.Err)
		}
	}
	ref := soloReference(t)
	for i, res := range out.Results {
		s := state.Session(out.Final, res.Session)
		if s == nil {
			t.Fatalf("%s: session %q not in the final state", reqs[i].Name, res.Session)
		}
		if i == left {
			checkLeft(t, reqs[i], res, s)
			continue
		}
		checkSolo(t, ref, reqs[i], res, s)
	}
	checkReissues(t, c, out.Final, len(reqs))
}

// checkLeft: the session a client left was cancelled, not run to its end.
func checkLeft(t *testing.T, req Request, res *Result, s *tabshardv1.Session) {
	t.Helper()
	if !res.Left || s.GetFinishReason() != "cancelled" || len(s.GetGenerated()) >= req.MaxTokens {
		t.Errorf("%s: client left %v; session %s after %d of %d tokens, want cancelled", req.Name, res.Left, s.GetFinishReason(), len(s.GetGenerated()), req.MaxTokens)
	}
}

// checkSolo: the session's committed tokens are the solo run's, and its
// client got all of them, in order.
func checkSolo(t *testing.T, ref *worker.Pipeline, req Request, res *Result, s *tabshardv1.Session) {
	t.Helper()
	gen := s.GetGenerated()
	if len(res.Violations) > 0 || res.Tokens() != len(gen) || s.GetState() != tabshardv1.SessionState_SESSION_STATE_DONE {
		t.Errorf("%s: %d events for %d tokens, session %s, violations %v", req.Name, res.Tokens(), len(gen), s.GetState(), res.Violations)
	}
	if s.GetFinishReason() == "length" && len(gen) != req.MaxTokens {
		t.Errorf("%s: %d tokens, want %d", req.Name, len(gen), req.MaxTokens)
	}
	prompt := make([]int, len(s.GetPrompt()))
	for i, p := range s.GetPrompt() {
		prompt[i] = int(p)
	}
	var want []uint32
	err := worker.Generate(context.Background(), ref, worker.GenerateConfig{Prompt: prompt, Steps: len(prompt) - 1 + len(gen),
		Sampler: worker.NewSampler(float32(req.Temperature), float32(req.TopP), req.Seed), BOS: -1}, func(ev worker.Event) error {
		if !ev.Forced {
			want = append(want, uint32(ev.Next))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(gen, want) {
		t.Errorf("%s (temperature %g): tokens differ from the session alone\n got: %v\nwant: %v", req.Name, req.Temperature, gen, want)
	}
}

// soloReference is the bundled model unsharded, one session at a time.
func soloReference(t *testing.T) *worker.Pipeline {
	t.Helper()
	m, err := bundled.Open()
	if err != nil {
		t.Fatal(err)
	}
	p, err := worker.Load(m, m.Config.ContextLength)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// checkReissues: no step was re-issued for lack of progress, and every
// new epoch re-issued each session's pending step once at most.
func checkReissues(t *testing.T, c *Cluster, final *tabshardv1.ClusterState, sessions int) {
	t.Helper()
	l := c.Leader()
	if l == nil {
		t.Fatal("no leader at the end")
	}
	text := scrape(t, l.HTTPURL()+"/metrics")
	stalled := counterValue(text, `tabshard_steps_reissued_total{reason="stalled"}`)
	epoch := counterValue(text, `tabshard_steps_reissued_total{reason="epoch"}`)
	// Each new epoch and each new leader (a Raft term) re-issue every
	// pending step once.
	epochs := int(final.GetEpoch()) + int(counterValue(text, "tabshard_raft_term"))
	if stalled != 0 || epoch > float64(sessions*epochs) {
		t.Errorf("re-issued %v stalled steps and %v at new epochs or leaders (%d of them, %d sessions)", stalled, epoch, epochs, sessions)
	}
	t.Logf("%d epochs, %d failovers; steps re-issued at new epochs %v, stalled %v; sessions cancelled %v, rejected %v",
		epochs, len(final.GetFailovers()), epoch, stalled, counterValue(text, "tabshard_sessions_cancelled_total"), counterValue(text, "tabshard_sessions_rejected_total"))
}

func scrape(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// counterValue reads one sample of the Prometheus text, 0 when absent.
func counterValue(text, series string) float64 {
	for _, line := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	return 0
}
