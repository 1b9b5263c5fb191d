package planner

import (
	"errors"
	"fmt"

	tabshardv1 "github.com/tabshard/tabshard/proto/tabshard/v1"
)

// MaxPrefillBatch is the most positions a stage runs at once in prefill
// when Options.Batch leaves the choice to the planner. A WebGPU stage's
// prefill submission costs a fixed ~1 ms of host round trip and a few
// microseconds a dispatch (about a hundred a layer) on top of its
// arithmetic, and its batched matvec reads each weight once per 16
// positions whatever the batch; 256 positions make the fixed part a few
// percent of a submission, where 32 left it about half (BENCHMARKS.md: a
// 512-token prompt through ten 70B blocks took 1.10 s at 64 positions a
// submission, 0.60 s at 256 and 0.55 s at 512). Past 256 the activation
// buffers outgrow WebGPU's default 128 MiB binding for Llama-3's
// vocabulary (the logits of 261 positions fill it).
const MaxPrefillBatch = 256

// activationRow is the largest per-position activation buffer a WebGPU
// stage allocates, in bytes: each is one buffer of batch rows that a
// kernel binds whole (the hidden state; q, k and v side by side; the
// gate and up halves side by side; the last stage's logits), so the batch
// times this must fit a binding.
func activationRow(p *profile) (int64, string) {
	c := p.cfg
	rows := []struct {
		name   string
		values int
	}{
		{"hidden state", c.Dim},
		{"q, k and v", c.QDim() + 2*c.KVDim()},
		{"feed-forward halves", 2 * c.FFNDim},
		{"logits", c.Vocab},
	}
	best := rows[0]
	for _, r := range rows[1:] {
		if r.values > best.values {
			best = r
		}
	}
	return 4 * int64(best.values), best.name
}

// autoBatch is the prefill batch a plan gets when Options.Batch is 0:
// MaxPrefillBatch, or fewer where a WebGPU device's binding limit does
// not hold the activations of that many positions; and a note saying
// why when fewer.
func autoBatch(p *profile, devs []device) (int, string) {
	row, name := activationRow(p)
	batch, note := MaxPrefillBatch, ""
	for _, d := range devs {
		if d.backend != tabshardv1.Backend_BACKEND_WEBGPU || d.limit <= 0 {
			continue
		}
		if fit := int(max(1, min(d.limit/row, MaxPrefillBatch))); fit < batch {
			batch = fit
			note = fmt.Sprintf("prefill batch %d, not %d: the %s of a position take %s, and %s binds at most %s",
				fit, MaxPrefillBatch, name, FormatBytes(row), d.id, FormatBytes(d.limit))
		}
	}
	return batch, note
}

// planAutoBatch plans with the batch autoBatch chooses, halving it while
// the activations of that many positions leave no plan that fits the
// devices' memory (down to one position: then the answer is that plan's).
func planAutoBatch(m *Model, devices []*tabshardv1.Device, o Options) (*tabshardv1.Plan, error) {
	o = withBatch(o, MaxPrefillBatch)
	if err := o.Validate(); err != nil {
		return nil, err
	}
	p, err := newProfile(m, o)
	if err != nil {
		return nil, err
	}
	devs, err := resolveDevices(devices, o)
	if err != nil {
		return nil, err
	}
	batch, note := autoBatch(p, devs)
	for {
		plan, err := planWith(m, devices, withBatch(o, batch))
		if err == nil {
			if note != "" {
				plan.Notes = append([]string{note}, plan.Notes...)
			}
			return plan, nil
		}
		if !errors.Is(err, ErrInfeasible) || batch == 1 {
			return nil, err
		}
		batch = max(1, batch/2)
		note = fmt.Sprintf("prefill batch %d, not %d: the activations of more positions leave no plan that fits the devices' memory", batch, MaxPrefillBatch)
	}
}

func withBatch(o Options, b int) Options {
	o.Batch = b
	return o
}
