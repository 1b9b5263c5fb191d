// Planar matvec of Q4_0 in the split layout, x as f32 planes (xprep.wgsl,
// INT 0). A unit is a block: one 16-byte load of codes, its scale from the
// row's scale run, its x values from 9 planes.
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
  q: vec4<u32>,
  d: f32,
}

fn unit_load(wb: u32, u: u32) -> WU {
  return WU(w4(((wb + 2u * P.units) >> 4u) + u), split_scale(wb, u));
}

fn unit_dot(w: WU, u: u32, x: XU) -> f32 {
  let q = w.q;
  let s = (dot(f4_lo(q.x), x.v0) + dot(f4_hi(q.x), x.v4)) + (dot(f4_lo(q.y), x.v1) + dot(f4_hi(q.y), x.v5))
        + (dot(f4_lo(q.z), x.v2) + dot(f4_hi(q.z), x.v6)) + (dot(f4_lo(q.w), x.v3) + dot(f4_hi(q.w), x.v7));
  // s = Σ (1 + q/16)·x, so Σ (q-8)·x = 16·s − 24·Σ x.
  return (16.0 * s - 24.0 * x.sum) * w.d;
}
