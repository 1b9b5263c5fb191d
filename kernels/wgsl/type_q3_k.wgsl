// Q3_K: super-blocks of 256 values in 110 bytes (hmask[32] | qs[64] |
// scales[12] | d f16), 16 sub-blocks of 16 with signed 6-bit scales;
// y = (d*sc)*c, c = q2 - 4 + 4*hbit in -4..3. Value e = 128h + 32k + l
// (l < 32) takes the pair at shift 2k of qs[32h + l] and bit 4h+k of
// hmask[l]; its sub-block is e/16. Blocks start at offsets ≡ 0 or 2
// (mod 4): words are read with ld. A unit is (h, l in 8g..8g+7) for
// k = 0..3: 32 values from two words of qs and two of hmask.
const UNIT: u32 = 32u;

// q3_scale is the signed scale of sub-block s, from the 12 bytes at so.
fn q3_scale(so: u32, s: u32) -> f32 {
  let low = (b8(so + (s & 7u)) >> (4u * (s >> 3u))) & 15u;
  let high = (b8(so + 8u + (s & 3u)) >> (2u * (s >> 2u))) & 3u;
  return f32(i32(low | (high << 4u)) - 32);
}

fn q3_codes(q: u32, m: u32, k: u32, hb: u32) -> vec4<f32> {
  let hi = (vec4<u32>(m, m >> 8u, m >> 16u, m >> 24u) >> vec4<u32>(hb)) & vec4<u32>(1u);
  return vec4<f32>(crumbs(q, 2u * k) + 4u * hi) - 4.0;
}

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
  let o = wb + (u >> 3u) * 110u;
  let h = (u >> 2u) & 1u;
  let g = u & 3u;
  let q0 = ld(o + 32u + 32u * h + 8u * g);
  let q1 = ld(o + 36u + 32u * h + 8u * g);
  let m0 = ld(o + 8u * g);
  let m1 = ld(o + 8u * g + 4u);
  let d = f16at(o + 108u);
  return q3_run(q0, q1, m0, m1, 0u, o, h, g, d, x.v0, x.v1) + q3_run(q0, q1, m0, m1, 1u, o, h, g, d, x.v2, x.v3)
       + q3_run(q0, q1, m0, m1, 2u, o, h, g, d, x.v4, x.v5) + q3_run(q0, q1, m0, m1, 3u, o, h, g, d, x.v6, x.v7);
}

// q3_run is run k's 8 values.
fn q3_run(q0: u32, q1: u32, m0: u32, m1: u32, k: u32, o: u32, h: u32, g: u32, d: f32, a: vec4<f32>, b: vec4<f32>) -> f32 {
  let hb = 4u * h + k;
  let qd = dot(q3_codes(q0, m0, k, hb), a) + dot(q3_codes(q1, m1, k, hb), b);
  return (d * q3_scale(o + 96u, 8u * h + 2u * k + (g >> 1u))) * qd;
}

fn deq(wb: u32, e: u32) -> f32 {
  let o = wb + (e >> 8u) * 110u;
  let r = e & 255u;
  let h = r >> 7u;
  let k = (r >> 5u) & 3u;
  let l = r & 31u;
  let q = (b8(o + 32u + 32u * h + l) >> (2u * k)) & 3u;
  let hb = (b8(o + l) >> (4u * h + k)) & 1u;
  let dl = f16at(o + 108u) * q3_scale(o + 96u, r >> 4u);
  return dl * f32(i32(q + 4u * hb) - 4);
}
