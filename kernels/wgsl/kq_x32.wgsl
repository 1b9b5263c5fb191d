// The x of the planar K-quant matvecs (dot_q2_k_i, dot_q3_k_i,
// dot_q6_k_i): a unit is 32 consecutive values, as int8 codes in two
// levels (xprep.wgsl, INT 1, UNIT 32): h0/l0 the first 16 values, h1/l1
// the last 16; m is (scale, Σ of the 32, Σ of the first 16, 0).
const UNIT: u32 = 32u;

struct XU {
  h0: vec4<u32>,
  h1: vec4<u32>,
  l0: vec4<u32>,
  l1: vec4<u32>,
  m: vec4<f32>,
}

fn load_x(u: u32, xr: u32) -> XU {
  return XU(xq(plane(xr, 0u, u)), xq(plane(xr, 1u, u)), xq(plane(xr, 2u, u)), xq(plane(xr, 3u, u)), xf(plane(xr, 4u, u)));
}

// words4 is the four little-endian words from byte o, aligned or not.
fn words4(o: u32) -> vec4<u32> {
  if ((o & 3u) == 0u) {
    let i = o >> 2u;
    return vec4<u32>(wd(i), wd(i + 1u), wd(i + 2u), wd(i + 3u));
  }
  return vec4<u32>(ld(o), ld(o + 4u), ld(o + 8u), ld(o + 12u));
}
