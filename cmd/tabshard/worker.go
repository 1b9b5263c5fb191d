package main

import (
	"context"
	"errors"
	"flag"
	"log/slog"
	"os"
	"runtime"
	"strings"

	"github.com/tabshard/tabshard/planner"
	"github.com/tabshard/tabshard/worker/agent"
)

func numCPU() int { return runtime.NumCPU() }

func runWorker(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	coord := fs.String("coordinator", "", "a coordinator's HTTP address, e.g. http://127.0.0.1:8080 (required)")
	token := fs.String("join-token", "", "the cluster's join token (`tabshard up` prints it; visible in ps: prefer --join-token-file or $TABSHARD_JOIN_TOKEN)")
	tokenFile := fs.String("join-token-file", "", "file holding the join token (a coordinator writes it to <data-dir>/join-token)")
	name := fs.String("name", "", "a name for this worker (default: the host name)")
	memory := fs.String("memory", "4GiB", "memory budget for weights, KV cache and activations")
	backend := fs.String("backend", "cpu", "compute backend: cpu (WebGPU runs in browser tabs)")
	verbose := fs.Bool("v", false, "log debug detail")
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
	joinToken, err := readJoinToken(*token, *tokenFile, os.Getenv(joinTokenEnv))
	if err != nil {
		return err
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
	err = agent.Run(ctx, agent.Config{
		Coordinator: *coord, JoinToken: joinToken, Name: *name, Capabilities: localCapabilities(mem),
		Logger: slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: level})),
	})
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// joinTokenEnv is the environment variable a worker reads its join token
// from: unlike an argument, it does not show in ps.
const joinTokenEnv = "TABSHARD_JOIN_TOKEN"

// readJoinToken picks the join token of exactly one source: the flag, the
// file or the environment.
func readJoinToken(flagValue, file, env string) (string, error) {
	set := 0
	for _, v := range []string{flagValue, file, env} {
		if v != "" {
			set++
		}
	}
	switch {
	case set == 0:
		return "", usageErr("no join token: give --join-token-file PATH, $%s or --join-token", joinTokenEnv)
	case set > 1:
		return "", usageErr("the join token is given more than once (--join-token, --join-token-file, $%s): give one", joinTokenEnv)
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return "", usageErr("--join-token-file: %v", err)
		}
		if t := strings.TrimSpace(string(b)); t != "" {
			return t, nil
		}
		return "", usageErr("--join-token-file %s is empty", file)
	case env != "":
		return strings.TrimSpace(env), nil
	}
	return flagValue, nil
}
