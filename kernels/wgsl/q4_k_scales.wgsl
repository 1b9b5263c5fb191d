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

// scales2 is (scale, min) of sub-blocks 2g and 2g+1 from the 12 scale
// bytes s, without branches: sub-blocks 0-3 keep 6 bits in bytes 0-7;
// 4-7 take 4 bits from bytes 8-11 and their top 2 from the top of 0-7.
fn scales2(s: vec3<u32>, g: u32) -> vec4<f32> {
  let sh = 16u * (g & 1u);
  let a = (s.x >> sh) & 0xffffu;
  let b = (s.y >> sh) & 0xffffu;
  let c = (s.z >> sh) & 0xffffu;
  let low = vec4<u32>(a, b, a >> 8u, b >> 8u) & vec4<u32>(63u);
  let high = (vec4<u32>(c, c >> 4u, c >> 8u, c >> 12u) & vec4<u32>(15u))
           | ((vec4<u32>(a, b, a >> 8u, b >> 8u) >> vec4<u32>(2u)) & vec4<u32>(0x30u));
  return vec4<f32>(select(low, high, g >= 2u));
}
