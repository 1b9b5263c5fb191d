// Q5_K: super-blocks of 256 values in 176 bytes (d f16 | dmin f16 |
// scales[12] | qh[32] | qs[128]): Q4_K's sub-blocks and 6-bit scales and
// mins (kq_scales.wgsl), with bit j of qh[l] the fifth bit of value
// 32j + l; y = (d*sc)*q - dmin*m. Only the dequantization (embedding,
// tiled matmul) reads it this way; the matvec is planar (dot_q5_k_i.wgsl).
fn deq(wb: u32, e: u32) -> f32 {
  let o = wb + (e >> 8u) * 176u;
  let i = o >> 2u;
  let r = e & 255u;
  let j = r >> 5u;
  let l = r & 31u;
  let dm = unpack2x16float(wd(i));
  let sm = scale_min(vec3<u32>(wd(i + 1u), wd(i + 2u), wd(i + 3u)), j);
  let q = ((b8(o + 48u + 32u * (j >> 1u) + l) >> (4u * (j & 1u))) & 15u) | (((b8(o + 16u + l) >> j) & 1u) << 4u);
  return (dm.x * sm.x) * f32(q) - dm.y * sm.y;
}
