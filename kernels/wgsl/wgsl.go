// Package wgsl holds tabshard's WebGPU compute shaders (the .wgsl files
// beside this one, embedded) and assembles them into complete modules.
// WGSL has no includes: a module is the concatenation of a constants
// header, shared helpers, and for weight-reading kernels one tensor type's
// block (type_*.wgsl) providing
//
//	const UNIT: u32                          // values per unit of work
//	struct XU; fn load_x(u, xr: u32) -> XU   // unit u's x values, in registers
//	struct WU; fn unit_load(wb, u: u32) -> WU // unit u's raw weight words (row at byte wb)
//	fn unit_dot(w: WU, u: u32, x: XU) -> f32 // their dot product
//	fn deq(wb, e: u32) -> f32                 // value e of the row at byte wb
//
// The matvec interleaves RT rows per invocation: one load_x serves RT
// rows, and the RT unit_loads are issued before any unit_dot uses them.
// Weights keep their size on the GPU (plus at most 3 bytes of padding per
// row chunk) and, but for one case, their GGUF byte layout: Q4_0 and Q8_0
// rows of a multiple of 256 values and Q6_K rows of a multiple of 2048 are
// held split, scales first (SplitRows, split.wgsl), so that block codes
// are aligned 16-byte loads.
// Blocks that are not 4-byte aligned (Q8_0, Q4_0, Q6_K, Q3_K unsplit,
// Q5_0) are read as whole words and shifted; see common.wgsl and the type
// files. Q4_0, Q8_0, Q4_K, Q6_K, Q3_K, Q2_K, Q5_K, Q5_0, Q5_1, Q4_1,
// IQ4_NL and IQ4_XS matvecs read x prepared by the Prep kernel, in planes
// and as int8 codes (planar.go, xprep.wgsl, dot_*.wgsl); the last six have
// no other matvec
// (their type files hold deq alone, for the embedding and the tiled
// matmul). The int8 Q4_K and Q5_K matvecs take units of KUnit values
// (half a super-block by default, its header read and its scales decoded
// once).
// The layout is also written by the kernels that produce x where a stage
// fuses it: RMSNorm (NormPrep), SwiGLU (Prep with SWIGLU) and split
// attention's merge (MergePrep).
//
// Every function here is pure: it returns WGSL text. The gpu package
// compiles it; the conformance suite there holds each kernel to the Go
// reference in package kernels.
package wgsl

import (
	"embed"
	"errors"
	"fmt"
	"strings"

	"github.com/tabshard/tabshard/kernels"
)

//go:embed *.wgsl
var files embed.FS

// ErrUnsupported is a tensor type, shape or option no kernel handles.
var ErrUnsupported = errors.New("wgsl: unsupported")

// src returns an embedded file; the names are fixed, so a miss is a bug.
func src(name string) string {
	b, err := files.ReadFile(name)
	if err != nil {
		panic("wgsl: missing embedded file " + name)
	}
	return string(b)
}

// Types lists the weight types the kernels read, in ggml id order.
func Types() []kernels.DType {
	return []kernels.DType{kernels.F32, kernels.F16, kernels.Q4_0, kernels.Q4_1, kernels.Q5_0, kernels.Q5_1, kernels.Q8_0,
		kernels.Q2_K, kernels.Q3_K, kernels.Q4_K, kernels.Q5_K, kernels.Q6_K, kernels.IQ4_NL, kernels.IQ4_XS}
}

