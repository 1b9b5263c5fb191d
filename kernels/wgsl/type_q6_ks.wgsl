// Q6_K in the split layout (q6_k_split.wgsl): the dequantization the
// embedding lookup and the tiled matmul use (type_q6_k.wgsl's, the
// block's d from the row's scales).
fn q6_sc(o: u32) -> f32 {
  return f32(bitcast<i32>(b8(o) << 24u) >> 24u);
}

fn deq(wb: u32, e: u32) -> f32 {
  let nb = P.row_bytes / 210u;
  let o = wb + 2u * nb + (e >> 8u) * 208u;
  let r = e & 255u;
  let h = r >> 7u;
  let k = (r >> 5u) & 3u;
  let l = r & 31u;
  let lo = (b8(o + 64u * h + l + 32u * (k & 1u)) >> (4u * (k >> 1u))) & 15u;
  let hi = (b8(o + 128u + 32u * h + l) >> (2u * k)) & 3u;
  let dl = split_scale(wb, e >> 8u) * q6_sc(o + 192u + (r >> 4u));
  return dl * f32(i32(lo | (hi << 4u)) - 32);
}
