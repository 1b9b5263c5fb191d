package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/tabshard/tabshard/kernels"
	"github.com/tabshard/tabshard/model"
	"github.com/tabshard/tabshard/model/preset"
	"github.com/tabshard/tabshard/model/quantize"
	"github.com/tabshard/tabshard/planner"
	tabshardv1 "github.com/tabshard/tabshard/proto/tabshard/v1"
)

// planFlags are the flags of `tabshard plan`.
type planFlags struct {
	model, devices, kvType, actType string
	context, window                 int
	standby, batch, stages          int
	sessions                        int
	json                            bool
}

func runPlan(_ context.Context, e *env, args []string) error {
	f, err := parsePlanFlags(e, args)
	if err != nil {
		return err
	}
	src, err := openPlanModel(f.model)
	if err != nil {
		return err
	}
	defer src.close()
	devs, err := readDevices(f.devices)
	if err != nil {
		return err
	}
	o, err := f.options()
	if err != nil {
		return err
	}
	plan, err := planner.Plan(src.model, devs, o)
	var ie *planner.InfeasibleError
	switch {
	case errors.As(err, &ie):
		ie.Hints = src.policyHints(devs, o)
		return &exitError{msg: infeasibleText(ie)}
	case errors.Is(err, planner.ErrModel) || errors.Is(err, planner.ErrDevice) || errors.Is(err, planner.ErrOptions):
		return usageErr("%v", err)
	case err != nil:
		return err
	}
	if f.json {
		out, err := protojson.MarshalOptions{Multiline: true, Indent: "  ", UseProtoNames: true, EmitUnpopulated: true}.Marshal(plan)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(e.stdout, string(out))
		return err
	}
	_, err = fmt.Fprint(e.stdout, planner.Table(plan))
	return err
}

func parsePlanFlags(e *env, args []string) (*planFlags, error) {
	f := &planFlags{}
	fs := flag.NewFlagSet("plan", flag.ContinueOnError)
	fs.StringVar(&f.model, "model", "", "a GGUF file or a preset, each with an optional quantization policy: FILE[:POLICY] or PRESET[:POLICY]\n(presets: "+strings.Join(preset.Names(), ", ")+"; policies: "+strings.Join(quantize.Names(), ", ")+"; a preset alone is "+preset.DefaultPolicy+")")
	fs.StringVar(&f.devices, "devices", "", "the devices in pipeline order: NxSIZE[:cpu][:bw=RATE][:binding=SIZE][:buffer=SIZE][:lat=MS][:link=RATE],…\n(e.g. 8x4GiB or 4x8GiB,2x2GiB:cpu) or a JSON file of tabshard.v1 devices")
	fs.IntVar(&f.context, "context", 0, "positions the KV cache holds (0: the model's context length, at most 4096)")
	fs.IntVar(&f.sessions, "max-sessions", 1, "sessions whose KV caches each stage holds at once (each of --context positions)")
	fs.StringVar(&f.actType, "activation-type", "f32", "type hidden states travel between stages as: f32 (exact) or f16 (half the bytes)")
	fs.StringVar(&f.kvType, "kv-type", "f32", "KV cache type: f32 (every backend), or f16 / q8_0 (half or about a quarter of the memory; CPU workers only)")
	fs.IntVar(&f.window, "sliding-window", 0, "attend to the last N positions only, which shrinks the KV cache (0: the model's window)")
	fs.IntVar(&f.standby, "standby", 0, "standby devices for every stage")
	fs.IntVar(&f.stages, "stages", 0, "exactly this many stages (0: as many as the fastest plan uses)")
	fs.IntVar(&f.batch, "batch", planner.DefaultOptions().Batch, "positions a stage runs at once in prefill (sizes the activation buffers; 0: the planner chooses, 256 or fewer as the devices' limits require)")
	fs.BoolVar(&f.json, "json", false, "print the tabshard.v1.Plan as JSON")
	rest, err := parseFlags(fs, e, args)
	switch {
	case err != nil:
		return nil, err
	case len(rest) > 0:
		return nil, usageErr("unexpected argument %q", rest[0])
	case f.model == "":
		return nil, usageErr("--model is required: a GGUF file or a preset (%s)", strings.Join(preset.Names(), ", "))
	case f.devices == "":
		return nil, usageErr("--devices is required, e.g. --devices 8x4GiB")
	}
	return f, nil
}

// options turns the flags into planner options.
func (f *planFlags) options() (planner.Options, error) {
	o := planner.DefaultOptions()
	t, err := parseKVType(f.kvType)
	if err != nil {
		return o, err
	}
	if o.ActivationType, err = parseActivationType(f.actType); err != nil {
		return o, err
	}
	o.KVType, o.Context, o.SlidingWindow, o.Standby, o.Batch, o.Stages, o.Sessions = t, f.context, f.window, f.standby, f.batch, f.stages, f.sessions
	if err := o.Validate(); err != nil {
		return o, usageErr("%v", err)
	}
	return o, nil
}

