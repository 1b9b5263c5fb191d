package wgsl

import (
	"fmt"
	"strings"

	"github.com/tabshard/tabshard/kernels"
)

// BatchKernel is which batched matvec kernel a BatchShape asks for. Both
// give each vector the one-vector matvec's result bit for bit.
type BatchKernel int

const (
	// BatchTile is matvec_tile.wgsl: workgroups of many rows share x
	// staged in workgroup memory (the default).
	BatchTile BatchKernel = iota
	// BatchRows is matvec_batch.wgsl, the first batched kernel: each
	// invocation loads x from memory for its RT rows (kept for A/B
	// measurements).
	BatchRows
)

var batchKernelNames = []string{"tile", "old"}

func (k BatchKernel) String() string {
	if k >= 0 && int(k) < len(batchKernelNames) {
		return batchKernelNames[k]
	}
	return fmt.Sprintf("BatchKernel(%d)", int(k))
}

// ParseBatchKernel is the kernel named s (as String writes it; "" is
// the default).
func ParseBatchKernel(s string) (BatchKernel, error) {
	if s == "" {
		return BatchTile, nil
	}
	for i, n := range batchKernelNames {
		if n == s {
			return BatchKernel(i), nil
		}
	}
	return BatchTile, fmt.Errorf("%w: batched matvec kernel %q (tile or old)", ErrUnsupported, s)
}

// maxTileAccumulators bounds RT×CB of the tile kernel: accumulators
// live in registers.
const maxTileAccumulators = 64

// minWorkgroupStorage is WebGPU's guaranteed maxComputeWorkgroupStorageSize.
const minWorkgroupStorage = 16 << 10

// minSubgroup is the smallest subgroup WebGPU allows: the subgroup
// reduction keeps one slot per subgroup.
const minSubgroup = 4

// tilePlan is how the tile kernel of a shape uses workgroup memory: x
// staged CS columns at a time (0: each invocation loads x itself),
// accumulators reduced RC columns at a time through RED floats.
type tilePlan struct {
	cs, rc, red int
}

// planTile fits the tile kernel of s into budget bytes of workgroup
// memory, x units of xu bytes (0: x is not staged).
func planTile(s BatchShape, xu int, sg bool, budget int) (tilePlan, error) {
	slots := s.WG
	if sg {
		slots = s.WG / minSubgroup
	}
	redBytes := func(rc int) int { return 4 * slots * s.RT * rc }
	if redBytes(1) > budget {
		return tilePlan{}, fmt.Errorf("%w: tiled batched matvec of WG %d, RT %d in %d bytes of workgroup memory", ErrUnsupported, s.WG, s.RT, budget)
	}
	var p tilePlan
	if xu > 0 && !s.NoStage {
		for cs := s.CB; cs >= 1; cs-- {
			if s.CB%cs == 0 && cs*s.TPR*xu+redBytes(1) <= budget {
				p.cs = cs
				break
			}
		}
	}
	rest := budget - p.cs*s.TPR*xu
	for rc := s.CB; rc >= 1; rc-- {
		if s.CB%rc == 0 && redBytes(rc) <= rest {
			p.rc = rc
			break
		}
	}
	p.red = slots * s.RT * p.rc
	return p, nil
}

// stagedUnitBytes is the size of the prepared x unit of t in mode m
// (its PrepPlanes); a kernel unit's XU spans SPAN of them (weightBlock).
// 0 where x is read directly (not staged).
func stagedUnitBytes(t kernels.DType, m XMode) int {
	if m == XDirect {
		return 0
	}
	return 16 * PrepPlanes(t, m)
}

// matVecTile is MatVecBatch's tile kernel (matvec_tile.wgsl).
func matVecTile(t kernels.DType, cols int, split bool, x XMode, s BatchShape, d Device) (string, error) {
	block, span, err := weightBlock(t, cols, split, x)
	if err != nil {
		return "", err
	}
	mode, err := ResolveXMode(t, cols, split, x)
	if err != nil {
		return "", err
	}
	sg := d.usesSubgroups(s.TPR)
	budget := d.WorkgroupStorage
	if budget <= 0 {
		budget = minWorkgroupStorage
	}
	plan, err := planTile(s, span*stagedUnitBytes(t, mode), sg, budget)
	if err != nil {
		return "", err
	}
	args, stage := "", ""
	if sg {
		args = ",\n        @builtin(subgroup_size) sgs: u32, @builtin(subgroup_invocation_id) sgi: u32"
	}
	if plan.cs > 0 {
		stage = tileStage
	}
	body := strings.NewReplacer("TILE_STAGE", stage, "TILE_BODY", tileBody(s, plan, sg), "SUBGROUP_ARGS", args).Replace(src("matvec_tile.wgsl"))
	return join(header(sg, "WG", s.WG, "TPR", s.TPR, "RT", s.RT, "CB", s.CB, "CS", plan.cs, "RED", plan.red, "SPAN", span),
		src("weights.wgsl"), src("common.wgsl"), block, src("step.wgsl"), body), nil
}

// tileStage is the staged x of matvec_tile.wgsl and the function that
// fills it.
const tileStage = `// xs holds units k·TPR … k·TPR+TPR-1 of CS columns: element c·TPR+i is
// unit k·TPR+i of column c0+c.
var<workgroup> xs: array<XU, CS * TPR>;

// fetch is element e of xs for step k and columns c0 …; units past the
// row's end and columns past S.n are clamped (loaded, never used).
fn fetch(k: u32, c0: u32, e: u32) -> XU {
  let col = min(c0 + e / TPR, S.n - 1u);
  return load_x(min(k * TPR + e % TPR, P.units / SPAN - 1u), P.x_off + col * P.x_stride);
}

// stage fills xs for step k and columns c0 …, the workgroup's invocations
// taking one (unit, column) each in turn.
fn stage(k: u32, c0: u32, li: u32) {
  for (var e = li; e < CS * TPR; e += WG) {
    xs[e] = fetch(k, c0, e);
  }
}
`

