// q, k and v as the q/k/v matvec wrote them plus their bias (QB: q, k
// and v biases side by side), as bias.wgsl adds it (see
// attn_part_rope.wgsl).
@group(0) @binding(8) var<storage, read> QB: array<f32>;

fn qkv(i: u32) -> f32 {
  return QKV[i] + QB[i % R.src_stride];
}
