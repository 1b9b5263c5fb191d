package e2e

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tabshard/tabshard/coordinator/state"
	tabshardv1 "github.com/tabshard/tabshard/proto/tabshard/v1"
)

const oracleDir = "../testdata/stories260K"

// oracles are the greedy and the sampled llama2.c runs; every scenario
// streams both at once and faults fire on the greedy one's tokens.
func oracles(t *testing.T) []Oracle {
	t.Helper()
	g, err := GreedyOracle(oracleDir)
	if err != nil {
		t.Fatal(err)
	}
	s, err := SampledOracle(oracleDir)
	if err != nil {
		t.Fatal(err)
	}
	return []Oracle{g, s}
}

// play runs sc with the oracle requests and checks what every scenario
// must hold: the oracle's text and tokens, no event lost or repeated, the
// coordinators in agreement, every fault injected.
func play(t *testing.T, sc Scenario) *Outcome {
	t.Helper()
	want := oracles(t)
	for _, o := range want {
		sc.Requests = append(sc.Requests, o.Request)
	}
	if raceEnabled && sc.Lease == 0 {
		// Under the race detector, on two busy cores, a heartbeat can be
		// a few hundred milliseconds late: a 250ms lease would expire
		// healthy workers. The text must not change either way, but the
		// churn slows the suite and blurs what each scenario checks.
		sc.Lease = 750 * time.Millisecond
	}
	if os.Getenv("E2E_VERBOSE") != "" {
		sc.Log = slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})
	}
	out, err := Run(context.Background(), sc)
	if out != nil {
		t.Cleanup(func() {
			if t.Failed() || testing.Verbose() || os.Getenv("E2E_TIMELINE") != "" {
				printTimeline(t, out)
			}
		})
	}
	if err != nil {
		t.Fatal(err)
	}
	for i, o := range want {
		checkResult(t, out, out.Results[i], o)
	}
	for _, r := range out.Faults {
		if r.Err != nil {
			t.Errorf("fault %s: %v", r.Fault, r.Err)
		}
	}
	if out.Consistency != nil {
		t.Errorf("consistency: %v", out.Consistency)
	}
	return out
}

func checkResult(t *testing.T, out *Outcome, r *Result, o Oracle) {
	t.Helper()
	name := o.Request.Name
	if r.Text != o.Text {
		t.Errorf("%s: text differs from llama2.c\n got: %q\nwant: %q", name, r.Text, o.Text)
	}
	if len(r.Violations) > 0 {
		t.Errorf("%s: stream violations: %v", name, r.Violations)
	}
	if r.FinishReason != "length" || r.Tokens() != o.Request.MaxTokens {
		t.Errorf("%s: finished %q after %d tokens, want length after %d", name, r.FinishReason, r.Tokens(), o.Request.MaxTokens)
	}
	s := state.Session(out.Final, r.Session)
	if s == nil {
		t.Errorf("%s: session %s not in the final state", name, r.Session)
		return
	}
	if o.IDs != nil && !slices.Equal(s.GetGenerated(), o.IDs) {
		t.Errorf("%s: committed tokens differ from llama2.c\n got: %v\nwant: %v", name, s.GetGenerated(), o.IDs)
	}
	if s.GetState() != tabshardv1.SessionState_SESSION_STATE_DONE {
		t.Errorf("%s: session %s is %s", name, r.Session, s.GetState())
	}
}

func printTimeline(t *testing.T, out *Outcome) {
	var b strings.Builder
	out.Timeline.Print(&b, false)
	t.Logf("timeline:\n%s", b.String())
}

func faults(t *testing.T, specs ...string) []Fault {
	t.Helper()
	var fs []Fault
	for _, s := range specs {
		f, err := ParseFault(s)
		if err != nil {
			t.Fatal(err)
		}
		fs = append(fs, f)
	}
	return fs
}

func TestFaultFree(t *testing.T) {
	out := play(t, Scenario{Options: Options{Seed: 1}})
	if n := len(out.Final.GetFailovers()); n != 0 {
		// A loaded machine can delay heartbeats past the lease: legitimate
		// failovers, which must not change the text.
		t.Logf("%d failovers in a fault-free run (late heartbeats)", n)
	}
}

func TestKillPrimary(t *testing.T) {
	for i, stage := range []string{"first", "middle", "last"} {
		t.Run(stage, func(t *testing.T) {
			out := play(t, Scenario{Options: Options{Seed: uint64(10 + i)}, Faults: faults(t, fmt.Sprintf("kill:stage=%s@token=20", stage))})
			checkFailover(t, out)
		})
	}
}

// checkFailover checks that each killed or partitioned primary was
// replaced and the stream went on within a second.
func checkFailover(t *testing.T, out *Outcome) {
	t.Helper()
	for _, r := range out.Faults {
		if r.Recovery == 0 {
			t.Errorf("%s: no token after a failover from %s", r.Fault, r.Target)
			continue
		}
		t.Logf("%s: %s replaced, next token after %v", r.Fault, r.Target, r.Recovery.Round(time.Millisecond))
	}
}

func TestKillLeader(t *testing.T) {
	out := play(t, Scenario{Options: Options{Seed: 20}, ClientAtLeader: true, Faults: faults(t, "kill:leader@token=20")})
	checkFailover(t, out)
	leaders := 0
	for _, e := range out.Timeline.Entries() {
		if e.Kind == KindLeader && strings.HasSuffix(e.Text, " leads") && e.At < out.Faults[0].Injected {
			leaders++
		}
	}
	// The streams start at the leader; unless leadership moved before the
	// kill (a loaded machine), killing it breaks them and they resume.
	if out.Results[0].Reconnects == 0 && leaders == 1 {
		t.Errorf("the greedy stream, at the leader, never reconnected")
	}
}

