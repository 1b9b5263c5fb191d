package wgsl

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/tabshard/tabshard/kernels"
)

// XMode is how a matvec reads its input vectors. The planar modes have
// the Prep kernel rearrange each vector first (once for all the matvecs
// that share it), so that the invocations of a row, which take
// consecutive units, read consecutive 16 bytes of x as they do of the
// weights: in the direct mode each invocation reads its unit's x values
// from its own offset, and every 16-byte load of a subgroup touches as
// many cache lines as it has invocations.
type XMode int

const (
	// XAuto is the best mode the tensor allows (see ResolveXMode).
	XAuto XMode = iota
	// XDirect reads x as stored (f32); the only mode of most types.
	XDirect
	// XPlanar reads x as f32 planes, where the type has such a kernel
	// (Q4_0, Q8_0, Q4_K); the other planar types read x directly then.
	XPlanar
	// XInt8 reads x as int8 codes of two levels per value (hi + lo/254
	// times a per-32-value scale, within 1/508 of the scale) and
	// multiplies with dot4I8Packed.
	XInt8
	// XInt8Coarse is XInt8 without the lo level: about twice the error
	// of rounding x to int8 per 32 values, outside the matvec
	// tolerance; for measurements only.
	XInt8Coarse
)

var xModeNames = []string{"auto", "direct", "planar", "int8", "int8coarse"}

func (m XMode) String() string {
	if m >= 0 && int(m) < len(xModeNames) {
		return xModeNames[m]
	}
	return fmt.Sprintf("XMode(%d)", int(m))
}

// ParseXMode is the mode named s (as String writes it).
func ParseXMode(s string) (XMode, error) {
	for i, n := range xModeNames {
		if n == s {
			return XMode(i), nil
		}
	}
	return XAuto, fmt.Errorf("%w: x mode %q", ErrUnsupported, s)
}

// DefaultXMode is the mode XAuto resolves to where the planar kernels
// apply.
var DefaultXMode = XInt8

// planarFiles are each planar type's dot files, f32 and int8 x ("": none).
var planarFiles = map[kernels.DType][2]string{
	kernels.Q4_0:   {"dot_q4_0s_f.wgsl", "dot_q4_0s_i.wgsl"},
	kernels.Q8_0:   {"dot_q8_0s_f.wgsl", "dot_q8_0s_i.wgsl"},
	kernels.Q4_K:   {"dot_q4_k_f.wgsl", "dot_q4_k_i.wgsl"},
	kernels.Q2_K:   {"", "dot_q2_k_i.wgsl"},
	kernels.Q3_K:   {"", "dot_q3_k_i.wgsl"},
	kernels.Q6_K:   {"", "dot_q6_k_i.wgsl"},
	kernels.Q5_K:   {"", "dot_q5_k_i.wgsl"},
	kernels.Q5_0:   {"", "dot_q5_0_i.wgsl"},
	kernels.Q5_1:   {"", "dot_q5_1_i.wgsl"},
	kernels.Q4_1:   {"", "dot_q4_1_i.wgsl"},
	kernels.IQ4_NL: {"", "dot_iq4_nl_i.wgsl"},
	kernels.IQ4_XS: {"", "dot_iq4_xs_i.wgsl"},
}

// planarOnly reports whether t has no direct matvec: its tensors are
// always read planar, in an int8 mode.
func planarOnly(t kernels.DType) bool {
	switch t {
	case kernels.Q5_K, kernels.Q5_0, kernels.Q5_1, kernels.Q4_1, kernels.IQ4_NL, kernels.IQ4_XS:
		return true
	}
	return false
}

