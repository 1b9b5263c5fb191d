// Planar matvec of IQ4_XS (super-blocks of 256 values in 136 bytes: d f16
// | scales_h u16 | scales_l[4] | qs[128]; sub-block b of 32 values has the
// 6-bit scale ls = nibble b of scales_l | crumb b of scales_h << 4 and its
// 16 code bytes at qs[16b], Q4_0's nibble order; y = d·(ls−32)·IQ4[q]), x
// as int8 codes (kq_x32.wgsl, iq4_lut.wgsl). A unit is a sub-block;
// blocks are 8-byte aligned: six word loads.
struct WU {
  q: vec4<u32>,
  dh: u32, // d, scales_h
  sl: u32, // scales_l
}

fn unit_load(wb: u32, u: u32) -> WU {
  let i = (wb >> 2u) + (u >> 3u) * 34u;
  let c = i + 2u + 4u * (u & 7u);
  return WU(vec4<u32>(wd(c), wd(c + 1u), wd(c + 2u), wd(c + 3u)), wd(i), wd(i + 1u));
}

fn unit_dot(w: WU, u: u32, x: XU) -> f32 {
  let b = u & 7u;
  let ls = ((w.sl >> (4u * b)) & 15u) | (((w.dh >> (16u + 2u * b)) & 3u) << 4u);
  let dl = unpack2x16float(w.dh).x * f32(i32(ls) - 32);
  return dl * (x.m.x * idot2(iq4x4(w.q, 0u), iq4x4(w.q, 4u), x.h0, x.h1, x.l0, x.l1));
}
