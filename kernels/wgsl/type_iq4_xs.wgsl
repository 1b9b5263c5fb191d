// IQ4_XS: super-blocks of 256 values in 136 bytes (d f16 | scales_h u16 |
// scales_l[4] | qs[128]); sub-block b's scale ls is nibble b of scales_l
// with crumb b of scales_h on top, its codes qs[16b..] in Q4_0's nibble
// order; y = d·(ls−32)·IQ4[q] (iq4_lut.wgsl). Only the dequantization
// (embedding, tiled matmul) reads it this way; the matvec is planar
// (dot_iq4_xs_i.wgsl).
fn deq(wb: u32, e: u32) -> f32 {
  let o = wb + (e >> 8u) * 136u;
  let r = e & 255u;
  let sb = r >> 5u;
  let j = r & 31u;
  let dh = wd(o >> 2u);
  let ls = ((wd((o >> 2u) + 1u) >> (4u * sb)) & 15u) | (((dh >> (16u + 2u * sb)) & 3u) << 4u);
  let b = b8(o + 8u + 16u * sb + (j & 15u));
  let q = select(b & 15u, b >> 4u, j >= 16u);
  let dl = unpack2x16float(dh).x * f32(i32(ls) - 32);
  return dl * f32(bitcast<i32>(IQ4[q] << 24u) >> 24u);
}
