// Planar matvec of Q8_0 in the split layout, x as int8 codes (xprep.wgsl,
// INT 1): the codes go straight into dot4I8Packed.
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
  a: vec4<u32>,
  b: vec4<u32>,
  d: f32,
}

fn unit_load(wb: u32, u: u32) -> WU {
  let i = ((wb + 2u * P.units) >> 4u) + 2u * u;
  return WU(w4(i), w4(i + 1u), split_scale(wb, u));
}

fn unit_dot(w: WU, u: u32, x: XU) -> f32 {
  return x.m.x * idot2(w.a, w.b, x.h0, x.h1, x.l0, x.l1) * w.d;
}
