// Q6_K's planar unit (dot_q6_k_i.wgsl) from the split layout (SplitRows):
// a row's nb block scales d (split.wgsl), then each block's other 208 =
// 13×16 bytes (ql[128] | qh[64] | scales[16]), 16-byte aligned with nb a
// multiple of 8: the unit's code runs are four aligned 16-byte loads, its
// two int8 scales one word.
fn unit_load(wb: u32, u: u32) -> WU {
  let o = wb + 2u * (P.units >> 3u) + (u >> 3u) * 208u;
  let n = (u >> 2u) & 1u;
  let j = u & 3u;
  let q = (o >> 4u) + 4u * n + 2u * (j & 1u);
  let qh = (o >> 4u) + 8u + 2u * n;
  let s = wd((o >> 2u) + 48u + 2u * n + (j >> 1u)) >> (16u * (j & 1u));
  return WU(w4(q), w4(q + 1u), w4(qh), w4(qh + 1u), s, split_scale(wb, u >> 3u));
}
