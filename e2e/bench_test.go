package e2e

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// BenchmarkFailover runs seeded failover runs (50, or
// TABSHARD_FAILOVER_RUNS): each a fresh cluster of 3 coordinators and 3
// stages with one standby each, streaming the greedy oracle, where the
// seed picks the stage whose primary is killed, the token it dies at
// (10-40) and when within that step. It reports the time from the kill
// to the next token the client got, p50 and p99, in milliseconds; every
// run must still produce llama2.c's text. It runs its runs once, whatever
// b.N.
//
//	go test -run '^$' -bench Failover -benchtime 1x ./e2e/
func BenchmarkFailover(b *testing.B) {
	runs := 50
	if s := os.Getenv("TABSHARD_FAILOVER_RUNS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			b.Fatalf("TABSHARD_FAILOVER_RUNS=%q: want a positive count", s)
		}
		runs = n
	}
	oracle, err := GreedyOracle(oracleDir)
	if err != nil {
		b.Fatal(err)
	}
	var times []time.Duration
	for i := range runs {
		d, out, err := failoverRun(uint64(1000+i), oracle)
		if err != nil {
			b.Errorf("run %d: %v", i, err)
			continue
		}
		times = append(times, d)
		if d > 600*time.Millisecond {
			b.Logf("run %d (seed %d): %s took %v:\n%s", i, 1000+i, out.Faults[0].Fault, d.Round(time.Millisecond), around(out, out.Faults[0]))
		}
	}
	if len(times) == 0 {
		return
	}
	slices.Sort(times)
	b.ReportMetric(ms(quantile(times, 0.5)), "p50-ms")
	b.ReportMetric(ms(quantile(times, 0.99)), "p99-ms")
	b.ReportMetric(ms(times[len(times)-1]), "max-ms")
	b.ReportMetric(float64(len(times)), "runs")
	b.Logf("death → next token over %d runs: min %v p50 %v p90 %v p99 %v max %v", len(times), times[0].Round(time.Millisecond),
		quantile(times, 0.5).Round(time.Millisecond), quantile(times, 0.9).Round(time.Millisecond),
		quantile(times, 0.99).Round(time.Millisecond), times[len(times)-1].Round(time.Millisecond))
}

// failoverRun kills one seeded primary mid-generation and returns the time
// from its death to the client's next token.
func failoverRun(seed uint64, oracle Oracle) (time.Duration, *Outcome, error) {
	at := 10 + int(seed*7919%31)
	f, err := ParseFault(fmt.Sprintf("kill:stage=any@token=%d", at))
	if err != nil {
		return 0, nil, err
	}
	out, err := Run(context.Background(), Scenario{Options: Options{Seed: seed}, Requests: []Request{oracle.Request}, Faults: []Fault{f}})
	if err != nil {
		return 0, out, err
	}
	r := out.Faults[0]
	switch {
	case r.Err != nil:
		return 0, out, r.Err
	case out.Results[0].Text != oracle.Text:
		return 0, out, fmt.Errorf("text differs from llama2.c after %s", r.Fault)
	case len(out.Results[0].Violations) > 0:
		return 0, out, fmt.Errorf("stream violations: %v", out.Results[0].Violations)
	case r.Recovery == 0:
		return 0, out, fmt.Errorf("%s: no token after the failover", r.Fault)
	}
	return r.Recovery, out, nil
}

// around prints the timeline from a fault to its recovery.
func around(out *Outcome, r *FaultReport) string {
	var b strings.Builder
	for _, e := range out.Timeline.Entries() {
		if e.At >= r.Injected-10*time.Millisecond && e.At <= r.Injected+r.Recovery+10*time.Millisecond && e.Kind != KindToken {
			b.WriteString(FormatEntry(e) + "\n")
		}
	}
	return b.String()
}

func quantile(sorted []time.Duration, q float64) time.Duration {
	return sorted[min(int(q*float64(len(sorted))), len(sorted)-1)]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
