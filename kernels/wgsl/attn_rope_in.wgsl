// q, k and v as the q/k/v matvec wrote them (see attn_part_rope.wgsl).
fn qkv(i: u32) -> f32 {
  return QKV[i];
}
