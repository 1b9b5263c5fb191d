package wgsl

import (
	"fmt"
	"strings"

	"github.com/tabshard/tabshard/kernels"
)

// BatchShape is how a batched matvec spreads its work: a MatVecShape,
// whose TPR must be the matvec's for the same tensor (a column's
// per-invocation sums and their reduction are then the matvec's, bit for
// bit), and CB columns per workgroup, each weight unit loaded once for
// all of them. Kernel picks the kernel: BatchTile (matvec_tile.wgsl,
// whose WG may exceed the matvec's: more rows a workgroup share each x
// value staged) or BatchRows (matvec_batch.wgsl). NoStage has the tile
// kernel's invocations load x themselves, and Prefetch (of the tile
// kernel) has them load the next chunk of x to stage before the current
// one's arithmetic (measurements).
type BatchShape struct {
	MatVecShape
	CB      int
	Kernel  BatchKernel
	NoStage bool
}

// maxBatchShared is the workgroup memory the batched matvec's reduction
// may take: WebGPU's guaranteed minimum of maxComputeWorkgroupStorageSize.
const maxBatchShared = 16 << 10

// Validate checks the shape's fields against each other.
func (s BatchShape) Validate() error {
	if err := s.MatVecShape.Validate(); err != nil {
		return err
	}
	bad := s.CB < 1 || s.CB > 32
	switch s.Kernel {
	case BatchRows:
		bad = bad || 4*s.WG*s.RT*s.CB > maxBatchShared
	case BatchTile:
		bad = bad || s.RT*s.CB > maxTileAccumulators
	default:
		bad = true
	}
	if bad {
		return fmt.Errorf("%w: %v batched matvec of WG %d, RT %d, CB %d", ErrUnsupported, s.Kernel, s.WG, s.RT, s.CB)
	}
	return nil
}

// DefaultBatchShape is kernel k's shape beside the matvec shape mv. The
// tile kernel's: the same TPR, 4 rows an invocation, 8 columns a
// workgroup (32 accumulators: about 110 registers with Q4_0, two
// workgroups an NVIDIA SM, one's barriers hidden by the other's work),
// and workgroups of 8 rows' invocations (up to 256), so that each x unit
// staged serves 32 rows at TPR 32. The rows kernel's: the same WG and
// TPR, at most 2 rows interleaved and 16 columns, within the reduction's
// workgroup memory.
func DefaultBatchShape(mv MatVecShape, k BatchKernel) BatchShape {
	if k == BatchTile {
		return BatchShape{MatVecShape: MatVecShape{WG: max(mv.WG, min(256, 8*mv.TPR)), TPR: mv.TPR, RT: 4}, CB: 8}
	}
	s := BatchShape{MatVecShape: MatVecShape{WG: mv.WG, TPR: mv.TPR, RT: min(mv.RT, 2)}, CB: 16, Kernel: k}
	for 4*s.WG*s.RT*s.CB > maxBatchShared {
		if s.RT > 1 {
			s.RT /= 2
		} else {
			s.CB /= 2
		}
	}
	return s
}

// MatVecBatch is the batched matvec for rows of cols values of type t,
// held split or not, reading x in mode x (see ResolveXMode) as MatVec
// does: the same type blocks, bindings and parameters; workgroups
// numbered across s.RowsPerWorkgroup() rows and groups of s.CB columns
// (which of the two first is the kernel's business).
func MatVecBatch(t kernels.DType, cols int, split bool, x XMode, s BatchShape, d Device) (string, error) {
	if err := s.Validate(); err != nil {
		return "", err
	}
	if s.Kernel == BatchTile {
		return matVecTile(t, cols, split, x, s, d)
	}
	block, span, err := weightBlock(t, cols, split, x)
	if err != nil {
		return "", err
	}
	sg := d.usesSubgroups(s.TPR)
	body := strings.Replace(src("matvec_batch.wgsl"), "BATCH_BODY", batchBody(s, sg), 1)
	args := ""
	if sg {
		args = ",\n        @builtin(subgroup_size) sgs: u32, @builtin(subgroup_invocation_id) sgi: u32"
	}
	body = strings.Replace(body, "SUBGROUP_ARGS", args, 1)
	return join(header(sg, "WG", s.WG, "TPR", s.TPR, "RT", s.RT, "CB", s.CB, "SPAN", span),
		src("weights.wgsl"), src("common.wgsl"), block, src("step.wgsl"), body), nil
}

// batchBody is the batched matvec's main after its prologue: RT×CB
// accumulators a<r>_<c>, the loop over units, the reduction and stores,
// unrolled (constant names, never an indexed array, so they stay in
// registers).
func batchBody(s BatchShape, sg bool) string {
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, "  "+format+"\n", a...) }
	each := func(f func(r, c, k int)) {
		for r := range s.RT {
			for c := range s.CB {
				f(r, c, r*s.CB+c)
			}
		}
	}
	for c := range s.CB {
		p("let xr%d = P.x_off + min(col0 + %du, S.n - 1u) * P.x_stride;", c, c)
	}
	for r := range s.RT {
		p("let wb%d = min(first + %du, last) * P.row_bytes;", r, r)
	}
	each(func(r, c, _ int) { p("var a%d_%d = 0.0;", r, c) })
	p("for (var u = lane; u < P.units / SPAN; u += TPR) {")
	for r := range s.RT {
		p("  let w%d = unit_load(wb%d, u);", r, r)
	}
	for c := range s.CB {
		p("  {")
		p("    let x = load_x(u, xr%d);", c)
		for r := range s.RT {
			p("    a%d_%d += unit_dot(w%d, u, x);", r, c, r)
		}
		p("  }")
	}
	p("}")
	n := s.RT * s.CB
	if sg {
		// reduce_sg.wgsl's row_sum for every accumulator at once.
		each(func(r, c, _ int) { p("let t%d_%d = subgroupAdd(a%d_%d);", r, c, r, c) })
		p("if (sgi == 0u) {")
		each(func(r, c, k int) { p("  red[(li / sgs) * %du + %du] = t%d_%d;", n, k, r, c) })
		p("}")
		p("workgroupBarrier();")
		p("let per = TPR / sgs;")
		p("let base = (li / TPR) * per;")
		each(func(r, c, _ int) { p("var s%d_%d = 0.0;", r, c) })
		p("for (var k = 0u; k < per; k++) {")
		each(func(r, c, k int) { p("  s%d_%d += red[(base + k) * %du + %du];", r, c, n, k) })
		p("}")
		each(func(r, c, _ int) { p("store(s%d_%d, lane, col0 + %du, first + %du);", r, c, c, r) })
		return b.String()
	}
	// reduce_wg.wgsl's row_sum for every accumulator at once.
	each(func(r, c, k int) { p("red[%du * WG + li] = a%d_%d;", k, r, c) })
	p("workgroupBarrier();")
	p("for (var st = TPR / 2u; st > 0u; st >>= 1u) {")
	p("  if (lane < st) {")
	each(func(_, _, k int) { p("    red[%du * WG + li] += red[%du * WG + li + st];", k, k) })
	p("  }")
	p("  workgroupBarrier();")
	p("}")
	each(func(r, c, k int) { p("store(red[%du * WG + li - lane], lane, col0 + %du, first + %du);", k, c, r) })
	return b.String()
}
