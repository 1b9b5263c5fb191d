// F16, rows of a multiple of 8 values (so rows start 16-byte aligned): a
// unit is 8 values, one 16-byte load. unpack2x16float converts without
// the shader-f16 feature.
const UNIT: u32 = 8u;

struct XU {
  a: vec4<f32>,
  b: vec4<f32>,
}

fn load_x(u: u32, xr: u32) -> XU {
  return XU(x4(xr + u * 8u), x4(xr + u * 8u + 4u));
}

struct WU {
  w: vec4<u32>,
}

fn unit_load(wb: u32, u: u32) -> WU {
  return WU(w4((wb >> 4u) + u));
}

fn unit_dot(wu: WU, u: u32, x: XU) -> f32 {
  let w = wu.w;
  let v0 = vec4<f32>(unpack2x16float(w.x), unpack2x16float(w.y));
  let v1 = vec4<f32>(unpack2x16float(w.z), unpack2x16float(w.w));
  return dot(v0, x.a) + dot(v1, x.b);
}

fn deq(wb: u32, e: u32) -> f32 {
  return f16at(wb + 2u * e);
}
