package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/tabshard/tabshard/model"
	"github.com/tabshard/tabshard/model/bundled"
	"github.com/tabshard/tabshard/worker"
)

type generateFlags struct {
	model       string
	prompt      string
	steps       int
	temperature float64
	topP        float64
	seed        uint64
	ids         bool
}

func runGenerate(ctx context.Context, e *env, args []string) error {
	var g generateFlags
	fs := flag.NewFlagSet("generate", flag.ContinueOnError)
	fs.StringVar(&g.model, "model", "", "GGUF model file (default: the bundled "+bundled.Name+")")
	fs.StringVar(&g.prompt, "prompt", "", "text to start from")
	fs.IntVar(&g.steps, "steps", 256, "positions to run from BOS, prompt included (0 or more than the context: the context length)")
	fs.Float64Var(&g.temperature, "temperature", 1.0, "sampling temperature; 0 is greedy")
	fs.Float64Var(&g.topP, "top-p", 0.9, "nucleus sampling threshold in [0,1]; 0 or 1 samples the whole distribution")
	fs.Uint64Var(&g.seed, "seed", 0, "random seed (0: from the clock)")
	fs.BoolVar(&g.ids, "ids", false, "print the generated token ids instead of text")
	rest, err := parseFlags(fs, e, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usageErr("unexpected argument %q", rest[0])
	}
	if err := g.validate(); err != nil {
		return err
	}
	m, err := openModel(g.model)
	if err != nil {
		return err
	}
	defer m.Close()
	return generate(ctx, e, m, g)
}

func (g *generateFlags) validate() error {
	switch {
	case g.steps < 0:
		return usageErr("--steps %d is negative", g.steps)
	case g.temperature < 0 || math.IsNaN(g.temperature) || math.IsInf(g.temperature, 0):
		return usageErr("--temperature %g must be 0 or more", g.temperature)
	case !(g.topP >= 0 && g.topP <= 1):
		return usageErr("--top-p %g must be in [0,1]", g.topP)
	}
	if g.seed == 0 {
		g.seed = uint64(time.Now().Unix())
	}
	return nil
}

// openModel opens path, or the bundled model when path is empty.
func openModel(path string) (*model.Model, error) {
	if path == "" {
		return bundled.Open()
	}
	return model.Open(path)
}

func generate(ctx context.Context, e *env, m *model.Model, g generateFlags) error {
	cfg := m.Config
	steps := g.steps
	if steps == 0 || steps > cfg.ContextLength {
		steps = cfg.ContextLength
	}
	prompt := m.Tokenizer.Encode(g.prompt)
	if len(prompt) > cfg.ContextLength {
		return fmt.Errorf("prompt of %d tokens is longer than the context length %d", len(prompt), cfg.ContextLength)
	}
	p, err := worker.Load(m, min(cfg.ContextLength, max(steps, len(prompt))))
	if err != nil {
		return err
	}
	out := bufio.NewWriter(e.stdout)
	defer out.Flush()
	printer := newTextPrinter(out, m)
	var sampled []string
	st := stats{start: time.Now()}
	sampler := worker.NewSampler(float32(g.temperature), float32(g.topP), g.seed)
	err = worker.Generate(ctx, p, worker.GenerateConfig{Prompt: prompt, Steps: steps, Sampler: sampler, BOS: m.Tokenizer.BOS()},
		func(ev worker.Event) error {
			st.observe(ev)
			if g.ids {
				if !ev.Forced {
					sampled = append(sampled, strconv.Itoa(ev.Next))
				}
				return nil
			}
			printer.print(ev.Token, ev.Next)
			return out.Flush()
		})
	if err != nil {
		return err
	}
	if g.ids {
		fmt.Fprintln(out, strings.Join(sampled, " "))
	} else {
		printer.finish()
		fmt.Fprintln(out)
	}
	st.report(e.stderr, len(prompt), g.seed)
	return nil
}

// textPrinter writes each new token's piece as llama2.c's run.c prints it,
// except that bytes of multi-byte UTF-8 characters are assembled rather
// than dropped.
type textPrinter struct {
	w       io.Writer
	m       *model.Model
	pending []byte
}

func newTextPrinter(w io.Writer, m *model.Model) *textPrinter { return &textPrinter{w: w, m: m} }

func (p *textPrinter) print(prev, next int) {
	piece := p.m.Tokenizer.Piece(prev, next)
	if len(piece) == 1 && piece[0] < 0x80 && !printable(piece[0]) {
		return // run.c's safe_printf drops control bytes
	}
	p.pending = append(p.pending, piece...)
	n := completeUTF8(p.pending)
	p.w.Write(p.pending[:n])
	p.pending = append(p.pending[:0], p.pending[n:]...)
}

// finish writes what remains of an incomplete character.
func (p *textPrinter) finish() {
	if len(p.pending) > 0 {
		p.w.Write([]byte(strings.ToValidUTF8(string(p.pending), "\uFFFD")))
		p.pending = p.pending[:0]
	}
}

func printable(b byte) bool {
	return (b >= 0x20 && b < 0x7f) || b == '\t' || b == '\n' || b == '\v' || b == '\f' || b == '\r'
}

// completeUTF8 is the length of the longest prefix of b that does not end
// in the middle of a UTF-8 sequence that could still be completed.
func completeUTF8(b []byte) int {
	for back := 1; back <= 3 && back <= len(b); back++ {
		c := b[len(b)-back]
		if c < 0x80 {
			return len(b)
		}
		if c >= 0xC0 { // a lead byte: is its sequence complete?
			need := 2
			if c >= 0xF0 {
				need = 4
			} else if c >= 0xE0 {
				need = 3
			}
			if back < need {
				return len(b) - back
			}
			return len(b)
		}
	}
	return len(b)
}

// stats measures time to first token and decode speed for stderr.
type stats struct {
	start, first, last time.Time
	sampled            int
}

func (s *stats) observe(ev worker.Event) {
	if ev.Forced {
		return
	}
	now := time.Now()
	if s.sampled == 0 {
		s.first = now
	}
	s.last = now
	s.sampled++
}

func (s *stats) report(w io.Writer, promptTokens int, seed uint64) {
	if s.sampled == 0 {
		fmt.Fprintf(w, "prompt %d tokens, nothing generated\n", promptTokens)
		return
	}
	ttft := s.first.Sub(s.start)
	rate := 0.0
	if s.sampled > 1 {
		rate = float64(s.sampled-1) / s.last.Sub(s.first).Seconds()
	}
	fmt.Fprintf(w, "prompt %d tokens, generated %d, time to first token %.1f ms, decode %.1f tokens/s, seed %d\n",
		promptTokens, s.sampled, float64(ttft.Microseconds())/1000, rate, seed)
}
