// Planar matvec of Q8_0 in the split layout, x as f32 planes (xprep.wgsl,
// INT 0). A unit is a block: two 16-byte loads of codes and its scale.
const UNIT: u32 = 32u;

struct XU {
  v0: vec4<f32>,
  v1: vec4<f32>,
  v2: vec4<f32>,
  v3: vec4<f32>,
  v4: vec4<f32>,
  v5: vec4<f32>,
  v6: vec4<f32>,
  v7: vec4<f32>,
  sum: f32,
}

fn load_x(u: u32, xr: u32) -> XU {
  return XU(xf(plane(xr, 0u, u)), xf(plane(xr, 1u, u)), xf(plane(xr, 2u, u)), xf(plane(xr, 3u, u)),
            xf(plane(xr, 4u, u)), xf(plane(xr, 5u, u)), xf(plane(xr, 6u, u)), xf(plane(xr, 7u, u)),
            xf(plane(xr, 8u, u)).x);
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
  let a = w.a;
  let b = w.b;
  let s = ((dot(f8s(a.x), x.v0) + dot(f8s(a.y), x.v1)) + (dot(f8s(a.z), x.v2) + dot(f8s(a.w), x.v3)))
        + ((dot(f8s(b.x), x.v4) + dot(f8s(b.y), x.v5)) + (dot(f8s(b.z), x.v6) + dot(f8s(b.w), x.v7)));
  // s = Σ (1 + (q+128)/256)·x, so Σ q·x = 256·s − 384·Σ x.
  return (256.0 * s - 384.0 * x.sum) * w.d;
}