// KUnit is the values per unit of the int8 Q4_K and Q5_K matvecs: 64
// (one run of codes, the header loaded and its scales decoded per unit:
// dot_q4_k_i.wgsl, dot_q5_k_i.wgsl), 128 or 256 (half or a whole super-
// block, the header, Q5_K's fifth bits and the scales loaded and decoded
// once: dot_q4_k_sb_i.wgsl, dot_q5_k_sb_i.wgsl). The x layout is the same
// for all three, so it is a property of the matvec alone (benchmarks set
// it: TABSHARD_KUNIT). A unit of 128 divides the rows of Llama-3-70B's
// matrices (8192 and 28672 values) evenly among a row's 32 invocations.
var KUnit = 128

// ErrKUnit is a KUnit value other than 64, 128 and 256.
var ErrKUnit = fmt.Errorf("%w: K-quant unit (64, 128 or 256)", ErrUnsupported)

// span is how many of the prepared x layout's units one matvec unit of t
// in mode m covers (matvec.wgsl's loop takes units/SPAN of them).
func span(t kernels.DType, m XMode) (int, error) {
	if (t != kernels.Q4_K && t != kernels.Q5_K) || (m != XInt8 && m != XInt8Coarse) {
		return 1, nil
	}
	switch KUnit {
	case 64, 128, 256:
		return KUnit / 64, nil
	}
	return 0, fmt.Errorf("%w: %d", ErrKUnit, KUnit)
}

// Split reports whether a tensor of t with rows of cols values is held on
// the GPU in the split layout (split.wgsl; SplitRows makes it): Q4_0 and
// Q8_0 rows of a multiple of 256 values, Q6_K rows of a multiple of 8
// super-blocks, so that every row and every block's codes start 16-byte
// aligned.
func Split(t kernels.DType, cols int) bool {
	switch t {
	case kernels.Q4_0, kernels.Q8_0:
		return cols > 0 && cols%256 == 0
	case kernels.Q6_K:
		return cols > 0 && cols%(8*256) == 0
	}
	return false
}

// SplitScaleOffset is where a split type's block scale (f16) sits in its
// GGUF block: first (Q4_0, Q8_0) or last (Q6_K, at 208).
func SplitScaleOffset(t kernels.DType) int {
	if t == kernels.Q6_K {
		return 208
	}
	return 0
}

// planar reports whether the planar kernels read the tensor.
func planar(t kernels.DType, cols int, split bool) bool {
	switch t {
	case kernels.Q4_0, kernels.Q8_0:
		return split && Split(t, cols)
	case kernels.Q4_K, kernels.Q2_K, kernels.Q3_K, kernels.Q6_K, kernels.Q5_K, kernels.IQ4_XS:
		return cols > 0 && cols%256 == 0
	case kernels.Q5_0, kernels.Q5_1, kernels.Q4_1, kernels.IQ4_NL:
		return cols > 0 && cols%32 == 0
	}
	return false
}

// ResolveXMode is the mode a matvec of the tensor uses when want is asked
// for: XDirect where no planar kernel applies, DefaultXMode for XAuto. A
// split tensor has no direct kernel; the types that have only the int8
// kernel (Q5_K, Q5_0, Q5_1, Q4_1, IQ4_NL, IQ4_XS) take XInt8 for XDirect
// and XPlanar.
func ResolveXMode(t kernels.DType, cols int, split bool, want XMode) (XMode, error) {
	if split && !Split(t, cols) {
		return XAuto, fmt.Errorf("%w: %s rows of %d values are never split", ErrUnsupported, t, cols)
	}
	if !planar(t, cols, split) {
		return XDirect, nil
	}
	if want == XAuto {
		want = DefaultXMode
	}
	switch want {
	case XDirect:
		if planarOnly(t) {
			return XInt8, nil
		}
		if split {
			return XAuto, fmt.Errorf("%w: no direct matvec reads split %s", ErrUnsupported, t)
		}
	case XPlanar:
		if planarOnly(t) || (split && planarFiles[t][0] == "") {
			return XInt8, nil
		}
		if planarFiles[t][0] == "" {
			return XDirect, nil
		}
	case XInt8, XInt8Coarse:
	default:
		return XAuto, fmt.Errorf("%w: x mode %v", ErrUnsupported, want)
	}
	return want, nil
}

