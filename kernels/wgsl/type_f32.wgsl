// F32, rows of a multiple of 4 values (so rows start 16-byte aligned): a
// unit is 4 values, one 16-byte load.
const UNIT: u32 = 4u;

struct XU {
  v: vec4<f32>,
}

fn load_x(u: u32, xr: u32) -> XU {
  return XU(x4(xr + u * 4u));
}

struct WU {
  w: vec4<u32>,
}

fn unit_load(wb: u32, u: u32) -> WU {
  return WU(w4((wb >> 4u) + u));
}

fn unit_dot(w: WU, u: u32, x: XU) -> f32 {
  return dot(bitcast<vec4<f32>>(w.w), x.v);
}

fn deq(wb: u32, e: u32) -> f32 {
  return bitcast<f32>(wd((wb >> 2u) + e));
}