// parseKVType reads --kv-type. Its type is checked against the KV cache
// types later (planner.Options.Validate, coordinator.Config.Validate),
// which name the ones allowed.
func parseKVType(s string) (kernels.DType, error) {
	t, err := kernels.ParseDType(s)
	if err != nil {
		return t, usageErr("--kv-type %q: want f32, f16 or q8_0", s)
	}
	return t, nil
}

// parseActivationType reads --activation-type (checked against the
// types allowed later, as --kv-type is).
func parseActivationType(s string) (kernels.DType, error) {
	t, err := kernels.ParseDType(s)
	if err != nil {
		return t, usageErr("--activation-type %q: want f32 or f16", s)
	}
	return t, nil
}

// planSource is the model to plan and how to plan it with other types.
type planSource struct {
	model *planner.Model
	// retype is the model under another policy.
	retype func(*quantize.Policy) *planner.Model
	close  func()
}

// openPlanModel reads --model: an existing file, a file with ":POLICY",
// or a preset with an optional policy.
func openPlanModel(arg string) (*planSource, error) {
	if isFile(arg) {
		return openFileModel(arg, nil)
	}
	if i := strings.LastIndex(arg, ":"); i > 0 && isFile(arg[:i]) {
		pol, err := quantize.Parse(arg[i+1:])
		if err != nil {
			return nil, usageErr("--model %s: %v", arg, err)
		}
		return openFileModel(arg[:i], pol)
	}
	if strings.ContainsRune(arg, os.PathSeparator) || strings.HasSuffix(arg, ".gguf") {
		return nil, fmt.Errorf("--model %s: no such file", arg)
	}
	p, pol, err := preset.Parse(arg)
	if err != nil {
		return nil, usageErr("--model %s is neither a file nor a preset: %v", arg, err)
	}
	retype := func(q *quantize.Policy) *planner.Model { return planner.FromPreset(p, q) }
	return &planSource{model: retype(pol), retype: retype, close: func() {}}, nil
}

func isFile(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular()
}

func openFileModel(path string, pol *quantize.Policy) (*planSource, error) {
	m, err := model.Open(path)
	if err != nil {
		return nil, err
	}
	name := filepath.Base(path)
	retype := func(q *quantize.Policy) *planner.Model { return planner.FromFile(name, m, q) }
	return &planSource{model: retype(pol), retype: retype, close: func() { m.Close() }}, nil
}

// readDevices reads --devices: a JSON file, or the compact form.
func readDevices(arg string) ([]*tabshardv1.Device, error) {
	if strings.HasSuffix(arg, ".json") || isFile(arg) {
		data, err := os.ReadFile(arg)
		if err != nil {
			return nil, err
		}
		devs, err := planner.ParseDevicesJSON(data)
		if err != nil {
			return nil, usageErr("--devices %s: %v", arg, err)
		}
		return devs, nil
	}
	devs, err := planner.ParseDevices(arg)
	if err != nil {
		return nil, usageErr("--devices: %v", err)
	}
	return devs, nil
}

// policyHints names the policies with fewer bytes of weights under which
// the model fits, the largest first.
func (s *planSource) policyHints(devs []*tabshardv1.Device, o planner.Options) []string {
	current := totalBytes(s.model)
	type option struct {
		name  string
		model *planner.Model
		bytes int64
	}
	var opts []option
	for _, name := range quantize.Names() {
		pol, _ := quantize.Parse(name)
		m := s.retype(pol)
		if b := totalBytes(m); b < current {
			opts = append(opts, option{name, m, b})
		}
	}
	slices.SortFunc(opts, func(a, b option) int { return int(b.bytes - a.bytes) })
	for _, opt := range opts {
		if _, err := planner.Plan(opt.model, devs, o); err == nil {
			return []string{fmt.Sprintf("fewer bits per weight: --model %s (%s of weights)", opt.model.Name, planner.FormatBytes(opt.bytes))}
		}
	}
	return nil
}

// totalBytes is the size of a model's tensors.
func totalBytes(m *planner.Model) int64 {
	var n int64
	for _, t := range m.Tensors {
		rb, _ := t.Type.RowBytes(int64(t.Dims[0]))
		for _, d := range t.Dims[1:] {
			rb *= int64(d)
		}
		n += rb
	}
	return n
}

// infeasibleText explains an infeasible plan over a few lines.
func infeasibleText(e *planner.InfeasibleError) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s does not fit on %d device(s): %s", e.Model, e.Devices, e.Reason)
	if e.ShortBytes > 0 {
		fmt.Fprintf(&b, "\n  short by %s (%d bytes)", planner.FormatBytes(e.ShortBytes), e.ShortBytes)
	}
	if e.NeedBytes > 0 {
		fmt.Fprintf(&b, "; the model needs at least %s, the devices offer %s", planner.FormatBytes(e.NeedBytes), planner.FormatBytes(e.HaveBytes))
	}
	if fixes := e.Fixes(); len(fixes) > 0 {
		b.WriteString("\n  it would fit with:")
		for _, f := range fixes {
			b.WriteString("\n    - " + f)
		}
	}
	return b.String()
}

// exitError is an error that exits with status 2 and prints as it is.
type exitError struct{ msg string }

func (e *exitError) Error() string { return e.msg }
func (e *exitError) Unwrap() error { return errUsage }
