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

// words4 is the four little-endian words from even byte o, aligned or
// not, without a branch (lanes of a subgroup read blocks of both
// alignments): five word loads funnel-shifted by s = 0 or 16 bits. The
// high part shifts twice by t = 16 − s/2, since a shift by 32 is not 0 in
// WGSL; past a buffer's end the fifth load is clamped and, at s = 0,
// shifted out.
fn words4(o: u32) -> vec4<u32> {
  let i = o >> 2u;
  let s = (o & 2u) << 3u;
  let t = 16u - (s >> 1u);
  let a = wd(i);
  let b = wd(i + 1u);
  let c = wd(i + 2u);
  let d = wd(i + 3u);
  let e = wd(i + 4u);
  return vec4<u32>((a >> s) | ((b << t) << t), (b >> s) | ((c << t) << t), (c >> s) | ((d << t) << t), (d >> s) | ((e << t) << t));
}
