// Command synth writes a synthetic Llama GGUF file with seeded random
// weights (package model/synth), for benchmarks that need a model of a real
// shape and no download:
//
//	go run ./bench/llama2c/synth -out synth110M.gguf [-shape stories110M] [-type f32] [-seed 1]
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/tabshard/tabshard/kernels"
	"github.com/tabshard/tabshard/model/synth"
)

var shapes = map[string]synth.Spec{
	"stories110M": synth.Stories110M,
	"tiny":        synth.Tiny,
}

func main() {
	out := flag.String("out", "", "GGUF file to write")
	shape := flag.String("shape", "stories110M", "model shape: stories110M or tiny")
	typ := flag.String("type", "f32", "weight type: f32 or f16")
	seed := flag.Uint64("seed", 1, "weight seed; the same seed writes the same file")
	flag.Parse()
	if *out == "" || flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(*out, *shape, *typ, *seed); err != nil {
		fmt.Fprintln(os.Stderr, "synth:", err)
		os.Exit(1)
	}
}

func run(out, shape, typ string, seed uint64) error {
	spec, ok := shapes[shape]
	if !ok {
		return fmt.Errorf("unknown shape %q (stories110M, tiny)", shape)
	}
	t, err := kernels.ParseDType(typ)
	if err != nil {
		return err
	}
	spec.Type = t
	if err := synth.Write(out, spec, seed); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "wrote %s: %s, %d parameters, %s\n", out, shape, spec.Params(), strings.ToUpper(typ))
	return nil
}
