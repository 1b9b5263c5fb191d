// IQ4_NL: blocks of 32 values in 18 bytes (d f16 | qs[16]), Q4_0's nibble
// order; y = d·IQ4[q] (iq4_lut.wgsl). Only the dequantization (embedding,
// tiled matmul) reads it this way; the matvec is planar
// (dot_iq4_nl_i.wgsl).
fn deq(wb: u32, e: u32) -> f32 {
  let o = wb + (e >> 5u) * 18u;
  let j = e & 31u;
  let b = b8(o + 2u + (j & 15u));
  let q = select(b & 15u, b >> 4u, j >= 16u);
  return f16at(o) * f32(bitcast<i32>(IQ4[q] << 24u) >> 24u);
}
