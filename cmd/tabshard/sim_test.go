package main

import (
	"strings"
	"testing"
)

func TestSimBadFaultSpec(t *testing.T) {
	for _, spec := range []string{
		"kill:stage", "kill:stage=2", "explode:stage=1@token=3", "kill:stage=x@token=3",
		"partition:worker=3@token=10", "kill:worker=3@token=10-20", "partition:worker=3@token=60-10",
		"kill:leader=1@token=5", "kill:stage=3@token=5",
	} {
		t.Run(spec, func(t *testing.T) {
			_, errOut, code := tabshard(t, "sim", "--fault", spec)
			if code != 2 || !strings.Contains(errOut, "bad fault spec") {
				t.Fatalf("exit %d, stderr %q; want 2 and a bad fault spec message", code, errOut)
			}
		})
	}
}

func TestSimKillStage(t *testing.T) {
	out, errOut, code := tabshard(t, "sim", "--lease", "750ms", "--tokens", "40", "--seed", "3", "--fault", "kill:stage=2@token=10")
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	for _, want := range []string{"fault-free run: 40 tokens", "kill w3", "failover  epoch", "stage 2 w3 ->", "next token", "outcome: text identical to the fault-free run"} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
}

func TestSimPartitionAndLeader(t *testing.T) {
	out, errOut, code := tabshard(t, "sim", "--lease", "750ms", "--tokens", "48", "--temperature", "1", "--seed", "4",
		"--fault", "partition:worker=2@token=5-20", "--fault", "kill:leader@token=30")
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	for _, want := range []string{"partition w2", "heal w2", "rejected", "kill the Raft leader", "leads", "outcome: text identical"} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
}
