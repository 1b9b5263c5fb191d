package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/tabshard/tabshard/model/chattemplate"
	"github.com/tabshard/tabshard/model/gguf"
	"github.com/tabshard/tabshard/model/preset"
	"github.com/tabshard/tabshard/model/quantize"
	"github.com/tabshard/tabshard/model/synth"
)

func runSynth(_ context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("synth", flag.ContinueOnError)
	name := fs.String("preset", "", "model shape: "+strings.Join(preset.Names(), ", ")+" (required)")
	policyName := fs.String("policy", preset.DefaultPolicy, "tensor types: "+strings.Join(quantize.Names(), ", "))
	out := fs.String("out", "", "GGUF file to write (required)")
	weights := fs.String("weights", "zero", "zero (stored sparsely: no disk for a 40 GB model), random (drawn here and stored) or seeded (stored sparsely; readers and GPUs generate the weights from --seed)")
	seed := fs.Uint64("seed", 1, "seed of random or seeded weights")
	chat := fs.String("chat-template", "", "a Jinja chat template file to write as tokenizer.chat_template")
	layers := fs.Int("layers", 0, "keep only the first N blocks of the preset (0: all): a file the size of one stage of a large model, e.g. --preset llama-3-70b --layers 10 --weights random")
	rest, err := parseFlags(fs, e, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 || *name == "" || *out == "" {
		return usageErr("want --preset NAME --out FILE")
	}
	p, err := preset.Lookup(*name)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if p, err = withLayers(p, *layers); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	pol, err := quantize.Parse(*policyName)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	w, err := synth.ParseWeights(*weights)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	var extra []gguf.KV
	if *chat != "" {
		src, err := os.ReadFile(*chat)
		if err != nil {
			return fmt.Errorf("%w: %v", errUsage, err)
		}
		if _, err := chattemplate.Parse(string(src), "", ""); err != nil {
			return fmt.Errorf("%w: %s: %v", errUsage, *chat, err)
		}
		extra = append(extra, gguf.KV{Key: chattemplate.MetadataKey, Value: gguf.String(string(src))})
	}
	notes, err := synth.WritePresetProgress(*out, p, pol, w, *seed, progressPrinter(e, "synth"), extra...)
	if err != nil {
		return err
	}
	for _, n := range notes {
		fmt.Fprintln(e.stderr, "note:", n)
	}
	fmt.Fprintf(e.stdout, "wrote %s: %s at %s, %s weights\n", *out, p.Name, pol.Name, *weights)
	return nil
}

// withLayers is p cut to its first n blocks (n 0: p itself).
func withLayers(p *preset.Preset, n int) (*preset.Preset, error) {
	switch {
	case n == 0:
		return p, nil
	case n < 0 || n > p.Layers:
		return nil, fmt.Errorf("--layers %d: %s has blocks 1 to %d", n, p.Name, p.Layers)
	}
	cut := *p
	cut.Layers = n
	return &cut, nil
}
