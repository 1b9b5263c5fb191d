// Q2_K: super-blocks of 256 values in 84 bytes (scales[16] | qs[64] |
// d f16 | dmin f16), 16 sub-blocks of 16 with a 4-bit scale and min;
// y = (d*sc)*q - dmin*m. Value e = 128h + 32k + l is the pair at shift 2k
// of qs[32h + l]; its sub-block is e/16. 84 is a multiple of 4, so blocks
// are word-aligned. A unit is (h, l in 8g..8g+7) for k = 0..3: 32 values
// from two words of qs.
const UNIT: u32 = 32u;

// XU holds a unit's x values in registers (see type_q4_0.wgsl): 8
// consecutive values in each of four runs of 32 (v0, v1 the first run),
// and each run's sum.
struct XU {
  v0: vec4<f32>,
  v1: vec4<f32>,
  v2: vec4<f32>,
  v3: vec4<f32>,
  v4: vec4<f32>,
  v5: vec4<f32>,
  v6: vec4<f32>,
  v7: vec4<f32>,
  sum: vec4<f32>,
}

fn load_x(u: u32, xr: u32) -> XU {
  let b = xr + (u >> 3u) * 256u + 128u * ((u >> 2u) & 1u) + 8u * (u & 3u);
  let v0 = x4(b);
  let v1 = x4(b + 4u);
  let v2 = x4(b + 32u);
  let v3 = x4(b + 36u);
  let v4 = x4(b + 64u);
  let v5 = x4(b + 68u);
  let v6 = x4(b + 96u);
  let v7 = x4(b + 100u);
  return XU(v0, v1, v2, v3, v4, v5, v6, v7, vec4<f32>(hsum(v0 + v1), hsum(v2 + v3), hsum(v4 + v5), hsum(v6 + v7)));
}

// WU is the row's byte offset: this type's loads stay in unit_dot.
struct WU {
  wb: u32,
}

fn unit_load(wb: u32, u: u32) -> WU {
  return WU(wb);
}

fn unit_dot(w: WU, u: u32, x: XU) -> f32 {
  let wb = w.wb;
  let o = wb + (u >> 3u) * 84u;
  let i = o >> 2u;
  let h = (u >> 2u) & 1u;
  let g = u & 3u;
  let q0 = wd(i + 4u + 8u * h + 2u * g);
  let q1 = wd(i + 5u + 8u * h + 2u * g);
  let dm = unpack2x16float(wd(i + 20u));
  let so = o + 8u * h + (g >> 1u);
  return q2_run(q0, q1, 0u, so, dm, x.v0, x.v1, x.sum.x) + q2_run(q0, q1, 1u, so, dm, x.v2, x.v3, x.sum.y)
       + q2_run(q0, q1, 2u, so, dm, x.v4, x.v5, x.sum.z) + q2_run(q0, q1, 3u, so, dm, x.v6, x.v7, x.sum.w);
}

// q2_run is run k's 8 values: pairs at shift 2k, scale byte so + 2k.
fn q2_run(q0: u32, q1: u32, k: u32, so: u32, dm: vec2<f32>, a: vec4<f32>, b: vec4<f32>, sum: f32) -> f32 {
  let sc = b8(so + 2u * k);
  let qd = dot(vec4<f32>(crumbs(q0, 2u * k)), a) + dot(vec4<f32>(crumbs(q1, 2u * k)), b);
  return (dm.x * f32(sc & 15u)) * qd - (dm.y * f32(sc >> 4u)) * sum;
}

fn deq(wb: u32, e: u32) -> f32 {
  let o = wb + (e >> 8u) * 84u;
  let r = e & 255u;
  let h = r >> 7u;
  let k = (r >> 5u) & 3u;
  let q = (b8(o + 16u + 32u * h + (r & 31u)) >> (2u * k)) & 3u;
  let sc = b8(o + (r >> 4u));
  let dm = unpack2x16float(wd((o >> 2u) + 20u));
  return (dm.x * f32(sc & 15u)) * f32(q) - dm.y * f32(sc >> 4u);
}
