// Command tabshard runs Llama-family language models split into layer
// shards across browser tabs and native workers. This binary holds every
// role: see `tabshard help`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
)

// errUsage marks a command-line mistake: exit status 2.
var errUsage = errors.New("usage")

type command struct {
	name    string
	summary string
	run     func(ctx context.Context, env *env, args []string) error
}

// help is what `tabshard COMMAND -h` prints above the flags: the synopsis
// of the arguments, a description and an example.
type help struct {
	args, description, example string
}

// helps holds each command's help text; see commandHelp.
var helps = map[string]help{
	"up": {"[flags]",
		"Runs a coordinator: one Raft node (data in --data-dir), an embedded NATS server (TCP for\n" +
			"native workers, WebSocket for tabs), the HTTP API with the worker, launcher, chat and\n" +
			"dashboard pages, and --local-workers in-process workers, on the bundled model by default.",
		"tabshard up --local-workers 0        # then open the printed /launcher URL for tab workers"},
	"worker": {"--coordinator URL --join-token-file FILE [flags]",
		"Runs a native worker: joins the coordinator's cluster over its HTTP API (getting bus\n" +
			"credentials for its own subjects), heartbeats, loads exactly its stage's tensors over\n" +
			"HTTP Range and runs its stage until it is stopped. The join token comes from\n" +
			"--join-token-file, $TABSHARD_JOIN_TOKEN or --join-token (visible in ps).",
		"tabshard worker --coordinator http://127.0.0.1:8080 --join-token-file tabshard-data/join-token"},
	"serve-model": {"--key-file FILE [flags]",
		"Serves a GGUF file to workers holding a grant for its byte ranges (signed by the\n" +
			"coordinator with the same key), and to pages of the allowed origins only.",
		"tabshard serve-model --http 127.0.0.1:8090 --key-file model.key --allow-origin http://127.0.0.1:8080"},
	"sim": {"[flags]",
		"Runs a whole cluster (coordinators, NATS, workers) in one process, injects the given\n" +
			"faults at the given tokens, and compares the text with the fault-free run.",
		"tabshard sim --workers 4 --fault kill:stage=2@token=40 --seed 7"},
	"generate": {"[flags]",
		"Generates text on this machine's CPU as llama2.c's run.c does: same text, same sampler draws.",
		"tabshard generate --prompt \"Once upon a time\" --steps 60 --temperature 0"},
	"inspect": {"FILE [flags]",
		"Prints a GGUF file's header, metadata and tensor table, or one tensor's values.",
		"tabshard inspect model.gguf --tensor output.weight --dequant"},
	"quantize": {"--in FILE --out FILE --policy POLICY [flags]",
		"Rewrites a GGUF file with other tensor types; a tensor whose shape a type cannot hold\n" +
			"keeps a fallback type, and the notes say which.",
		"tabshard quantize --in model.gguf --out model-q4_0.gguf --policy q4_0"},
	"plan": {"--model FILE|PRESET[:POLICY] --devices SPEC [flags]",
		"Splits a model into contiguous layer shards that fit the given devices, with exact\n" +
			"bytes, binding splits, standbys and the predicted speed; says what would fit otherwise.",
		"tabshard plan --model llama-3-70b:q4_0 --devices 8x24GiB"},
	"synth": {"--preset NAME --out FILE [flags]",
		"Writes a GGUF file of a published model's exact shape with zero, random or seeded weights.",
		"tabshard synth --preset llama-3-70b --policy q4_0 --weights seeded --out 70b.gguf"},
	"eval": {"--model FILE --reference FILE [flags]",
		"Measures a quantized model against its source: top-1 agreement and KL divergence.",
		"tabshard eval --model model-q4_0.gguf --reference model.gguf"},
	"measure": {"[flags]",
		"Measures a running cluster: time to first token, decode tokens/s, each stage's and the\n" +
			"hops' share of a token, and with --read-bandwidth the bandwidth bound.",
		"tabshard measure --coordinator http://127.0.0.1:8080 --runs 3"},
	"version": {"", "Prints the version.", "tabshard version"},
}

// env is what a command reads and writes; tests substitute buffers.
type env struct {
	stdout, stderr io.Writer
}

