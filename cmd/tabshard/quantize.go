package main

import (
	"context"

	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/tabshard/tabshard/kernels"
	"github.com/tabshard/tabshard/model"
	"github.com/tabshard/tabshard/model/gguf"
	"github.com/tabshard/tabshard/model/quantize"
	"github.com/tabshard/tabshard/worker"
)

// repeated collects a flag given several times.
type repeated []string

func (r *repeated) String() string     { return strings.Join(*r, ",") }
func (r *repeated) Set(v string) error { *r = append(*r, v); return nil }

// progressFloor is the input size past which quantize reports progress.
const progressFloor = 64 << 20

func runQuantize(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("quantize", flag.ContinueOnError)
	in := fs.String("in", "", "GGUF file to read (required)")
	out := fs.String("out", "", "GGUF file to write (required)")
	policyName := fs.String("policy", "", "policy: "+strings.Join(quantize.Names(), ", ")+" (required)")
	var overrides repeated
	fs.Var(&overrides, "tensor-type", "PATTERN=TYPE: tensors matching PATTERN (e.g. 'blk.*.ffn_down.weight') get TYPE; repeatable")
	rest, err := parseFlags(fs, e, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 || *in == "" || *out == "" || *policyName == "" {
		return usageErr("want --in FILE --out FILE --policy POLICY")
	}
	if same(*in, *out) {
		return usageErr("--out %s would overwrite --in", *out)
	}
	policy, err := buildPolicy(*policyName, overrides)
	if err != nil {
		return err
	}
	if err := checkPolicy(e, *in, policy, *policyName); err != nil {
		return err
	}
	opts := quantize.Options{Policy: policy, Progress: progressPrinter(e, "quantize")}
	sum, err := quantize.Rewrite(ctx, *in, *out, opts)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "wrote %s: %d tensors, %s of tensor data, %.3f bits per weight (%s)\n",
		*out, sum.Tensors, byteSize(sum.Bytes), sum.BitsPerWeight(), typeCounts(sum.ByType))
	return nil
}

// fallbackGroup is the tensors that fell back from one type to another for
// one row length: quantize prints one note per group, not one per tensor.
type fallbackGroup struct {
	from, to kernels.DType
	cols     uint64
}

// checkPolicy prints the policy's fallbacks grouped, and refuses a policy
// none of whose quantized types can be applied to the file: writing it
// would silently give a file of another policy.
func checkPolicy(e *env, in string, policy *quantize.Policy, name string) error {
	f, src, err := gguf.Open(in)
	if err != nil {
		return fmt.Errorf("%s: %w", in, err)
	}
	src.Close()
	groups := map[fallbackGroup][]string{}
	var order []fallbackGroup
	applied := 0
	for _, t := range f.Tensors {
		c := policy.TypeFor(t.Name, t.Dims)
		if c.Type == c.Requested {
			if blockQuantized(c.Requested) {
				applied++
			}
			continue
		}
		g := fallbackGroup{c.Requested, c.Type, t.Dims[0]}
		if groups[g] == nil {
			order = append(order, g)
		}
		groups[g] = append(groups[g], t.Name)
	}
	for _, g := range order {
		fmt.Fprintf(e.stderr, "note: %d tensor(s) with rows of %d use %s instead of %s (rows are not whole %s blocks): %s\n",
			len(groups[g]), g.cols, g.to, g.from, g.from, namesBrief(groups[g], 3))
	}
	if applied == 0 && len(order) > 0 {
		return fmt.Errorf("%w: policy %s cannot be applied to %s: no tensor's rows are whole blocks of its types (see the notes); choose a policy whose types fit, or --tensor-type overrides",
			errUsage, name, in)
	}
	return nil
}

// blockQuantized reports whether t stores blocks of several weights (the
// types a policy can fail to apply), not single floats.
func blockQuantized(t kernels.DType) bool {
	l, err := t.Layout()
	return err == nil && l.BlockElems > 1
}

// namesBrief lists up to n names and how many more there are.
func namesBrief(names []string, n int) string {
	if len(names) <= n {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(names[:n], ", "), len(names)-n)
}

