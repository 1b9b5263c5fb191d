// Q5_1: blocks of 32 values in 24 bytes (d f16 | m f16 | qh u32 | qs[16]):
// Q4_1's nibbles with bit j of qh as bit 4 of value j; y = q·d + m. Only
// the dequantization (embedding, tiled matmul) reads it this way; the
// matvec is planar (dot_q5_1_i.wgsl).
fn deq(wb: u32, e: u32) -> f32 {
  let o = wb + (e >> 5u) * 24u;
  let j = e & 31u;
  let b = b8(o + 8u + (j & 15u));
  let q = select(b & 15u, b >> 4u, j >= 16u) | (((wd((o >> 2u) + 1u) >> j) & 1u) << 4u);
  let dm = unpack2x16float(wd(o >> 2u));
  return dm.x * f32(q) + dm.y;
}