// tileBody is the tile kernel's main after its prologue: RT×CB
// accumulators a<r>_<c>, the unit loop (by steps of TPR units with x
// staged, else matvec_batch.wgsl's loop), the reduction and stores,
// unrolled (constant names, never an indexed array, so they stay in
// registers).
func tileBody(s BatchShape, plan tilePlan, sg bool) string {
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, "  "+format+"\n", a...) }
	for r := range s.RT {
		p("let wb%d = min(first + %du, last) * P.row_bytes;", r, r)
	}
	for r := range s.RT {
		for c := range s.CB {
			p("var a%d_%d = 0.0;", r, c)
		}
	}
	dots := func(c int, x string) {
		p("    {")
		p("      let x = %s;", x)
		for r := range s.RT {
			p("      a%d_%d += unit_dot(w%d, u, x);", r, c, r)
		}
		p("    }")
	}
	if plan.cs == 0 {
		for c := range s.CB {
			p("let xr%d = P.x_off + min(col0 + %du, S.n - 1u) * P.x_stride;", c, c)
		}
		p("for (var u = lane; u < units; u += TPR) {")
		for r := range s.RT {
			p("  let w%d = unit_load(wb%d, u);", r, r)
		}
		for c := range s.CB {
			dots(c, fmt.Sprintf("load_x(u, xr%d)", c))
		}
		p("}")
	} else {
		// With Prefetch each invocation holds its elements of the next
		// chunk (of this step or the next) in registers, loaded before
		// this chunk's arithmetic and stored after it.
		per := (plan.cs*s.TPR + s.WG - 1) / s.WG
		exact := plan.cs*s.TPR%s.WG == 0
		if s.Prefetch {
			for e := range per {
				p("var p%d = fetch(0u, col0, li + %du);", e, e*s.WG)
			}
		}
		p("let steps = (units + TPR - 1u) / TPR;")
		p("for (var k = 0u; k < steps; k++) {")
		p("  let u = k * TPR + lane;")
		p("  let uw = min(u, units - 1u);")
		for r := range s.RT {
			p("  let w%d = unit_load(wb%d, uw);", r, r)
		}
		for c0 := 0; c0 < s.CB; c0 += plan.cs {
			p("  workgroupBarrier();")
			if !s.Prefetch {
				p("  stage(k, col0 + %du, li);", c0)
				p("  workgroupBarrier();")
			} else {
				for e := range per {
					if exact {
						p("  xs[li + %du] = p%d;", e*s.WG, e)
					} else {
						p("  if (li + %du < CS * TPR) { xs[li + %du] = p%d; }", e*s.WG, e*s.WG, e)
					}
				}
				p("  workgroupBarrier();")
				next, kn := c0+plan.cs, "k"
				if next == s.CB {
					next, kn = 0, "k + 1u"
				}
				for e := range per {
					p("  p%d = fetch(%s, col0 + %du, li + %du);", e, kn, next, e*s.WG)
				}
			}
			p("  if (u < units) {")
			for c := c0; c < c0+plan.cs; c++ {
				dots(c, fmt.Sprintf("xs[%du * TPR + lane]", c-c0))
			}
			p("  }")
		}
		p("}")
	}
	for c0 := 0; c0 < s.CB; c0 += plan.rc {
		tileReduce(p, s, c0, plan.rc, sg)
	}
	return b.String()
}

// tileReduce writes the reduction and stores of columns c0 … c0+rc-1:
// reduce_sg.wgsl's or reduce_wg.wgsl's row_sum for each of their
// accumulators, through red (RT·rc slots per subgroup or invocation).
func tileReduce(p func(string, ...any), s BatchShape, c0, rc int, sg bool) {
	n := s.RT * rc
	each := func(f func(r, c, k int)) {
		for r := range s.RT {
			for c := c0; c < c0+rc; c++ {
				f(r, c, r*rc+c-c0)
			}
		}
	}
	p("workgroupBarrier();")
	p("{")
	if sg {
		each(func(r, c, _ int) { p("  let t%d_%d = subgroupAdd(a%d_%d);", r, c, r, c) })
		p("  if (sgi == 0u) {")
		each(func(r, c, k int) { p("    red[(li / sgs) * %du + %du] = t%d_%d;", n, k, r, c) })
		p("  }")
		p("  workgroupBarrier();")
		p("  let per = TPR / sgs;")
		p("  let base = (li / TPR) * per;")
		each(func(r, c, _ int) { p("  var s%d_%d = 0.0;", r, c) })
		p("  for (var k = 0u; k < per; k++) {")
		each(func(r, c, k int) { p("    s%d_%d += red[(base + k) * %du + %du];", r, c, n, k) })
		p("  }")
		each(func(r, c, _ int) { p("  store(s%d_%d, lane, col0 + %du, first + %du);", r, c, c, r) })
		p("}")
		return
	}
	each(func(r, c, k int) { p("  red[%du * WG + li] = a%d_%d;", k, r, c) })
	p("  workgroupBarrier();")
	p("  for (var st = TPR / 2u; st > 0u; st >>= 1u) {")
	p("    if (lane < st) {")
	each(func(_, _, k int) { p("      red[%du * WG + li] += red[%du * WG + li + st];", k, k) })
	p("    }")
	p("    workgroupBarrier();")
	p("  }")
	each(func(r, c, k int) { p("  store(red[%du * WG + li - lane], lane, col0 + %du, first + %du);", k, c, r) })
	p("}")
}
