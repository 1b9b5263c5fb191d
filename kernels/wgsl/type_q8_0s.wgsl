// Q8_0 in the split layout (split.wgsl): the dequantization the embedding
// lookup and the tiled matmul use; y = q*d, q the int8 code.
fn deq(wb: u32, e: u32) -> f32 {
  let nb = P.row_bytes / 34u;
  let b = e >> 5u;
  let q = bitcast<i32>(b8(wb + 2u * nb + 32u * b + (e & 31u)) << 24u) >> 24u;
  return f32(q) * split_scale(wb, b);
}
