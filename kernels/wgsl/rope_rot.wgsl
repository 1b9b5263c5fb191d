// rotate is RoPE's rotation of the pair (x0, x1) by the angle whose
// cosine and sine are cs: rope.wgsl and the RoPE-folded attention pass
// (attn_part_rope.wgsl) both call it, so that a key or query rotated by
// either has the same bits.
fn rotate(x0: f32, x1: f32, cs: vec2<f32>) -> vec2<f32> {
  return vec2<f32>(x0 * cs.x - x1 * cs.y, x0 * cs.y + x1 * cs.x);
}
