// Q6_K's planar unit (dot_q6_k_i.wgsl) from the GGUF layout: 210-byte
// blocks, 2-byte aligned, their runs read through words4.
fn unit_load(wb: u32, u: u32) -> WU {
  let o = wb + (u >> 3u) * 210u; // 210-byte blocks: 2-byte aligned
  let n = (u >> 2u) & 1u;
  let j = u & 3u;
  let q = o + 64u * n + 32u * (j & 1u);
  let qh = o + 128u + 32u * n;
  return WU(words4(q), words4(q + 16u), words4(qh), words4(qh + 16u), u16at(o + 192u + 8u * n + 2u * j), f16at(o + 208u));
}
