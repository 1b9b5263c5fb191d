package modelauth

import (
	"fmt"

	"github.com/tabshard/tabshard/model/gguf"
	"github.com/tabshard/tabshard/worker"
)

// HeaderSlack is how far past the end of the GGUF header a reader may
// read: gguf reads the header through a 64 KiB buffer, whose last fill can
// run past it. A grant covers the header plus this much.
const HeaderSlack = 64 << 10

// StageTensors lists the tensors a stage of range r reads: token_embd on
// the first stage (and on the last when the output head is tied to it),
// the blocks' tensors, output_norm and output on the last, and RoPE
// frequency factors everywhere.
func StageTensors(f *gguf.File, r worker.Range) []*gguf.TensorInfo {
	_, hasOutput := f.Tensor("output.weight")
	var out []*gguf.TensorInfo
	for i := range f.Tensors {
		t := &f.Tensors[i]
		var blk int
		var holds bool
		if _, err := fmt.Sscanf(t.Name, "blk.%d.", &blk); err == nil {
			holds = blk >= r.Begin && blk < r.End
		} else {
			switch t.Name {
			case "token_embd.weight":
				holds = r.First || r.Last && !hasOutput
			case "output_norm.weight", "output.weight":
				holds = r.Last
			case "rope_freqs.weight":
				holds = true
			}
		}
		if holds {
			out = append(out, t)
		}
	}
	return out
}

// StageRanges are the bytes a worker of stage r reads from the file: the
// header (with HeaderSlack) and the stage's tensors.
func StageRanges(f *gguf.File, r worker.Range) []Range {
	rs := []Range{{0, min(f.DataOffset+HeaderSlack, f.Size)}}
	for _, t := range StageTensors(f, r) {
		rs = append(rs, Range{t.Offset, t.Offset + t.Size})
	}
	return Merge(rs)
}
