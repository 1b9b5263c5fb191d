// Q4_K: super-blocks of 256 values in 144 bytes (d f16 | dmin f16 |
// scales[12] | qs[128]), 8 sub-blocks of 32 with 6-bit scale and min;
// y = (d*sc)*q - dmin*m. 144 is a multiple of 4, so blocks are word-aligned.
// A unit is one 32-byte run of qs: its low nibbles are sub-block 2g, its
// high nibbles sub-block 2g+1 (64 consecutive values).
const UNIT: u32 = 64u;

// XU holds a unit's x values in registers (see type_q4_0.wgsl): the low
// nibbles' 32 values, the high nibbles' 32, and their sums.
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
  sum_lo: f32,
  sum_hi: f32,
}

fn load_x(u: u32, xr: u32) -> XU {
  let b = xr + (u >> 2u) * 256u + 64u * (u & 3u);
  let l0 = x4(b);
  let l1 = x4(b + 4u);
  let l2 = x4(b + 8u);
  let l3 = x4(b + 12u);
  let l4 = x4(b + 16u);
  let l5 = x4(b + 20u);
  let l6 = x4(b + 24u);
  let l7 = x4(b + 28u);
  let h0 = x4(b + 32u);
  let h1 = x4(b + 36u);
  let h2 = x4(b + 40u);
  let h3 = x4(b + 44u);
  let h4 = x4(b + 48u);
  let h5 = x4(b + 52u);
  let h6 = x4(b + 56u);
  let h7 = x4(b + 60u);
  return XU(l0, l1, l2, l3, l4, l5, l6, l7, h0, h1, h2, h3, h4, h5, h6, h7,
            hsum(((l0 + l1) + (l2 + l3)) + ((l4 + l5) + (l6 + l7))), hsum(((h0 + h1) + (h2 + h3)) + ((h4 + h5) + (h6 + h7))));
}

// Blocks are 144 = 9×16 bytes, so every block starts 16-byte aligned:
// the header is one 16-byte load, the unit's 32 code bytes two.
struct WU {
  h: vec4<u32>,
  q0: vec4<u32>,
  q1: vec4<u32>,
}

fn unit_load(wb: u32, u: u32) -> WU {
  let g = u & 3u;
  let i = (wb >> 4u) + (u >> 2u) * 9u;
  return WU(w4(i), w4(i + 1u + 2u * g), w4(i + 2u + 2u * g));
}

fn unit_dot(w: WU, u: u32, x: XU) -> f32 {
  let g = u & 3u;
  let h = w.h;
  let q0 = w.q0;
  let q1 = w.q1;
  let dm = unpack2x16float(h.x);
  let s = h.yzw;
  // sl and sh are Σ (1 + q/16)·x over each sub-block's 32 values.
  var sl = dot(f4_lo(q0.x), x.lo0) + dot(f4_lo(q0.y), x.lo1) + dot(f4_lo(q0.z), x.lo2) + dot(f4_lo(q0.w), x.lo3);
  sl += dot(f4_lo(q1.x), x.lo4) + dot(f4_lo(q1.y), x.lo5) + dot(f4_lo(q1.z), x.lo6) + dot(f4_lo(q1.w), x.lo7);
  var sh = dot(f4_hi(q0.x), x.hi0) + dot(f4_hi(q0.y), x.hi1) + dot(f4_hi(q0.z), x.hi2) + dot(f4_hi(q0.w), x.hi3);
  sh += dot(f4_hi(q1.x), x.hi4) + dot(f4_hi(q1.y), x.hi5) + dot(f4_hi(q1.z), x.hi6) + dot(f4_hi(q1.w), x.hi7);
  sl = 16.0 * (sl - x.sum_lo);
  sh = 16.0 * (sh - x.sum_hi);
  let m0 = scale_min(s, 2u * g);
  let m1 = scale_min(s, 2u * g + 1u);
  return (dm.x * m0.x) * sl - (dm.y * m0.y) * x.sum_lo + (dm.x * m1.x) * sh - (dm.y * m1.y) * x.sum_hi;
}

fn deq(wb: u32, e: u32) -> f32 {
  let o = wb + (e >> 8u) * 144u;
  let i = o >> 2u;
  let r = e & 255u;
  let j = r >> 5u;
  let dm = unpack2x16float(wd(i));
  let sm = scale_min(vec3<u32>(wd(i + 1u), wd(i + 2u), wd(i + 3u)), j);
  let b = b8(o + 16u + 32u * (j >> 1u) + (r & 31u));
  let q = (b >> (4u * (j & 1u))) & 15u;
  return (dm.x * sm.x) * f32(q) - dm.y * sm.y;
}