func commands() []command {
	return []command{
		{"up", "run a coordinator: Raft, NATS, the HTTP API, and local workers", runUp},
		{"worker", "run a native worker that joins a coordinator's cluster", runWorker},
		{"serve-model", "serve a model file to workers from another origin, with grants from the coordinator", runServeModel},
		{"sim", "simulate a cluster in one process, inject faults, compare with the fault-free run", runSim},
		{"generate", "generate text with a model on this machine's CPU", runGenerate},
		{"inspect", "print a GGUF file's metadata and tensor table, or one tensor's values", runInspect},
		{"quantize", "rewrite a GGUF file with other tensor types (f16, q8_0, q4_k, ..., mixed)", runQuantize},
		{"plan", "split a model into layer shards that fit a fleet of devices", runPlan},
		{"synth", "write a GGUF file of a preset's exact shape (llama-3-70b, qwen2-72b, ...) with zero, random or seeded weights", runSynth},
		{"eval", "measure a quantized model against its reference: top-1 agreement and KL divergence", runEval},
		{"measure", "measure a running cluster: time to first token, decode tokens/s, each stage's and the hops' share", runMeasure},
		{"version", "print the version", runVersion},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, &env{stdout: os.Stdout, stderr: os.Stderr}, os.Args[1:])
	stop()
	os.Exit(code)
}

// run executes one command line and returns the exit status.
func run(ctx context.Context, e *env, args []string) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(e.stdout)
		return 0
	}
	if args[0] == "--version" || args[0] == "-version" || args[0] == "-v" {
		args = []string{"version"}
	}
	for _, c := range commands() {
		if c.name == args[0] {
			err := c.run(ctx, e, args[1:])
			switch {
			case err == nil:
				return 0
			case errors.Is(err, flag.ErrHelp):
				return 0
			case errors.Is(err, errUsage):
				fmt.Fprintf(e.stderr, "tabshard %s: %v\n", c.name, err)
				return 2
			default:
				fmt.Fprintf(e.stderr, "tabshard %s: %v\n", c.name, err)
				return 1
			}
		}
	}
	fmt.Fprintf(e.stderr, "tabshard: unknown command %q (see 'tabshard help')\n", args[0])
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "tabshard runs Llama-family models split into layer shards across browser tabs.")
	fmt.Fprintln(w, "\nUsage: tabshard COMMAND [flags]\n\nCommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-12s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'tabshard COMMAND -h' for a command's flags.")
}

// version is set by the linker (-X main.version=...).
var version = "dev"

func runVersion(_ context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("version", flag.ContinueOnError)
	rest, err := parseFlags(fs, e, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usageErr("unexpected argument %q", rest[0])
	}
	fmt.Fprintf(e.stdout, "tabshard %s\n", version)
	return nil
}

// parseFlags parses flags that may come before or after positional
// arguments ("inspect FILE --json") and returns the positional ones.
func parseFlags(fs *flag.FlagSet, e *env, args []string) ([]string, error) {
	fs.SetOutput(e.stderr)
	fs.Usage = func() { commandHelp(fs) }
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, fmt.Errorf("%w: %v", errUsage, err)
		}
		args = fs.Args()
		if len(args) == 0 {
			return positional, nil
		}
		if args[0] == "--" {
			return append(positional, args[1:]...), nil
		}
		positional = append(positional, args[0])
		args = args[1:]
	}
}

// commandHelp prints a command's synopsis, description, example and flags.
func commandHelp(fs *flag.FlagSet) {
	w := fs.Output()
	h := helps[fs.Name()]
	fmt.Fprintf(w, "Usage: tabshard %s %s\n\n", fs.Name(), h.args)
	if h.description != "" {
		fmt.Fprintf(w, "%s\n\n", h.description)
	}
	if h.example != "" {
		fmt.Fprintf(w, "Example:\n  %s\n\n", h.example)
	}
	fmt.Fprintln(w, "Flags:")
	fs.PrintDefaults()
}

func usageErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errUsage, fmt.Sprintf(format, args...))
}

// oneLine keeps an error message to one line.
func oneLine(s string) string { return strings.ReplaceAll(s, "\n", " ") }
