// Planar matvec of Q4_0 in the split layout, x as int8 codes (xprep.wgsl,
// INT 1): nibbles are masked into bytes and multiplied with dot4I8Packed,
// eight values per instruction pair.
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

struct WU {
  q: vec4<u32>,
  d: f32,
}

fn unit_load(wb: u32, u: u32) -> WU {
  return WU(w4(((wb + 2u * P.units) >> 4u) + u), split_scale(wb, u));
}

fn unit_dot(w: WU, u: u32, x: XU) -> f32 {
  let m = vec4<u32>(0x0f0f0f0fu);
  // Byte k of word i: value 4i+k in the low nibble, 16+4i+k in the high.
  let qx = idot2(w.q & m, (w.q >> vec4<u32>(4u)) & m, x.h0, x.h1, x.l0, x.l1);
  return (x.m.x * qx - 8.0 * x.m.y) * w.d;
}
