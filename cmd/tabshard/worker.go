package main

import (
	"context"
	"errors"
	"flag"
	"log/slog"
	"os"
	"runtime"
	"time"

	"github.com/tabshard/tabshard/planner"
	"github.com/tabshard/tabshard/worker/agent"
)

func numCPU() int { return runtime.NumCPU() }

// roundWaitConfig is --round-wait as agent.Config.RoundWait: 0 or less
// there is never (negative), not the default.
func roundWaitConfig(d time.Duration) time.Duration {
	if d <= 0 {
		return -1
	}
	return d
}

func runWorker(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	coord := fs.String("coordinator", "", "a coordinator's HTTP address, e.g. http://127.0.0.1:8080 (required)")
	token := fs.String("join-token", "", "the cluster's join token ('tabshard up' prints it; visible in ps: prefer --join-token-file or $"+envJoinToken+")")
	tokenFile := fs.String("join-token-file", "", "file holding the join token (a coordinator writes it to <data-dir>/join-token)")
	name := fs.String("name", "", "a name for this worker (default: the host name)")
	memory := fs.String("memory", "4GiB", "memory budget for weights, KV cache and activations")
	backend := fs.String("backend", "cpu", "compute backend: cpu (WebGPU runs in browser tabs)")
	verbose := fs.Bool("v", false, "log debug detail")
	metricsAddr := fs.String("metrics", "", "serve the worker's metrics (steps' compute and host time, log acknowledgements, rejections) at ADDR/metrics, e.g. 127.0.0.1:9100; empty: none")
	roundWait := fs.Duration("round-wait", agent.DefaultRoundWait, "the most the first stage waits to gather its sessions' steps still on their way into one batch per round (right when stages share a host's cores or GPU); 0: never, every group runs as it comes (best when each stage has a machine of its own)")
	rest, err := parseFlags(fs, e, args)
	if err != nil {
		return err
	}
	switch {
	case len(rest) > 0:
		return usageErr("unexpected argument %q", rest[0])
	case *coord == "":
		return usageErr("want --coordinator URL and a join token (--join-token-file, $TABSHARD_JOIN_TOKEN or --join-token)")
	case *backend != "cpu":
		return usageErr("--backend %q: native workers compute on the cpu", *backend)
	}
	tok, err := joinToken(*token, *tokenFile, os.Getenv)
	switch {
	case err != nil:
		return err
	case tok == "":
		return usageErr("no join token: give --join-token-file PATH, $%s or --join-token", envJoinToken)
	}
	mem, err := planner.ParseBytes(*memory)
	if err != nil {
		return usageErr("--memory %q: %v", *memory, err)
	}
	if *name == "" {
		*name, _ = os.Hostname()
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: level}))
	metrics := &agent.Metrics{}
	if *metricsAddr != "" {
		if err := serveWorkerMetrics(ctx, *metricsAddr, metrics, logger); err != nil {
			return usageErr("--metrics %q: %v", *metricsAddr, err)
		}
	}
	err = agent.Run(ctx, agent.Config{
		Coordinator: *coord, JoinToken: tok, Name: *name, Capabilities: localCapabilities(mem),
		Logger: logger, Metrics: metrics, RoundWait: roundWaitConfig(*roundWait),
	})
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}
