package wgsl

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/tabshard/tabshard/kernels"
)

// MatVecShape is how a matvec spreads its work: WG invocations per
// workgroup, TPR of them per row (a power of two dividing WG), RT rows
// interleaved per invocation. A workgroup covers (WG/TPR)*RT rows.
// Prefetch issues each unit's loads one iteration ahead (software
// pipelining: two units in flight per invocation and row).
type MatVecShape struct {
	WG, TPR, RT int
	Prefetch    bool
}

// RowsPerWorkgroup is the rows one workgroup covers.
func (s MatVecShape) RowsPerWorkgroup() int { return s.WG / s.TPR * s.RT }

// Validate checks the shape's fields against each other.
func (s MatVecShape) Validate() error {
	pow2 := func(v int) bool { return v > 0 && v&(v-1) == 0 }
	if !pow2(s.WG) || !pow2(s.TPR) || s.TPR > s.WG || s.WG > 1024 || s.RT < 1 || s.RT > 16 {
		return fmt.Errorf("%w: matvec shape WG %d, TPR %d, RT %d", ErrUnsupported, s.WG, s.TPR, s.RT)
	}
	return nil
}

// DefaultMatVecShape picks a shape for rows rows of units units, read
// by the planar kernels (planar) or directly. Long planar rows (units >=
// 128) take 32 invocations (one subgroup on NVIDIA) in workgroups of 64,
// 4 rows interleaved and the next unit prefetched: the best of the shapes
// measured on an H200 (BENCHMARKS.md; gpu.BenchmarkMatVec with
// TABSHARD_MATVEC). Long direct rows take 64 invocations each, in
// workgroups of 128, with up to 8 rows interleaved per invocation so that
// each x value loaded serves several rows. Short rows get about four
// units per invocation, from 4 to 64 invocations, in workgroups of at
// least 64: a workgroup barrier costs in proportion to the invocations it
// waits for (on SwiftShader a 256-wide workgroup of a 64-column matrix
// took milliseconds).
func DefaultMatVecShape(units, rows int, planar bool) MatVecShape {
	if units >= 128 && planar {
		return MatVecShape{WG: 64, TPR: 32, RT: 4, Prefetch: true}
	}
	if units >= 128 {
		rt := 1
		for rt < 8 && rows >= 1024*rt {
			rt *= 2
		}
		return MatVecShape{WG: 128, TPR: 64, RT: rt}
	}
	tpr := 4
	for tpr < 64 && tpr*4 < units {
		tpr *= 2
	}
	return MatVecShape{WG: max(64, tpr), TPR: tpr, RT: 1}
}

// usesSubgroups says whether the matvec reduction can use subgroupAdd:
// each row's TPR invocations must be whole subgroups.
func (d Device) usesSubgroups(tpr int) bool {
	return d.Subgroups && d.SubgroupMaxSize > 0 && tpr%d.SubgroupMaxSize == 0
}

// MatVec is the matrix-vector kernel for rows of cols values of type t,
// held split or not (Split), reading x in mode x (see ResolveXMode).
// Bindings: 0 weights (one row chunk), 1 x (f32, or Prep's planes), 2 y,
// 3 MatVec params, 4 Step.
func MatVec(t kernels.DType, cols int, split bool, x XMode, s MatVecShape, d Device) (string, error) {
	if err := s.Validate(); err != nil {
		return "", err
	}
	block, span, err := weightBlock(t, cols, split, x)
	if err != nil {
		return "", err
	}
	sg := d.usesSubgroups(s.TPR)
	body := src("matvec.wgsl")
	reduce := src("reduce_wg.wgsl")
	if sg {
		reduce = src("reduce_sg.wgsl")
		body = strings.NewReplacer(
			"SUBGROUP_ARGS", ",\n        @builtin(subgroup_size) sgs: u32, @builtin(subgroup_invocation_id) sgi: u32",
			"SUBGROUP_SIZE", "sgs", "SUBGROUP_ID", "sgi").Replace(body)
	} else {
		body = strings.NewReplacer("SUBGROUP_ARGS", "", "SUBGROUP_SIZE", "0u", "SUBGROUP_ID", "0u").Replace(body)
	}
	// A unit of several prepared units keeps enough loads in flight on its
	// own: prefetching a second would double its registers.
	pf := s.Prefetch && span == 1
	return join(header(sg, "WG", s.WG, "TPR", s.TPR, "RT", s.RT, "PF", b2i(pf), "SPAN", span),
		src("weights.wgsl"), src("common.wgsl"), block, src("step.wgsl"), reduce, unroll(body, s.RT)), nil
}

