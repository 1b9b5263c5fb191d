package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/tabshard/tabshard/e2e"
)

// faultFlags collects repeated --fault flags.
type faultFlags []e2e.Fault

func (f *faultFlags) String() string { return "" }

func (f *faultFlags) Set(spec string) error {
	fault, err := e2e.ParseFault(spec)
	if err != nil {
		return err
	}
	*f = append(*f, fault)
	return nil
}

// simConfig is what runSim read from its flags.
type simConfig struct {
	opts    e2e.Options
	req     e2e.Request
	faults  faultFlags
	timeout time.Duration
	all     bool
	verbose bool
}

func runSim(ctx context.Context, e *env, args []string) error {
	cfg, err := parseSim(e, args)
	if err != nil {
		return err
	}
	if cfg.verbose {
		cfg.opts.Log = slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelDebug})
	}
	fmt.Fprintf(e.stdout, "tabshard sim: %d coordinators, %d workers (%d stages, %d standbys each), seed %d\n",
		cfg.opts.Coordinators, cfg.opts.Workers, cfg.opts.Stages, cfg.opts.Standbys, cfg.opts.Seed)
	ref, err := e2e.Run(ctx, e2e.Scenario{Options: cfg.opts, Requests: []e2e.Request{cfg.req}, Timeout: cfg.timeout})
	if err != nil {
		return fmt.Errorf("fault-free run: %w", err)
	}
	want := ref.Results[0]
	fmt.Fprintf(e.stdout, "fault-free run: %d tokens in %v\n\n", want.Tokens(), streamTime(want).Round(time.Millisecond))
	out, err := e2e.Run(ctx, e2e.Scenario{Options: cfg.opts, Requests: []e2e.Request{cfg.req}, Faults: cfg.faults, Timeout: cfg.timeout})
	if out != nil {
		out.Timeline.Print(e.stdout, cfg.all)
	}
	if err != nil {
		return fmt.Errorf("run with faults: %w", err)
	}
	return simOutcome(e, out, want)
}

func parseSim(e *env, args []string) (simConfig, error) {
	var cfg simConfig
	o := &cfg.opts
	fs := flag.NewFlagSet("sim", flag.ContinueOnError)
	fs.IntVar(&o.Workers, "workers", 0, "workers to start (default: stages × (1 + standbys))")
	fs.IntVar(&o.Coordinators, "coordinators", 3, "coordinators (Raft voters)")
	fs.BoolVar(&o.EmbeddedBus, "embedded-bus", false, "give each coordinator its own NATS server, routed into one cluster (as up --nats-routes), instead of one shared server")
	fs.IntVar(&o.Stages, "stages", 3, "pipeline stages")
	fs.IntVar(&o.Standbys, "standbys", 1, "standbys per stage")
	fs.Var(&cfg.faults, "fault", "a fault to inject, repeatable: kill:stage=S|standby=S|worker=N|leader|coordinator=N, partition:stage=S|worker=N (@token=A-B), add:worker, restart:coordinators, each @token=T (S counts from 0; first, middle, last, any)")
	seed := fs.Uint64("seed", 1, "seed of the harness's choices (which standby, when within a step)")
	fs.StringVar(&o.ModelPath, "model", "", "GGUF model (default: the bundled stories260K)")
	fs.StringVar(&cfg.req.Prompt, "prompt", "Once upon a time", "the client's prompt")
	fs.IntVar(&cfg.req.MaxTokens, "tokens", 196, "tokens to generate")
	fs.Float64Var(&cfg.req.Temperature, "temperature", 0, "sampling temperature (0: greedy)")
	fs.Float64Var(&cfg.req.TopP, "top-p", 0.9, "top-p when sampling")
	fs.Uint64Var(&cfg.req.Seed, "sample-seed", 42, "sampling seed")
	fs.DurationVar(&o.Heartbeat, "heartbeat", 50*time.Millisecond, "worker heartbeat interval")
	fs.DurationVar(&o.Lease, "lease", 250*time.Millisecond, "how long a silent worker keeps its lease")
	fs.DurationVar(&cfg.timeout, "timeout", time.Minute, "bound on each run")
	fs.BoolVar(&cfg.all, "all-tokens", false, "print every token in the timeline, not runs of them")
	fs.BoolVar(&cfg.verbose, "v", false, "log every coordinator and worker to stderr")
	rest, err := parseFlags(fs, e, args)
	if err != nil {
		return cfg, err
	}
	o.Seed = *seed
	switch {
	case len(rest) > 0:
		return cfg, usageErr("unexpected argument %q", rest[0])
	case o.Coordinators < 1 || o.Stages < 1 || o.Standbys < 0:
		return cfg, usageErr("want at least 1 coordinator and 1 stage, and standbys >= 0")
	case o.Workers == 0:
		o.Workers = o.Stages * (1 + o.Standbys)
	case o.Workers < o.Stages:
		return cfg, usageErr("--workers %d: the %d stages need at least as many workers", o.Workers, o.Stages)
	case cfg.req.MaxTokens < 1:
		return cfg, usageErr("--tokens %d: want at least 1", cfg.req.MaxTokens)
	case o.Lease <= o.Heartbeat:
		return cfg, usageErr("--lease %v must be longer than --heartbeat %v", o.Lease, o.Heartbeat)
	}
	for _, f := range cfg.faults {
		if err := f.Check(o.Stages); err != nil {
			return cfg, usageErr("%v", err)
		}
	}
	cfg.req.Name = "client"
	return cfg, nil
}