func buildPolicy(name string, overrides []string) (*quantize.Policy, error) {
	policy, err := quantize.Parse(name)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errUsage, err)
	}
	for _, o := range overrides {
		pattern, typ, ok := strings.Cut(o, "=")
		if !ok {
			return nil, usageErr("--tensor-type %q: want PATTERN=TYPE", o)
		}
		if err := policy.Override(pattern, typ); err != nil {
			return nil, fmt.Errorf("%w: %v", errUsage, err)
		}
	}
	return policy, nil
}

// progressPrinter reports every 5 % of a large input on stderr, each line
// starting with what is in progress.
func progressPrinter(e *env, what string) func(done, total int64) {
	last := -1
	return func(done, total int64) {
		if total < progressFloor {
			return
		}
		pct := int(done * 100 / total)
		if pct/5 != last/5 || done == total {
			fmt.Fprintf(e.stderr, "%s: %3d%% (%s of %s)\n", what, pct, byteSize(done), byteSize(total))
			last = pct
		}
	}
}

func same(a, b string) bool {
	if filepath.Clean(a) == filepath.Clean(b) {
		return true
	}
	sa, errA := os.Stat(a)
	sb, errB := os.Stat(b)
	return errA == nil && errB == nil && os.SameFile(sa, sb)
}

func typeCounts(m map[kernels.DType]int) string {
	var parts []string
	for t, n := range m {
		parts = append(parts, fmt.Sprintf("%s×%d", t, n))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

func runEval(_ context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("eval", flag.ContinueOnError)
	cand := fs.String("model", "", "GGUF file to evaluate (required)")
	ref := fs.String("reference", "", "GGUF file it was made from, e.g. the F32 original (required)")
	steps := fs.Int("steps", 200, "length of the reference's greedy text the two are compared on")
	rest, err := parseFlags(fs, e, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 || *cand == "" || *ref == "" {
		return usageErr("want --model FILE --reference FILE")
	}
	r, err := model.Open(*ref)
	if err != nil {
		return err
	}
	defer r.Close()
	c, err := model.Open(*cand)
	if err != nil {
		return err
	}
	defer c.Close()
	if *steps < 2 || *steps > r.Config.ContextLength {
		return usageErr("--steps %d must be in [2,%d]", *steps, r.Config.ContextLength)
	}
	ag, err := evaluate(r, c, *steps)
	if err != nil {
		return err
	}
	st, err := os.Stat(*cand)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "%s: %s, %.3f bits per weight; over %d positions of the reference's greedy text: top-1 agreement %.1f%%, mean KL %.6f nats, max KL %.6f\n",
		*cand, byteSize(st.Size()), bitsPerWeight(c), ag.Positions, 100*ag.Top1Rate(), ag.MeanKL, ag.MaxKL)
	return nil
}

// evaluate generates the reference's greedy text and compares both models
// on it.
func evaluate(r, c *model.Model, steps int) (worker.Agreement, error) {
	rp, err := worker.Load(r, steps)
	if err != nil {
		return worker.Agreement{}, err
	}
	tokens := []int{r.Tokenizer.BOS()}
	err = worker.Generate(context.Background(), rp, worker.GenerateConfig{Prompt: tokens, Steps: steps, Sampler: worker.NewSampler(0, 0, 1), BOS: -1},
		func(ev worker.Event) error {
			if len(tokens) < steps {
				tokens = append(tokens, ev.Next)
			}
			return nil
		})
	if err != nil {
		return worker.Agreement{}, err
	}
	rp, _ = worker.Load(r, steps)
	cp, err := worker.Load(c, steps)
	if err != nil {
		return worker.Agreement{}, err
	}
	return worker.Compare(rp, cp, tokens)
}

func bitsPerWeight(m *model.Model) float64 {
	var bytes, elems int64
	for _, t := range m.File.Tensors {
		bytes += t.Size
		elems += t.Elements()
	}
	if elems == 0 {
		return 0
	}
	return float64(bytes*8) / float64(elems)
}