// typeBlock names the type file for rows of cols values of t (held split
// or not) and says whether its unit_dot reads x four values at a time. A
// split type's file has deq alone: only the planar matvec reads it as
// units.
func typeBlock(t kernels.DType, cols int, split bool) (file string, vec4 bool, err error) {
	if cols <= 0 {
		return "", false, fmt.Errorf("%w: %d columns", ErrUnsupported, cols)
	}
	if _, err := t.RowBytes(int64(cols)); err != nil {
		return "", false, fmt.Errorf("%w: %w", ErrUnsupported, err)
	}
	if split {
		if !Split(t, cols) {
			return "", false, fmt.Errorf("%w: %s rows of %d values are never split", ErrUnsupported, t, cols)
		}
		return map[kernels.DType]string{kernels.Q4_0: "type_q4_0s.wgsl", kernels.Q8_0: "type_q8_0s.wgsl", kernels.Q6_K: "type_q6_ks.wgsl"}[t], false, nil
	}
	switch t {
	case kernels.F32:
		if cols%4 == 0 {
			return "type_f32.wgsl", true, nil
		}
		return "type_f32_x1.wgsl", false, nil
	case kernels.F16:
		if cols%8 == 0 {
			return "type_f16.wgsl", true, nil
		}
		return "type_f16_x1.wgsl", false, nil
	case kernels.Q4_0:
		return "type_q4_0.wgsl", true, nil
	case kernels.Q8_0:
		return "type_q8_0.wgsl", true, nil
	case kernels.Q2_K:
		return "type_q2_k.wgsl", true, nil
	case kernels.Q3_K:
		return "type_q3_k.wgsl", true, nil
	case kernels.Q4_K:
		return "type_q4_k.wgsl", true, nil
	case kernels.Q6_K:
		return "type_q6_k.wgsl", true, nil
	case kernels.Q5_K:
		return "type_q5_k.wgsl", false, nil
	case kernels.Q5_0:
		return "type_q5_0.wgsl", false, nil
	case kernels.Q5_1:
		return "type_q5_1.wgsl", false, nil
	case kernels.Q4_1:
		return "type_q4_1.wgsl", false, nil
	case kernels.IQ4_NL:
		return "type_iq4_nl.wgsl", false, nil
	case kernels.IQ4_XS:
		return "type_iq4_xs.wgsl", false, nil
	}
	return "", false, fmt.Errorf("%w: no WGSL kernel reads %s", ErrUnsupported, t)
}

// unitElems are the values per unit_dot unit of each type file.
var unitElems = map[string]int{
	"type_f32.wgsl": 4, "type_f32_x1.wgsl": 1, "type_f16.wgsl": 8, "type_f16_x1.wgsl": 1,
	"type_q4_0.wgsl": 32, "type_q8_0.wgsl": 32, "type_q2_k.wgsl": 32, "type_q3_k.wgsl": 32,
	"type_q4_k.wgsl": 64, "type_q6_k.wgsl": 32,
	// dequantization only: the units of their planar matvec
	"type_q5_k.wgsl": 64, "type_q5_0.wgsl": 32, "type_q5_1.wgsl": 32, "type_q4_1.wgsl": 32,
	"type_iq4_nl.wgsl": 32, "type_iq4_xs.wgsl": 32,
}

// Units is how many unit_dot units a row of cols values of t holds: the
// work a matvec spreads over the invocations that share a row.
func Units(t kernels.DType, cols int) (int, error) {
	f, _, err := typeBlock(t, cols, false)
	if err != nil {
		return 0, err
	}
	return cols / unitElems[f], nil
}

// Device is what assembly needs to know of the device.
type Device struct {
	// Subgroups is true when the device was created with the "subgroups"
	// feature.
	Subgroups bool
	// SubgroupMaxSize is the adapter's largest subgroup size (0 unknown).
	SubgroupMaxSize int
	// WorkgroupStorage is the device's maxComputeWorkgroupStorageSize
	// (0: WebGPU's guaranteed 16 KiB).
	WorkgroupStorage int
}

// header declares module constants.
func header(enableSubgroups bool, consts ...any) string {
	var b strings.Builder
	if enableSubgroups {
		b.WriteString("enable subgroups;\n\n")
	}
	for i := 0; i+1 < len(consts); i += 2 {
		fmt.Fprintf(&b, "const %s: u32 = %du;\n", consts[i], consts[i+1])
	}
	b.WriteString("\n")
	return b.String()
}

func join(parts ...string) string { return strings.Join(parts, "\n") }