// simOutcome prints the faults and the verdict: nil when the client got
// the fault-free run's text, every token once, and the coordinators agree.
func simOutcome(e *env, out *e2e.Outcome, want *e2e.Result) error {
	got := out.Results[0]
	fmt.Fprintln(e.stdout, "\nfaults:")
	for _, r := range out.Faults {
		switch {
		case r.Err != nil:
			fmt.Fprintf(e.stdout, "  %-32s %v\n", r.Fault, r.Err)
		case r.Recovery > 0:
			fmt.Fprintf(e.stdout, "  %-32s hit %s at %.3fs; next token %v later\n", r.Fault, r.Target, r.Injected.Seconds(), r.Recovery.Round(time.Millisecond))
		default:
			fmt.Fprintf(e.stdout, "  %-32s hit %s at %.3fs; generation did not stall\n", r.Fault, r.Target, r.Injected.Seconds())
		}
	}
	var problems []string
	if got.Text != want.Text {
		problems = append(problems, fmt.Sprintf("text differs from the fault-free run from byte %d", firstDiff(got.Text, want.Text)))
	}
	problems = append(problems, got.Violations...)
	if out.Consistency != nil {
		problems = append(problems, out.Consistency.Error())
	}
	fmt.Fprintf(e.stdout, "\ntext: %q\n", got.Text)
	if len(problems) > 0 {
		fmt.Fprintf(e.stdout, "outcome: FAILED: %s\n", strings.Join(problems, "; "))
		return errSimFailed
	}
	fmt.Fprintf(e.stdout, "outcome: text identical to the fault-free run (%d tokens, %d reconnects, none lost or repeated); coordinators agree on epoch %d\n",
		got.Tokens(), got.Reconnects, out.Final.GetEpoch())
	return nil
}

var errSimFailed = errors.New("the run with faults differs from the fault-free run")

func firstDiff(a, b string) int {
	n := min(len(a), len(b))
	for i := range n {
		if a[i] != b[i] {
			return i
		}
	}
	return n
}

// streamTime is how long the client's stream took.
func streamTime(r *e2e.Result) time.Duration {
	if len(r.Events) < 2 {
		return 0
	}
	return r.Events[len(r.Events)-1].At.Sub(r.Events[0].At)
}