// unitOf is the unit of the planar kernel of t.
func unitOf(t kernels.DType) int {
	if t == kernels.Q4_K || t == kernels.Q5_K {
		return 64
	}
	return 32
}

// PrepPlanes is the 16-byte planes Prep writes per unit for a matvec of t
// in mode m: a vector of units units takes PrepPlanes×units×16 bytes.
func PrepPlanes(t kernels.DType, m XMode) int {
	if m == XPlanar {
		return unitOf(t)/4 + 1
	}
	return unitOf(t)/8 + 1
}

// Prep is the kernel that lays out input vectors for the planar matvec of
// t in mode m (xprep.wgsl); with swiglu, of SwiGLU of gate and up values
// side by side (as swiglu.wgsl computes it), so that the SwiGLU costs no
// dispatch of its own. Bindings: 0 x (f32), 1 planes, 2 Prep params,
// 3 Step. 64 invocations per workgroup, one per (vector, unit).
func Prep(t kernels.DType, m XMode, swiglu bool) (string, error) {
	h, err := prepHeader(t, m, "SWIGLU", b2i(swiglu))
	if err != nil {
		return "", err
	}
	return join(h, src("step.wgsl"), src("xprep_unit.wgsl"), src("xprep.wgsl")), nil
}

// NormPrep is RMSNorm (rmsnorm.wgsl's arithmetic) fused with Prep: it
// writes the normalized vectors and their planes for the planar matvec of
// t in mode m. Bindings: 0 x, 1 norm weights, 2 y, 3 planes, 4 NormPrep
// params, 5 Step. One workgroup of 256 per position.
func NormPrep(t kernels.DType, m XMode) (string, error) {
	h, err := prepHeader(t, m)
	if err != nil {
		return "", err
	}
	return join(h, src("step.wgsl"), src("xprep_unit.wgsl"), src("rmsnorm_prep.wgsl")), nil
}

func prepHeader(t kernels.DType, m XMode, consts ...any) (string, error) {
	if m != XPlanar && m != XInt8 && m != XInt8Coarse {
		return "", fmt.Errorf("%w: no prep for x mode %v", ErrUnsupported, m)
	}
	isInt := 0
	if m != XPlanar {
		isInt = 1
	}
	return header(false, append([]any{"UNIT", unitOf(t), "INT", isInt, "PLANES", PrepPlanes(t, m) - 1}, consts...)...), nil
}

// planarBlock is the x block and type files of a planar matvec of t, held
// split or not, whose units each cover span prepared units.
func planarBlock(t kernels.DType, split bool, m XMode, span int) string {
	lo := "const LO: bool = true;\n"
	if m == XInt8Coarse {
		lo = "const LO: bool = false;\n"
	}
	f := planarFiles[t][1]
	if m == XPlanar {
		f = planarFiles[t][0]
	}
	if span > 1 { // Q4_K, Q5_K by super-blocks
		sb := map[kernels.DType]string{kernels.Q4_K: "dot_q4_k_sb_i.wgsl", kernels.Q5_K: "dot_q5_k_sb_i.wgsl"}[t]
		return join(lo, src("i2f.wgsl"), src("x_planar.wgsl"), src("kq_scales.wgsl"), groups(join(src("kq_x64_sb.wgsl"), src(sb)), span))
	}
	var layout []string
	switch t {
	case kernels.Q4_0, kernels.Q8_0:
		layout = []string{"split.wgsl"}
	case kernels.Q4_K:
		layout = []string{"kq_scales.wgsl", "q4_k_unit.wgsl"}
		if m != XPlanar {
			layout = append([]string{"kq_x64.wgsl"}, layout...)
		}
	case kernels.Q5_K:
		layout = []string{"kq_x64.wgsl", "kq_scales.wgsl"}
	case kernels.Q5_0, kernels.Q5_1:
		layout = []string{"kq_x32.wgsl", "q5_bits.wgsl"}
	case kernels.IQ4_NL, kernels.IQ4_XS:
		layout = []string{"kq_x32.wgsl", "iq4_lut.wgsl"}
	case kernels.Q6_K:
		layout = []string{"kq_x32.wgsl", "q6_k_load.wgsl"}
		if split {
			layout = []string{"kq_x32.wgsl", "split.wgsl", "q6_k_split.wgsl"}
		}
	default: // Q2_K, Q3_K, Q4_1
		layout = []string{"kq_x32.wgsl"}
	}
	parts := []string{lo, src("i2f.wgsl"), src("x_planar.wgsl")}
	for _, l := range layout {
		parts = append(parts, src(l))
	}
	return join(append(parts, src(f))...)
}