// unroll expands each line holding "//@NAME code" into rt copies of code
// with $ replaced by 0, 1, …, rt-1.
func unroll(body string, rt int) string {
	lines := strings.Split(body, "\n")
	var out []string
	for _, l := range lines {
		i := strings.Index(l, "//@")
		if i < 0 {
			out = append(out, l)
			continue
		}
		indent := l[:i]
		_, code, _ := strings.Cut(l[i+3:], " ")
		for r := range rt {
			out = append(out, indent+strings.ReplaceAll(code, "$", strconv.Itoa(r)))
		}
	}
	return strings.Join(out, "\n")
}

func xBlock(vec4 bool) string {
	if vec4 {
		return src("x_vec4.wgsl")
	}
	return src("x_scalar.wgsl")
}

// MatMul is the tiled matrix-matrix kernel (prefill) for rows of cols
// values of type t, held split or not. Bindings as MatVec's, with MatMul params.
func MatMul(t kernels.DType, cols int, split bool) (string, error) {
	file, _, err := typeBlock(t, cols, split)
	if err != nil {
		return "", err
	}
	return join(header(false), src("weights.wgsl"), xBlock(false), src("common.wgsl"), deqSrc(file, split),
		src("step.wgsl"), src("matmul.wgsl")), nil
}

// MatMulTile is the rows × tokens tile one MatMul workgroup computes.
const MatMulTile = 64

// Embed is the embedding-lookup kernel for rows of cols values of type t,
// held split or not.
// Bindings: 0 weights (one row chunk), 1 tokens, 2 y, 3 Embed params,
// 4 Step.
func Embed(t kernels.DType, cols int, split bool) (string, error) {
	file, _, err := typeBlock(t, cols, split)
	if err != nil {
		return "", err
	}
	return join(header(false), src("weights.wgsl"), src("x_none.wgsl"), src("common.wgsl"), deqSrc(file, split), src("step.wgsl"), src("embed.wgsl")), nil
}

// deqSrc is a type file for the kernels that only dequantize, with the
// split layout's helpers when split.
func deqSrc(file string, split bool) string {
	if split {
		return join(src("split.wgsl"), typeSrc(file))
	}
	return typeSrc(file)
}

// typeDeps are the helper files a type file needs before it.
var typeDeps = map[string]string{"type_q4_k.wgsl": "kq_scales.wgsl", "type_q5_k.wgsl": "kq_scales.wgsl",
	"type_iq4_nl.wgsl": "iq4_lut.wgsl", "type_iq4_xs.wgsl": "iq4_lut.wgsl"}

// typeSrc is a type file with its helpers.
func typeSrc(file string) string {
	if dep, ok := typeDeps[file]; ok {
		return join(src(dep), src(file))
	}
	return src(file)
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// weightBlock is the WGSL that reads rows of cols values of type t, held
// split or not, with x read in the mode ResolveXMode gives for x: the
// type's block and x's, or the planar int8 block; and how many prepared
// x units each of its units covers (SPAN, 1 but for KUnit).
func weightBlock(t kernels.DType, cols int, split bool, x XMode) (string, int, error) {
	file, vec4, err := typeBlock(t, cols, split)
	if err != nil {
		return "", 0, err
	}
	mode, err := ResolveXMode(t, cols, split, x)
	if err != nil {
		return "", 0, err
	}
	if mode != XDirect {
		n, err := span(t, mode)
		if err != nil {
			return "", 0, err
		}
		return planarBlock(t, split, mode, n), n, nil
	}
	return join(xBlock(vec4), typeSrc(file)), 1, nil
}
