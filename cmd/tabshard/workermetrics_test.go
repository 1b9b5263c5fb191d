package main

import (
	"context"
	"testing"

	"github.com/tabshard/tabshard/worker/agent"
)

func TestWorkerMetricsExposeTheAgentsCounts(t *testing.T) {
	m := &agent.Metrics{}
	m.Steps.Add(3)
	m.HostNanos.Add(2_500_000_000)
	m.LogLost.Add(1)
	families, err := workerRegistry(m).Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range families {
		got[f.GetName()] = f.GetMetric()[0].GetCounter().GetValue()
	}
	for name, want := range map[string]float64{"tabshard_worker_steps_total": 3, "tabshard_worker_host_seconds_total": 2.5, "tabshard_worker_log_lost_total": 1, "tabshard_worker_log_acks_total": 0} {
		if v, ok := got[name]; !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v", name, v, ok, want)
		}
	}
	if err := serveWorkerMetrics(context.Background(), "127.0.0.1:not-a-port", m, nil); err == nil {
		t.Errorf("a bad address was accepted")
	}
}