// groups expands kq_x64_sb.wgsl's and its dot files' marked lines for a unit of span
// 64-value groups: each line marked //@G once per group g ($ g, #H its
// half of the decoded scales, #A and #B its two sub-blocks' places
// there), each marked //@H once per decoded half ($ its index).
func groups(body string, span int) string {
	var out []string
	for _, l := range strings.Split(body, "\n") {
		i := strings.Index(l, "//@")
		if i < 0 {
			out = append(out, l)
			continue
		}
		tag, code, _ := strings.Cut(l[i+3:], " ")
		n := span
		if tag == "H" {
			n = span / 2
		}
		for g := range n {
			r := strings.NewReplacer("$", strconv.Itoa(g), "#H", strconv.Itoa(g/2), "#A", strconv.Itoa(2*(g%2)), "#B", strconv.Itoa(2*(g%2)+1))
			out = append(out, l[:i]+r.Replace(code))
		}
	}
	return strings.Join(out, "\n")
}

// SplitRows rearranges whole rows of t (GGUF block layout, rows of cols
// values back to back) into the split layout, in place: each row's block
// scales first, then the rest of each block (its codes; Q6_K's scales
// and codes), in order.
func SplitRows(t kernels.DType, cols int, data []byte) error {
	if !Split(t, cols) {
		return fmt.Errorf("%w: %s rows of %d values are not split", ErrUnsupported, t, cols)
	}
	rb, err := t.RowBytes(int64(cols))
	if err != nil {
		return err
	}
	if int64(len(data))%rb != 0 {
		return fmt.Errorf("%w: %d bytes are not whole rows of %d", kernels.ErrShape, len(data), rb)
	}
	l, err := t.Layout()
	if err != nil {
		return err
	}
	nb, bs := cols/l.BlockElems, l.BlockBytes
	at := SplitScaleOffset(t)
	row := make([]byte, rb)
	for off := 0; off < len(data); off += int(rb) {
		r := data[off : off+int(rb)]
		for b := range nb {
			blk := r[b*bs : (b+1)*bs]
			copy(row[2*b:], blk[at:at+2])
			rest := row[2*nb+(bs-2)*b:]
			copy(rest, blk[:at])
			copy(rest[at:], blk[at+2:])
		}
		copy(r, row)
	}
	return nil
}

// I2FCheck is a kernel that counts, in the one atomic u32 of binding 0,
// the integers i of [from, from+count) whose i2f (i2f.wgsl) differs from
// f32(i) in any bit: 256 invocations a workgroup, one per integer,
// workgroups numbered across x and y.
func I2FCheck(from int32, count uint32) string {
	return join(src("i2f.wgsl"), fmt.Sprintf(`@group(0) @binding(0) var<storage, read_write> bad: array<atomic<u32>, 1>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let k = (wid.x + wid.y * nwg.x) * 256u + li;
  if (k >= %du) {
    return;
  }
  let i = %di + i32(k);
  if (bitcast<u32>(i2f(i)) != bitcast<u32>(f32(i))) {
    atomicAdd(&bad[0], 1u);
  }
}
`, count, from))
}
