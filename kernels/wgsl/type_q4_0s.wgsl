// Q4_0 in the split layout (split.wgsl): the dequantization the embedding
// lookup and the tiled matmul use. A block's 16 code bytes hold value j in
// the low nibble of byte j and j+16 in the high one; y = (nibble-8)*d.
fn deq(wb: u32, e: u32) -> f32 {
  let nb = P.row_bytes / 18u;
  let b = e >> 5u;
  let j = e & 31u;
  let c = b8(wb + 2u * nb + 16u * b + (j & 15u));
  let q = select(c & 15u, c >> 4u, j >= 16u);
  return f32(i32(q) - 8) * split_scale(wb, b);
}
