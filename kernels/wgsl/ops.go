package wgsl

import (
	"fmt"

	"github.com/tabshard/tabshard/kernels"
)

// The kernels that read no weights. Each binds a Step uniform (n, pos).

// RMSNorm: 0 x, 1 norm weights, 2 y, 3 Norm params, 4 Step. One workgroup
// per position.
func RMSNorm() string { return join(src("step.wgsl"), src("rmsnorm.wgsl")) }

// Rope: 0 q, k and v side by side per position, 1 rotated q, 2 key cache,
// 3 value cache, 4 cos/sin pairs, 5 Rope params, 6 Step. 64 invocations
// per workgroup, one per (position, head, pair).
func Rope() string { return join(src("step.wgsl"), src("rope.wgsl")) }

// AttentionWorkgroup is the invocations of an attention workgroup, and
// the keys of a split of split attention.
const AttentionWorkgroup = 64

// Attention: 0 q, 1 key cache, 2 value cache, 3 output, 4 Attn params,
// 5 Step. One workgroup per (position, head) for heads of headDim values.
func Attention(headDim int) (string, error) {
	if headDim <= 0 || headDim > 1024 {
		return "", fmt.Errorf("%w: head dimension %d", ErrUnsupported, headDim)
	}
	key := "key_f32.wgsl"
	if headDim%4 == 0 {
		key = "key_vec4.wgsl"
	}
	return join(attnHeader(headDim), src("attn_common.wgsl"), src(key), src("attention.wgsl")), nil
}

// AttentionSplit is split attention's two passes. Part: 0 q, 1 key cache
// (vec4), 2 value cache, 3 partials, 4 Attn params, 5 Step; one workgroup
// per (position, head, split of AttentionWorkgroup keys). Merge: 0
// partials, 1 output, 2 Attn params, 3 Step; one workgroup per (position,
// head). Heads of a multiple of 4 values only.
func AttentionSplit(headDim int) (part, merge string, err error) {
	if headDim <= 0 || headDim > 1024 || headDim%4 != 0 {
		return "", "", fmt.Errorf("%w: split attention over heads of %d values", ErrUnsupported, headDim)
	}
	h := attnHeader(headDim)
	return join(h, src("attn_common.wgsl"), src("attn_part.wgsl")),
		join(h, src("attn_common.wgsl"), src("attn_merge_plain.wgsl"), src("attn_merge.wgsl")), nil
}

// AttentionSplitGroup is split attention's first pass for many positions
// (prefill): bindings and partials as AttentionSplit's part, one
// workgroup per (position, group of group query heads that share a KV
// head, split), each head's partial bit for bit the part pass's. group
// must divide the query heads a KV head serves (the caller checks).
func AttentionSplitGroup(headDim, group int) (string, error) {
	if _, _, err := AttentionSplit(headDim); err != nil {
		return "", err
	}
	if group < 1 || group > MaxAttentionGroup {
		return "", fmt.Errorf("%w: split attention over %d heads a workgroup", ErrUnsupported, group)
	}
	return join(attnHeader(headDim), header(false, "GQ", group), src("attn_common.wgsl"), src("attn_part_group.wgsl")), nil
}

// MaxAttentionGroup is the most query heads AttentionSplitGroup takes a
// workgroup.
const MaxAttentionGroup = 8

// AttentionGroupBytes is the workgroup memory AttentionSplitGroup's
// kernel declares for heads of headDim values, group a workgroup (its
// queries, weights and reductions), not counting the shared reductions
// of attn_common.wgsl that it does not use.
func AttentionGroupBytes(headDim, group int) int {
	return group * (16*max(headDim/4, 1) + 8*AttentionWorkgroup)
}

// MergePrep is split attention's merge pass that also lays each position's
// output out for the planar matvec of t in mode m (as Prep does), for
// heads of headDim values, a multiple of the matvec's unit. Bindings as
// the merge's, plus 4 planes, 5 MergePrep params.
func MergePrep(headDim int, t kernels.DType, m XMode) (string, error) {
	if _, _, err := AttentionSplit(headDim); err != nil {
		return "", err
	}
	if headDim%unitOf(t) != 0 {
		return "", fmt.Errorf("%w: merge with the layout of %s for heads of %d values", ErrUnsupported, t, headDim)
	}
	ph, err := prepHeader(t, m)
	if err != nil {
		return "", err
	}
	return join(attnHeader(headDim), ph, src("attn_common.wgsl"), src("attn_merge_prep.wgsl"), src("xprep_unit.wgsl"), src("attn_merge.wgsl")), nil
}

// SplitPartValues is how many floats split attention's partials take per
// (position, head) over a cache of slots keys.
func SplitPartValues(headDim, slots int) int {
	return (slots + AttentionWorkgroup - 1) / AttentionWorkgroup * (headDim + 2)
}

func attnHeader(headDim int) string {
	dpt := (headDim + AttentionWorkgroup - 1) / AttentionWorkgroup
	return join(header(false, "AWG", AttentionWorkgroup, "HD", headDim, "HD4", max(headDim/4, 1), "DPT", dpt), src("step.wgsl"))
}

// SwiGLU: 0 gate then up values per position (gate overwritten), 1 Elem
// params, 2 Step.
func SwiGLU() string { return join(src("step.wgsl"), src("swiglu.wgsl")) }

// Add (residual): 0 y, 1 x, 2 Elem params, 3 Step.
func Add() string { return join(src("step.wgsl"), src("add.wgsl")) }

// Bias: 0 y, 1 bias, 2 Elem params, 3 Step.
func Bias() string { return join(src("step.wgsl"), src("bias.wgsl")) }

// Argmax: 0 x, 1 result indices, 2 Pick params, 3 Step. One workgroup per
// position.
func Argmax() string { return join(src("step.wgsl"), src("argmax.wgsl")) }

// Sample: as Argmax, plus 4 coins. One workgroup per position.
func Sample() string { return join(src("step.wgsl"), src("sample.wgsl")) }

// Fill: 0 words, 1 Fill params. 256 invocations per workgroup, one word
// each.
func Fill() string { return src("fill.wgsl") }

// ReadBandwidth is the plain read kernel: 0 data (vec4<f32>), 1 sink.
func ReadBandwidth() string { return src("readbw.wgsl") }

// Generate: 0 words, 1 Gen params. Seeded weights (package model/seeded)
// made in place; 256 invocations per workgroup, one word each.
func Generate() string { return src("generate.wgsl") }
