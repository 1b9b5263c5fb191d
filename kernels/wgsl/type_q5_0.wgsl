// Q5_0: blocks of 32 values in 22 bytes (d f16 | qh u32 | qs[16]), at even
// offsets: Q4_0's nibbles with bit j of qh as bit 4 of value j; y =
// (q−16)·d. Only the dequantization (embedding, tiled matmul) reads it
// this way; the matvec is planar (dot_q5_0_i.wgsl).
fn deq(wb: u32, e: u32) -> f32 {
  let o = wb + (e >> 5u) * 22u;
  let j = e & 31u;
  let b = b8(o + 6u + (j & 15u));
  let q = select(b & 15u, b >> 4u, j >= 16u) | (((b8(o + 2u + (j >> 3u)) >> (j & 7u)) & 1u) << 4u);
  return f32(i32(q) - 16) * f16at(o);
}
