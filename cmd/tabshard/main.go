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

func runVersion(_ context.Context, e *env, _ []string) error {
	fmt.Fprintf(e.stdout, "tabshard %s\n", version)
	return nil
}

// parseFlags parses flags that may come before or after positional
// arguments ("inspect FILE --json") and returns the positional ones.
func parseFlags(fs *flag.FlagSet, e *env, args []string) ([]string, error) {
	fs.SetOutput(e.stderr)
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

func usageErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errUsage, fmt.Sprintf(format, args...))
}

// oneLine keeps an error message to one line.
func oneLine(s string) string { return strings.ReplaceAll(s, "\n", " ") }
