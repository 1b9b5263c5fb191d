// Q4_1: blocks of 32 values in 20 bytes (d f16 | m f16 | qs[16]); qs[j]
// holds value j in its low nibble and j+16 in its high one; y = q·d + m.
// Only the dequantization (embedding, tiled matmul) reads it this way;
// the matvec is planar (dot_q4_1_i.wgsl).
fn deq(wb: u32, e: u32) -> f32 {
  let o = wb + (e >> 5u) * 20u;
  let j = e & 31u;
  let b = b8(o + 4u + (j & 15u));
  let q = select(b & 15u, b >> 4u, j >= 16u);
  let dm = unpack2x16float(wd(o >> 2u));
  return dm.x * f32(q) + dm.y;
}
