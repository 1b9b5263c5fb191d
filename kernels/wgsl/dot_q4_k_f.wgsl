// Planar matvec of Q4_K (q4_k_unit.wgsl, kq_scales.wgsl), x as f32 planes (xprep.wgsl,
// INT 0): 16 planes of values, then the two sub-blocks' sums.
const UNIT: u32 = 64u;

struct XU {
  lo0: vec4<f32>,
  lo1: vec4<f32>,
  lo2: vec4<f32>,
  lo3: vec4<f32>,
  lo4: vec4<f32>,
  lo5: vec4<f32>,
  lo6: vec4<f32>,
  lo7: vec4<f32>,
  hi0: vec4<f32>,
  hi1: vec4<f32>,
  hi2: vec4<f32>,
  hi3: vec4<f32>,
  hi4: vec4<f32>,
  hi5: vec4<f32>,
  hi6: vec4<f32>,
  hi7: vec4<f32>,
  sums: vec2<f32>,
}

fn load_x(u: u32, xr: u32) -> XU {
  return XU(xf(plane(xr, 0u, u)), xf(plane(xr, 1u, u)), xf(plane(xr, 2u, u)), xf(plane(xr, 3u, u)),
            xf(plane(xr, 4u, u)), xf(plane(xr, 5u, u)), xf(plane(xr, 6u, u)), xf(plane(xr, 7u, u)),
            xf(plane(xr, 8u, u)), xf(plane(xr, 9u, u)), xf(plane(xr, 10u, u)), xf(plane(xr, 11u, u)),
            xf(plane(xr, 12u, u)), xf(plane(xr, 13u, u)), xf(plane(xr, 14u, u)), xf(plane(xr, 15u, u)),
            xf(plane(xr, 16u, u)).xy);
}

fn unit_dot(w: WU, u: u32, x: XU) -> f32 {
  let q0 = w.q0;
  let q1 = w.q1;
  let dm = unpack2x16float(w.h.x);
  let sm = scales2(w.h.yzw, u & 3u);
  // sl and sh are Σ (1 + q/16)·x over each sub-block's 32 values.
  let sl = ((dot(f4_lo(q0.x), x.lo0) + dot(f4_lo(q0.y), x.lo1)) + (dot(f4_lo(q0.z), x.lo2) + dot(f4_lo(q0.w), x.lo3)))
         + ((dot(f4_lo(q1.x), x.lo4) + dot(f4_lo(q1.y), x.lo5)) + (dot(f4_lo(q1.z), x.lo6) + dot(f4_lo(q1.w), x.lo7)));
  let sh = ((dot(f4_hi(q0.x), x.hi0) + dot(f4_hi(q0.y), x.hi1)) + (dot(f4_hi(q0.z), x.hi2) + dot(f4_hi(q0.w), x.hi3)))
         + ((dot(f4_hi(q1.x), x.hi4) + dot(f4_hi(q1.y), x.hi5)) + (dot(f4_hi(q1.z), x.hi6) + dot(f4_hi(q1.w), x.hi7)));
  let ql = 16.0 * (sl - x.sums.x);
  let qh = 16.0 * (sh - x.sums.y);
  return dm.x * (sm.x * ql + sm.z * qh) - dm.y * (sm.y * x.sums.x + sm.w * x.sums.y);
}
