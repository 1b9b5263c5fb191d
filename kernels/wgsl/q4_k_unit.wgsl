// Q4_K super-blocks (256 values in 144 bytes: d f16 | dmin f16 |
// scales[12] | qs[128]) as the planar kernels read them: a unit is one
// 32-byte run g of qs, whose low nibbles are sub-block 2g and high nibbles
// sub-block 2g+1. Blocks are 9×16 bytes, so a unit is three aligned 16-byte
// loads (header, two code halves).
struct WU {
  h: vec4<u32>,
  q0: vec4<u32>,
  q1: vec4<u32>,
}

fn unit_load(wb: u32, u: u32) -> WU {
  let g = u & 3u;
  let i = (wb >> 4u) + (u >> 2u) * 9u;
  return WU(w4(i), w4(i + 1u + 2u * g), w4(i + 2u + 2u * g));
}