func TestPartitionAndHeal(t *testing.T) {
	for i, target := range []string{"stage=last", "stage=first"} {
		t.Run(target, func(t *testing.T) {
			sc := Scenario{Options: Options{Seed: uint64(30 + i)}, Faults: faults(t, "partition:"+target+"@token=10-40")}
			out := play(t, sc)
			checkFailover(t, out)
			r := out.Faults[0]
			if r.Stale == nil {
				t.Fatalf("no late token was sent in %s's name", r.Target)
			}
			// The late token must be fenced: rejected by the leader, for
			// its epoch.
			rejected, ok := out.Timeline.Find(0, func(e Entry) bool {
				return e.Kind == KindRejected && e.Fields["from"] == r.Target && e.Fields["why"] == "stale epoch"
			})
			if !ok {
				t.Errorf("the late token from %s (epoch %d) was not rejected as stale", r.Target, r.Stale.GetEpoch())
			} else {
				t.Logf("fenced: %s", rejected.Text)
			}
			// The healed worker learns it was expired and comes back as a
			// new worker.
			m := state.Member(out.Final, r.Target)
			if m.GetState() != tabshardv1.MemberState_MEMBER_STATE_EXPIRED {
				t.Errorf("%s is %s after the partition, want expired", r.Target, m.GetState())
			}
			if _, ok := out.Timeline.Find(r.Injected, func(e Entry) bool { return e.Kind == KindJoin && e.Fields["name"] == workerName(out, r.Target) }); !ok {
				t.Errorf("%s did not rejoin under a new id after the heal", r.Target)
			}
		})
	}
}

// workerName is the name the worker admitted as id joined under.
func workerName(out *Outcome, id string) string {
	e, _ := out.Timeline.Find(0, func(e Entry) bool { return e.Kind == KindJoin && e.Fields["worker"] == id })
	return e.Fields["name"]
}

func TestAddWorker(t *testing.T) {
	sc := Scenario{Options: Options{Seed: 40}, Faults: faults(t, "kill:stage=middle@token=10", "add:worker@token=20", "kill:stage=middle@token=45")}
	out := play(t, sc)
	added := out.Faults[1].Target
	joined, ok := out.Timeline.Find(0, func(e Entry) bool { return e.Kind == KindJoin && e.Fields["name"] == added })
	if !ok {
		t.Fatalf("the added worker %s never joined", added)
	}
	id := joined.Fields["worker"]
	if _, ok := out.Timeline.Find(joined.At, func(e Entry) bool { return e.Kind == KindWorker && e.Fields["worker"] == id && e.Fields["role"] != "" }); !ok {
		t.Errorf("the added worker %s never got a role in the plan", id)
	}
	// On a quiet machine the second kill promotes the added worker; on a
	// loaded one a late heartbeat may expire another worker first and
	// change who stands by (the text must not change either way).
	expired := 0
	for _, e := range out.Timeline.Entries() {
		if e.Kind == KindExpire {
			expired++
		}
	}
	if got := out.Final.GetPlan().GetStages()[1].GetDeviceId(); got != id {
		if expired == 2 {
			t.Errorf("stage 1 runs on %s at the end, want the added worker %s", got, id)
		} else {
			t.Logf("%d workers expired (2 killed): stage 1 ended on %s, not the added %s", expired, got, id)
		}
	}
}

func TestRestartCoordinators(t *testing.T) {
	out := play(t, Scenario{Options: Options{Seed: 50, Dir: t.TempDir()}, Faults: faults(t, "restart:coordinators@token=40")})
	checkFailover(t, out)
	restored := 0
	for _, e := range out.Timeline.Entries() {
		if e.Kind == KindCluster && e.Fields["bootstrapped"] == "false" && e.Fields["applied_index"] != "0" {
			restored++
		}
	}
	if restored < 3 {
		t.Errorf("%d coordinators restored a snapshot when they restarted, want every one", restored)
	}
}

// TestStandbyOfSeveralStages: with 4 workers for 3 stages, w4 stands by
// for every stage. Once promoted to stage 1 it must not be promoted again
// when stage 0's primary dies (a worker runs one stage); with nobody left
// to take stage 0 the session waits, and continues token-exact as soon as
// a new worker joins.
func TestStandbyOfSeveralStages(t *testing.T) {
	play(t, Scenario{Options: Options{Seed: 60, Workers: 4}, Timeout: 40 * time.Second,
		Faults: faults(t, "kill:stage=1@token=10", "kill:stage=0@token=30", "add:worker@token=30")})
}

// TestKillCoordinatorEmbeddedBus: with the embedded bus, the coordinators'
// NATS servers form one cluster and the activation log is kept in three
// copies. Each coordinator in turn, the first started included, is killed
// with its NATS server while the streams run from it: its workers
// reconnect to another server, a new leader (if it led) drives the
// sessions, and the clients resume at another coordinator with
// Last-Event-ID; the texts are llama2.c's.
func TestKillCoordinatorEmbeddedBus(t *testing.T) {
	for i, victim := range []string{"c1", "c2", "c3"} {
		t.Run(victim, func(t *testing.T) {
			sc := Scenario{Options: Options{Seed: uint64(70 + i), EmbeddedBus: true}, ClientAt: victim,
				Faults: faults(t, "kill:coordinator="+victim+"@token=20")}
			out := play(t, sc)
			r := out.Faults[0]
			if out.Results[0].Reconnects == 0 {
				t.Errorf("the greedy stream, at %s, never resumed elsewhere", victim)
			}
			if r.Recovery == 0 {
				t.Errorf("no token after %s was killed", victim)
			}
			t.Logf("%s killed: next token after %v, %d stream reconnects", victim, r.Recovery.Round(time.Millisecond), out.Results[0].Reconnects)
		})
	}
}
