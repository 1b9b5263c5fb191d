// Q6_K: super-blocks of 256 values in 210 bytes (ql[128] | qh[64] |
// scales[16] int8 | d f16), 16 sub-blocks of 16; y = (d*sc)*(code-32) with
// 6-bit codes, the low nibble in ql and the high pair in qh. Value
// e = 128h + 32k + l takes ql[64h + 32(k%2) + l] >> 4(k/2) and
// qh[32h + l] >> 2k. Blocks start at offsets ≡ 0 or 2 (mod 4): words are
// read with ld. A unit is (h, l in 8g..8g+7) for k = 0..3: 32 values from
// two words of each ql half and two of qh.
const UNIT: u32 = 32u;

fn q6_codes(lo: vec4<f32>, hi: vec4<u32>) -> vec4<f32> {
  return lo + vec4<f32>(hi) * 16.0 - 32.0;
}

fn q6_sc(o: u32) -> f32 {
  return f32(bitcast<i32>(b8(o) << 24u) >> 24u);
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
  let o = wb + (u >> 3u) * 210u;
  let h = (u >> 2u) & 1u;
  let g = u & 3u;
  let p = o + 64u * h + 8u * g;
  let a0 = ld(p);
  let a1 = ld(p + 4u);
  let b0 = ld(p + 32u);
  let b1 = ld(p + 36u);
  let ph = o + 128u + 32u * h + 8u * g;
  let c0 = ld(ph);
  let c1 = ld(ph + 4u);
  let d = f16at(o + 208u);
  let so = o + 192u + 8u * h + (g >> 1u);
  let s0 = dot(q6_codes(nib_lo(a0), crumbs(c0, 0u)), x.v0) + dot(q6_codes(nib_lo(a1), crumbs(c1, 0u)), x.v1);
  let s1 = dot(q6_codes(nib_lo(b0), crumbs(c0, 2u)), x.v2) + dot(q6_codes(nib_lo(b1), crumbs(c1, 2u)), x.v3);
  let s2 = dot(q6_codes(nib_hi(a0), crumbs(c0, 4u)), x.v4) + dot(q6_codes(nib_hi(a1), crumbs(c1, 4u)), x.v5);
  let s3 = dot(q6_codes(nib_hi(b0), crumbs(c0, 6u)), x.v6) + dot(q6_codes(nib_hi(b1), crumbs(c1, 6u)), x.v7);
  return (d * q6_sc(so)) * s0 + (d * q6_sc(so + 2u)) * s1 + (d * q6_sc(so + 4u)) * s2 + (d * q6_sc(so + 6u)) * s3;
}

fn deq(wb: u32, e: u32) -> f32 {
  let o = wb + (e >> 8u) * 210u;
  let r = e & 255u;
  let h = r >> 7u;
  let k = (r >> 5u) & 3u;
  let l = r & 31u;
  let lo = (b8(o + 64u * h + l + 32u * (k & 1u)) >> (4u * (k >> 1u))) & 15u;
  let hi = (b8(o + 128u + 32u * h + l) >> (2u * k)) & 3u;
  let dl = f16at(o + 208u) * q6_sc(o + 192u + (r >> 4u));
  return dl * f32(i32(lo | (hi << 4u)) - 32);
}
