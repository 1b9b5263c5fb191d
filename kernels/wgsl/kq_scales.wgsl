// The 6-bit scales and mins of Q4_K and Q5_K super-blocks: 12 bytes
// after d and dmin; sub-blocks 0-3 keep theirs in the low 6 bits of bytes
// 0-3 (scales) and 4-7 (mins), sub-blocks 4-7 take 4 bits from bytes 8-11
// and their top 2 from the top bits of bytes 0-7.

// kbyte is byte k of the 12 scale bytes held in s.
fn kbyte(s: vec3<u32>, k: u32) -> u32 {
  return (s[k >> 2u] >> ((k & 3u) << 3u)) & 0xffu;
}

// scale_min is the 6-bit scale and min of sub-block j.
fn scale_min(s: vec3<u32>, j: u32) -> vec2<f32> {
  if (j < 4u) {
    return vec2<f32>(f32(kbyte(s, j) & 63u), f32(kbyte(s, j + 4u) & 63u));
  }
  let sc = (kbyte(s, j + 4u) & 15u) | ((kbyte(s, j - 4u) >> 6u) << 4u);
  let m = (kbyte(s, j + 4u) >> 4u) | ((kbyte(s, j) >> 6u) << 4u);
  return vec2<f32>(f32(sc), f32(m));
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

// KScales are the scales and mins of four consecutive sub-blocks.
struct KScales {
  sc: vec4<f32>,
  m: vec4<f32>,
}

// half_scales are those of sub-blocks 4h..4h+3 (h 0 or 1) from the 12
// scale bytes s, all four at once and without branches.
fn half_scales(s: vec3<u32>, h: u32) -> KScales {
  let sh = vec4<u32>(0u, 8u, 16u, 24u);
  let ff = vec4<u32>(255u);
  let a = (vec4<u32>(s.x) >> sh) & ff;
  let b = (vec4<u32>(s.y) >> sh) & ff;
  let c = (vec4<u32>(s.z) >> sh) & ff;
  let six = vec4<u32>(6u);
  let four = vec4<u32>(4u);
  let sc = select(a & vec4<u32>(63u), (c & vec4<u32>(15u)) | ((a >> six) << four), h != 0u);
  let m = select(b & vec4<u32>(63u), (c >> four) | ((b >> six) << four), h != 0u);
  return KScales(vec4<f32>(sc), vec4<f32>(m));
}
